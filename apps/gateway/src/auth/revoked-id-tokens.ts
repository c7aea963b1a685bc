// ID tokens of logged-out browser sessions. Logout puts the session's ID token in the redirect
// URL to the provider (RP-initiated logout's id_token_hint), where browser history, proxies and
// the provider's logs may keep it; the token itself stays valid at the provider until its `exp`.
// So logout revokes it here: the bearer-JWT authenticator refuses it until it expires.
//
// Guards: that a logged-out session leaves no working credential behind. Trusts: Postgres (the
// list, shared by replicas) and the revocation channel (NOTIFY `idtoken:<hash>`, heard by every
// replica). Keeps only SHA-256 hashes of tokens. While the channel cannot be heard, every check
// reads the database, as the personal-token cache does.
import type { Pool } from 'pg';
import type { PrismaClient } from '@kgw/db';
import { REVOCATION_CHANNEL } from './personal-tokens';

/** The NOTIFY payload prefix for a revoked ID token (personal tokens are sent as bare ids). */
export const ID_TOKEN_REVOKED = 'idtoken:';

export class RevokedIdTokens {
  private readonly known = new Set<string>();
  private listening = false;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly pool: Pool,
  ) {}

  /** Revokes the token until `expiresAt` and tells every replica (NOTIFY at commit). */
  async revoke(tokenHash: string, expiresAt: Date): Promise<void> {
    await this.pool.query(
      `WITH stored AS (
         INSERT INTO revoked_id_token (token_hash, expires_at) VALUES ($1, $2)
         ON CONFLICT (token_hash) DO NOTHING RETURNING token_hash)
       SELECT pg_notify($3, $4)`,
      [tokenHash, expiresAt, REVOCATION_CHANNEL, ID_TOKEN_REVOKED + tokenHash],
    );
    this.known.add(tokenHash);
  }

  async isRevoked(tokenHash: string): Promise<boolean> {
    if (this.known.has(tokenHash)) return true;
    if (this.listening) return false;
    const row = await this.prisma.revokedIdToken.findUnique({ where: { tokenHash } });
    if (row) this.known.add(tokenHash);
    return row !== null;
  }

  /** A revocation heard on the channel (this replica's own included). */
  heard(tokenHash: string): void {
    this.known.add(tokenHash);
  }

  /**
   * The channel is heard again (reload what may have been missed) or lost (read the database on
   * every check until it is back).
   */
  async setListening(listening: boolean): Promise<void> {
    this.listening = false;
    if (!listening) return;
    await this.reload();
    this.listening = true;
  }

  /** Drops expired rows and reloads the live ones (called by the sweep and on reconnect). */
  async reload(now = new Date()): Promise<void> {
    // Forget only what expired: clearing the set could lose a revocation heard while reading.
    const expired = await this.pool.query<{ token_hash: string }>(
      'DELETE FROM revoked_id_token WHERE expires_at <= $1 RETURNING token_hash',
      [now],
    );
    for (const row of expired.rows) this.known.delete(row.token_hash);
    const rows = await this.prisma.revokedIdToken.findMany({ select: { tokenHash: true } });
    for (const row of rows) this.known.add(row.tokenHash);
  }
}
