// CLI login grants: how `kgw login` gets a personal token without ever seeing a password.
//
// Device flow (RFC 8628 shape): the CLI asks for a grant and gets a device code (secret, kept by
// the CLI) and a user code (shown to the user); a logged-in browser approves the user code; the
// CLI polls with the device code and receives a PAT once. Loopback flow: a logged-in browser
// approves a request naming a 127.0.0.1 redirect and a PKCE challenge; the gateway redirects
// there with a single-use code, which only the holder of the PKCE verifier can exchange.
//
// Guards: PAT issuance to a CLI. Trusts: the approving browser session. Refuses: unknown,
// expired, denied or already-used codes; polling faster than the interval; a loopback redirect
// anywhere but http://127.0.0.1:<port>/...; a verifier that does not match the challenge.
// Codes are stored as SHA-256 digests; user codes are short (typed by people) and therefore
// live 10 minutes and are guarded by the failed-authentication limiter. Anyone may start a
// device login, so the table is bounded: expired grants are deleted before each start (and by
// the periodic sweep), and at most MAX_LIVE_DEVICE_GRANTS may wait at once.
import { createHash, randomInt } from 'node:crypto';
import type { PrismaClient } from '@kgw/db';
import type { AuthenticatedCaller } from '../identity/caller';
import { digestOf, newSecret } from './browser-sessions';

export const DEVICE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const GRANT_TTL_MS = 10 * 60_000;
export const POLL_INTERVAL_SECONDS = 2;
/** Live device grants at once, over all addresses (each address is limited separately). */
export const MAX_LIVE_DEVICE_GRANTS = 10_000;

export type GrantPoll =
  | { outcome: 'pending' | 'slow_down' | 'expired' | 'denied' | 'unknown' }
  | { outcome: 'approved'; approver: AuthenticatedCaller; clientName: string };

export function newUserCode(): string {
  let code = '';
  for (let i = 0; i < 8; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/** Accepts what people type: any case, with or without the dash or spaces. */
export function normalizeUserCode(raw: string): string {
  const letters = raw.toUpperCase().replace(/[^A-Z]/g, '');
  return letters.length === 8 ? `${letters.slice(0, 4)}-${letters.slice(4)}` : '';
}

export function isLoopbackRedirect(uri: string): boolean {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  return (
    url.protocol === 'http:' &&
    url.hostname === '127.0.0.1' &&
    url.port !== '' &&
    !url.username &&
    !url.password &&
    !url.hash
  );
}

export function pkceChallengeOf(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

export class CliLoginGrants {
  constructor(private readonly prisma: PrismaClient) {}

  /** A new device grant, or undefined when too many are live already. */
  async startDevice(
    clientName: string,
  ): Promise<{ deviceCode: string; userCode: string; expiresIn: number } | undefined> {
    await this.sweep();
    const live = await this.prisma.cliLoginGrant.count({ where: { kind: 'device' } });
    if (live >= MAX_LIVE_DEVICE_GRANTS) return undefined;
    const deviceCode = newSecret();
    for (let attempt = 0; ; attempt++) {
      const userCode = newUserCode();
      try {
        await this.prisma.cliLoginGrant.create({
          data: {
            codeHash: digestOf(deviceCode),
            kind: 'device',
            userCode,
            clientName,
            status: 'pending',
            approverGroups: [],
            expiresAt: new Date(Date.now() + GRANT_TTL_MS),
          },
        });
        return { deviceCode, userCode, expiresIn: GRANT_TTL_MS / 1000 };
      } catch (err) {
        // A user code already in use (P2002): draw another.
        if ((err as { code?: string }).code !== 'P2002' || attempt >= 5) throw err;
      }
    }
  }

  async pendingByUserCode(userCode: string): Promise<{ clientName: string } | undefined> {
    const row = await this.prisma.cliLoginGrant.findUnique({ where: { userCode } });
    if (!row || row.kind !== 'device' || row.status !== 'pending' || row.expiresAt.getTime() <= Date.now())
      return undefined;
    return { clientName: row.clientName };
  }

  /** Approves or denies a pending device grant; false when there is no such pending grant. */
  async decideDevice(userCode: string, approver: AuthenticatedCaller, approve: boolean): Promise<boolean> {
    const result = await this.prisma.cliLoginGrant.updateMany({
      where: { userCode, kind: 'device', status: 'pending', expiresAt: { gt: new Date() } },
      data: approve
        ? {
            status: 'approved',
            approverName: approver.name,
            approverUid: approver.uid ?? null,
            approverGroups: approver.groups,
          }
        : { status: 'denied' },
    });
    return result.count === 1;
  }

  /** One poll by the CLI; an approved grant is handed out once (then it is `issued`). */
  async pollDevice(deviceCode: string): Promise<GrantPoll> {
    const codeHash = digestOf(deviceCode);
    const row = await this.prisma.cliLoginGrant.findUnique({ where: { codeHash } });
    if (!row || row.kind !== 'device') return { outcome: 'unknown' };
    const now = Date.now();
    if (row.expiresAt.getTime() <= now) return { outcome: 'expired' };
    if (row.status === 'denied') return { outcome: 'denied' };
    if (row.status === 'issued') return { outcome: 'expired' };
    const tooSoon =
      row.lastPolledAt !== null && now - row.lastPolledAt.getTime() < (POLL_INTERVAL_SECONDS * 1000) / 2;
    await this.prisma.cliLoginGrant.update({ where: { codeHash }, data: { lastPolledAt: new Date(now) } });
    if (tooSoon) return { outcome: 'slow_down' };
    if (row.status !== 'approved' || !row.approverName) return { outcome: 'pending' };
    // Exactly one poll wins the approved grant.
    const claimed = await this.prisma.cliLoginGrant.updateMany({
      where: { codeHash, status: 'approved' },
      data: { status: 'issued' },
    });
    if (claimed.count !== 1) return { outcome: 'expired' };
    return {
      outcome: 'approved',
      clientName: row.clientName,
      approver: {
        name: row.approverName,
        uid: row.approverUid ?? undefined,
        groups: [...row.approverGroups],
        method: 'device-login',
      },
    };
  }

  /** A loopback login approved by `approver`: the single-use code to send to the redirect. */
  async approveLoopback(
    approver: AuthenticatedCaller,
    redirectUri: string,
    codeChallenge: string,
    clientName: string,
  ): Promise<string> {
    const code = newSecret();
    await this.prisma.cliLoginGrant.create({
      data: {
        codeHash: digestOf(code),
        kind: 'loopback',
        codeChallenge,
        redirectUri,
        clientName,
        status: 'approved',
        approverName: approver.name,
        approverUid: approver.uid ?? null,
        approverGroups: approver.groups,
        expiresAt: new Date(Date.now() + 2 * 60_000),
      },
    });
    return code;
  }

  async redeemLoopback(code: string, verifier: string, redirectUri: string): Promise<GrantPoll> {
    const codeHash = digestOf(code);
    const row = await this.prisma.cliLoginGrant.findUnique({ where: { codeHash } });
    if (!row || row.kind !== 'loopback') return { outcome: 'unknown' };
    // Single use, whatever happens next.
    const claimed = await this.prisma.cliLoginGrant.updateMany({
      where: { codeHash, status: 'approved' },
      data: { status: 'issued' },
    });
    if (claimed.count !== 1 || row.expiresAt.getTime() <= Date.now()) return { outcome: 'expired' };
    if (
      row.redirectUri !== redirectUri ||
      row.codeChallenge !== pkceChallengeOf(verifier) ||
      !row.approverName
    )
      return { outcome: 'denied' };
    return {
      outcome: 'approved',
      clientName: row.clientName,
      approver: {
        name: row.approverName,
        uid: row.approverUid ?? undefined,
        groups: [...row.approverGroups],
        method: 'loopback-login',
      },
    };
  }

  /** Deletes every expired grant (issued ones keep nothing a token row does not). */
  async sweep(now = new Date()): Promise<number> {
    const { count } = await this.prisma.cliLoginGrant.deleteMany({ where: { expiresAt: { lte: now } } });
    return count;
  }

  async recordToken(codeOrDevice: string, tokenId: string): Promise<void> {
    await this.prisma.cliLoginGrant.updateMany({
      where: { codeHash: digestOf(codeOrDevice) },
      data: { tokenId },
    });
  }
}
