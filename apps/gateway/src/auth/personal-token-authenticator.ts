// Authenticates `Authorization: Bearer kgw_…` personal access tokens.
//
// Guards: the Kubernetes paths and /kgw/v1 for curl, kubectl and the CLI. Trusts: the token
// table (through PersonalTokens) and the revocation listener. Refuses: unknown, revoked and
// expired tokens (401). The caller it produces is the token's owner as recorded at creation,
// with the token's scopes, which GatewayPolicy enforces before RBAC.
//
// A short positive cache (keyed by the token's hash, never the token) keeps the database off
// the hot path; it is emptied per token on every revocation NOTIFY, and bypassed entirely while
// the revocation listener is down, so a revoked token never outlives the 1 s promise because
// of this cache.
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { bearerTokenOf, type AuthenticationResult, type Authenticator } from './authenticator';
import {
  hashToken,
  looksLikePersonalToken,
  type PersonalTokenInfo,
  type PersonalTokens,
} from './personal-tokens';

export interface PersonalTokenAuthenticatorOptions {
  tokens: PersonalTokens;
  logger: Logger;
  clientAddress(req: IncomingMessage): string | undefined;
  cacheTtlMs?: number;
  /** Last-used time and address are written at most this often per token. */
  touchIntervalMs?: number;
}

interface CacheEntry {
  info: PersonalTokenInfo;
  until: number;
}

export class PersonalTokenAuthenticator implements Authenticator {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly lastTouched = new Map<string, number>();
  private listening = false;

  constructor(private readonly options: PersonalTokenAuthenticatorOptions) {}

  async authenticate(req: IncomingMessage): Promise<AuthenticationResult> {
    const token = bearerTokenOf(req);
    if (token === undefined || !looksLikePersonalToken(token)) return { outcome: 'no-credential' };
    const now = Date.now();
    const key = hashToken(token);
    let info = this.listening ? this.fresh(key, now) : undefined;
    if (!info) {
      info = await this.options.tokens.findActive(token, new Date(now));
      if (!info) return { outcome: 'rejected', message: 'Unauthorized' };
      if (this.listening) this.remember(key, info, now);
    }
    if (info.expiresAt.getTime() <= now) {
      this.cache.delete(key);
      return { outcome: 'rejected', message: 'Unauthorized' };
    }
    this.touch(info.id, this.options.clientAddress(req), now);
    return {
      outcome: 'authenticated',
      caller: {
        name: info.owner.name,
        uid: info.owner.uid,
        groups: [...info.owner.groups],
        method: 'pat',
        tokenId: info.id,
        scopes: { ...info.scopes, namespaces: [...info.scopes.namespaces] },
        expiresAt: info.expiresAt,
      },
    };
  }

  /** A token was revoked (here or on another replica): forget it at once. */
  revoked(tokenId: string): void {
    for (const [key, entry] of this.cache) if (entry.info.id === tokenId) this.cache.delete(key);
  }

  /** While revocations cannot be heard, nothing is cached. */
  setListening(listening: boolean): void {
    this.listening = listening;
    if (!listening) this.cache.clear();
  }

  private fresh(key: string, now: number): PersonalTokenInfo | undefined {
    const entry = this.cache.get(key);
    if (!entry) return undefined;
    if (entry.until <= now) {
      this.cache.delete(key);
      return undefined;
    }
    return entry.info;
  }

  private remember(key: string, info: PersonalTokenInfo, now: number): void {
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(key, { info, until: now + (this.options.cacheTtlMs ?? 30_000) });
  }

  private touch(id: string, address: string | undefined, now: number): void {
    const last = this.lastTouched.get(id);
    if (last !== undefined && now - last < (this.options.touchIntervalMs ?? 30_000)) return;
    if (this.lastTouched.size >= 10_000) this.lastTouched.clear();
    this.lastTouched.set(id, now);
    this.options.tokens.touch(id, address, new Date(now)).catch((err: unknown) => {
      this.options.logger.warn({ err: (err as Error).message, tokenId: id }, 'cannot record token use');
    });
  }
}
