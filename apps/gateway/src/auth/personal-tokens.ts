// Personal access tokens: `kgw_` + 43 random base62 characters (~256 bits), shown once.
//
// Guards: the credential curl, kubectl and the CLI present as `Authorization: Bearer kgw_…`.
// Trusts: Postgres (the only place a token's existence, scopes and revocation live).
// Refuses: unknown, revoked and expired tokens; a lifetime beyond the configured cap; a token
// minted by another token that would be wider (scopes) or longer-lived than its parent.
// Child tokens end with their parent: a token remembers the token or browser session that
// minted it, revoking a token revokes its whole subtree in one statement, and logging a session
// out revokes the tokens it minted (and theirs); a child's expiry never passes its parent's.
// Only the SHA-256 of a token is stored: the token carries 256 bits of randomness, so a fast
// hash is enough (no password-style stretching needed) and a database dump yields no usable
// credential. The token's id (`tok_…`) is public: it names the token in lists, audit records
// and the `kgw.io/token-id` extra.
import { hash, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import type { PrismaClient } from '@kgw/db';
import type { TokenScopes } from '../identity/caller';

export const TOKEN_PREFIX = 'kgw_';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const TOKEN_RANDOM_CHARS = 43;
/** Postgres channel that carries revoked token ids to every replica. */
export const REVOCATION_CHANNEL = 'kgw_token_revoked';

/** Uniform random base62 (rejection sampling: no modulo bias). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

export function looksLikePersonalToken(token: string): boolean {
  return token.startsWith(TOKEN_PREFIX);
}

export function hashToken(token: string): string {
  // One-shot (every request with a personal token hashes it): about twice createHash's speed.
  return hash('sha256', token, 'hex');
}

export interface TokenOwner {
  name: string;
  uid?: string;
  groups: string[];
}

export interface PersonalTokenInfo {
  id: string;
  name: string;
  owner: TokenOwner;
  createdVia: string;
  scopes: TokenScopes;
  createdAt: Date;
  expiresAt: Date;
  lastUsedAt?: Date;
  lastUsedAddress?: string;
  revokedAt?: Date;
}

export interface CreateTokenRequest {
  owner: TokenOwner;
  name: string;
  scopes: TokenScopes;
  /** Absent: the default lifetime. */
  expiresAt?: Date;
  createdVia: string;
  /**
   * Register this existing token instead of minting a new one: only for demo mode, whose tokens
   * live in .kgw/demo/secrets.json and must keep working on a fresh database.
   */
  existingToken?: string;
  /**
   * The credential minting the token: the parent's scopes and expiry bound the child's, and the
   * child is revoked with it. A token refuses an explicit expiry past its own; a session caps it
   * (a browser user picks a number of days, not the session's end).
   */
  parent?: { scopes?: TokenScopes; expiresAt?: Date; tokenId?: string; sessionId?: string };
}

export class TokenRequestError extends Error {
  override name = 'TokenRequestError';
}

export interface PersonalTokenLimits {
  maxLifetimeMs: number;
  defaultLifetimeMs: number;
}

type TokenRow = {
  id: string;
  name: string;
  ownerName: string;
  ownerUid: string | null;
  ownerGroups: string[];
  createdVia: string;
  readOnly: boolean;
  namespaces: string[];
  forward: boolean;
  createdAt: Date;
  expiresAt: Date;
  lastUsedAt: Date | null;
  lastUsedAddress: string | null;
  revokedAt: Date | null;
};

const TOKEN_SHAPE = new RegExp(`^${TOKEN_PREFIX}[0-9A-Za-z]{${TOKEN_RANDOM_CHARS}}$`);
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The repository of personal tokens; the one place their rows are read and written. */
export class PersonalTokens {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly pool: Pool,
    private readonly limits: PersonalTokenLimits,
  ) {}

  async create(
    request: CreateTokenRequest,
    now = new Date(),
  ): Promise<{ token: string; info: PersonalTokenInfo; expiryLimitedByParent: boolean }> {
    const name = request.name.trim();
    if (!name || name.length > 100)
      throw new TokenRequestError('a token needs a name of 1 to 100 characters');
    const namespaces = [...new Set(request.scopes.namespaces)];
    for (const ns of namespaces) {
      if (!NAMESPACE_NAME.test(ns) || ns.length > 63)
        throw new TokenRequestError(`"${ns}" is not a namespace name`);
    }
    const scopes: TokenScopes = {
      readOnly: request.scopes.readOnly,
      namespaces,
      forward: request.scopes.forward,
    };
    const cap = new Date(now.getTime() + this.limits.maxLifetimeMs);
    const parent = request.parent;
    const parentExpiry = parent?.expiresAt?.getTime();
    let expiresAt = request.expiresAt;
    let expiryLimitedByParent = false;
    if (expiresAt && parent?.sessionId && parentExpiry !== undefined && expiresAt.getTime() > parentExpiry) {
      expiresAt = new Date(parentExpiry);
      expiryLimitedByParent = true;
    }
    if (!expiresAt) {
      // Without an explicit expiry a child of a token lives as long as the default allows but never
      // past its parent: a default equal to the parent's lifetime would always outlive it.
      let ms = now.getTime() + Math.min(this.limits.defaultLifetimeMs, this.limits.maxLifetimeMs);
      if (parentExpiry !== undefined && parentExpiry < ms) {
        ms = parentExpiry;
        expiryLimitedByParent = true;
      }
      expiresAt = new Date(ms);
    }
    if (expiresAt.getTime() <= now.getTime()) throw new TokenRequestError('the expiry must be in the future');
    if (expiresAt.getTime() > cap.getTime())
      throw new TokenRequestError(
        `the expiry may be at most ${Math.floor(this.limits.maxLifetimeMs / 86_400_000)} days away`,
      );
    if (parent) {
      // A token may only mint tokens that can do less and die no later: no escalation by chaining.
      if (parentExpiry !== undefined && expiresAt.getTime() > parentExpiry)
        throw new TokenRequestError(
          `a token cannot create a token that outlives it: the creating token expires at ${new Date(parentExpiry).toISOString()} ` +
            `(${describeDuration(parentExpiry - now.getTime())} from now); ask for that or less, or leave the expiry out`,
        );
      const p = parent.scopes;
      if (p) {
        if (p.readOnly && !scopes.readOnly)
          throw new TokenRequestError('a read-only token can only create read-only tokens');
        if (!p.forward && scopes.forward)
          throw new TokenRequestError('a token without forward cannot grant forward');
        if (p.namespaces.length > 0) {
          if (scopes.namespaces.length === 0 || scopes.namespaces.some((ns) => !p.namespaces.includes(ns)))
            throw new TokenRequestError(
              `a token limited to namespaces ${p.namespaces.join(', ')} can only create tokens limited to some of them`,
            );
        }
      }
    }
    if (request.existingToken !== undefined && !TOKEN_SHAPE.test(request.existingToken))
      throw new TokenRequestError('an existing token must be kgw_ followed by 43 base62 characters');
    const token = request.existingToken ?? TOKEN_PREFIX + randomBase62(TOKEN_RANDOM_CHARS);
    const row = await this.prisma.personalToken.create({
      data: {
        id: `tok_${randomBase62(16)}`,
        tokenHash: hashToken(token),
        name,
        ownerName: request.owner.name,
        ownerUid: request.owner.uid ?? null,
        ownerGroups: request.owner.groups,
        createdVia: request.createdVia,
        readOnly: scopes.readOnly,
        namespaces: scopes.namespaces,
        forward: scopes.forward,
        createdAt: now,
        expiresAt,
        parentTokenId: parent?.tokenId ?? null,
        parentSession: parent?.sessionId ?? null,
      },
    });
    return { token, info: toInfo(row), expiryLimitedByParent };
  }

  /** Whether the token is known at all (active, revoked or expired): a known token is never re-registered. */
  async known(token: string): Promise<boolean> {
    return (await this.prisma.personalToken.count({ where: { tokenHash: hashToken(token) } })) > 0;
  }

  /** The token's record if it exists, is not revoked and has not expired. */
  async findActive(token: string, now = new Date()): Promise<PersonalTokenInfo | undefined> {
    const row = await this.prisma.personalToken.findUnique({ where: { tokenHash: hashToken(token) } });
    if (!row || row.revokedAt || row.expiresAt.getTime() <= now.getTime()) return undefined;
    return toInfo(row);
  }

  async list(ownerName: string): Promise<PersonalTokenInfo[]> {
    const rows = await this.prisma.personalToken.findMany({
      where: { ownerName },
      orderBy: { createdAt: 'desc' },
    });
    return rows.map(toInfo);
  }

  async get(id: string): Promise<PersonalTokenInfo | undefined> {
    const row = await this.prisma.personalToken.findUnique({ where: { id } });
    return row ? toInfo(row) : undefined;
  }

  /**
   * Revokes the token (when `ownerName` is given, only if it belongs to that owner) and every
   * token below it, and tells every replica in the same statement: NOTIFY is delivered at commit,
   * so no replica hears of a revocation that did not happen. Returns the token (undefined if none
   * matched) and the ids of every token revoked now, the token's own included.
   */
  async revoke(
    id: string,
    ownerName?: string,
  ): Promise<{ info: PersonalTokenInfo; revokedIds: string[] } | undefined> {
    const revokedIds = await this.revokeTrees(
      `SELECT id FROM personal_token WHERE id = $1 AND revoked_at IS NULL AND ($2::text IS NULL OR owner_name = $2)`,
      [id, ownerName ?? null],
    );
    if (!revokedIds.includes(id)) return undefined;
    const info = await this.get(id);
    return info ? { info, revokedIds } : undefined;
  }

  /** Logout: revokes every token the session minted, and theirs; returns their ids. */
  async revokeMintedBySession(sessionIdHash: string): Promise<string[]> {
    return this.revokeTrees(
      `SELECT id FROM personal_token WHERE parent_session = $1 AND revoked_at IS NULL`,
      [sessionIdHash],
    );
  }

  /** Revokes the tokens `roots` selects ($1, $2) and all their descendants, NOTIFYing each id. */
  private async revokeTrees(roots: string, params: Array<string | null>): Promise<string[]> {
    const channel = `$${params.length + 1}`;
    const result = await this.pool.query<{ id: string }>(
      `WITH RECURSIVE tree AS (
         ${roots}
         UNION
         SELECT child.id FROM personal_token child JOIN tree ON child.parent_token_id = tree.id),
       revoked AS (
         UPDATE personal_token SET revoked_at = now()
          WHERE id IN (SELECT id FROM tree) AND revoked_at IS NULL
          RETURNING id)
       SELECT id, pg_notify(${channel}, id) FROM revoked`,
      [...params, REVOCATION_CHANNEL],
    );
    return result.rows.map((row) => row.id);
  }

  /** Records when and from where a token was last used (callers throttle this). */
  async touch(id: string, address: string | undefined, when = new Date()): Promise<void> {
    await this.prisma.personalToken.update({
      where: { id },
      data: { lastUsedAt: when, lastUsedAddress: address ?? null },
    });
  }
}

function toInfo(row: TokenRow): PersonalTokenInfo {
  return {
    id: row.id,
    name: row.name,
    owner: { name: row.ownerName, uid: row.ownerUid ?? undefined, groups: [...row.ownerGroups] },
    createdVia: row.createdVia,
    scopes: { readOnly: row.readOnly, namespaces: [...row.namespaces], forward: row.forward },
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    lastUsedAt: row.lastUsedAt ?? undefined,
    lastUsedAddress: row.lastUsedAddress ?? undefined,
    revokedAt: row.revokedAt ?? undefined,
  };
}

/** "29 days 23 hours", "5 hours 2 minutes", "40 seconds": for messages about lifetimes. */
export function describeDuration(ms: number): string {
  const units: Array<[string, number]> = [
    ['day', 86_400_000],
    ['hour', 3_600_000],
    ['minute', 60_000],
    ['second', 1000],
  ];
  const parts: string[] = [];
  let rest = Math.max(0, Math.floor(ms));
  for (const [name, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n} ${name}${n === 1 ? '' : 's'}`);
    if (parts.length === 2) break;
  }
  return parts.length ? parts.join(' ') : 'less than a second';
}

/** The public view of a token (never the token or its hash). */
export function tokenView(info: PersonalTokenInfo): Record<string, unknown> {
  const scopes: string[] = [];
  if (info.scopes.readOnly) scopes.push('read-only');
  if (info.scopes.forward) scopes.push('forward');
  return {
    id: info.id,
    name: info.name,
    owner: info.owner.name,
    createdVia: info.createdVia,
    scopes,
    namespaces: info.scopes.namespaces,
    createdAt: info.createdAt.toISOString(),
    expiresAt: info.expiresAt.toISOString(),
    lastUsedAt: info.lastUsedAt?.toISOString() ?? null,
    lastUsedAddress: info.lastUsedAddress ?? null,
    revokedAt: info.revokedAt?.toISOString() ?? null,
  };
}
