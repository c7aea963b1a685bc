// Authenticates `Authorization: Bearer <JWT>` issued by the configured OpenID providers.
//
// Guards: the Kubernetes paths and /kgw/v1 for callers holding a provider's ID token.
// Trusts: only the configured issuers, and only keys from each issuer's own JWKS (found by
// discovery, cached by jose, refetched when a token names an unknown `kid`, at most once per
// cooldown so a stream of made-up kids cannot hammer the provider). When the provider cannot be
// reached to refresh its keys, the keys last fetched go on verifying (for STALE_KEYS_RETRY_MS
// without asking again): an outage of the provider does not end the tokens it already issued.
// Refuses (401): an issuer not configured (the `iss` claim is read unverified only to pick the
// issuer, and then verified), a bad signature, an algorithm outside the allow-list (never
// `none`, never HMAC: a public JWKS key must not double as an HMAC secret), a wrong audience,
// exp/nbf outside the bounded clock skew, a missing username claim, the ID token of a session
// that logged out (revoked-id-tokens.ts). The caller carries the token's expiry, at which its
// open exchanges are cut, and the token's hash (by which a logout cuts them at once).
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { bearerTokenOf, type AuthenticationResult, type Authenticator } from './authenticator';
import { jose, type Jose } from './esm-packages';
import { callerFromClaims, type ClaimMapping } from './oidc-claims';
import { hashToken } from './personal-tokens';

export interface JwtAuthenticatorOptions extends ClaimMapping {
  issuers: string[];
  audiences: string[];
  algorithms: string[];
  clockSkewSeconds: number;
  logger: Logger;
  /** ID tokens of logged-out sessions (by SHA-256); absent: none are revoked. */
  revoked?: { isRevoked(tokenHash: string): Promise<boolean> };
  /** Where an issuer's JWKS lives (default: discovery). Injectable for tests. */
  jwksUriOf?: (issuer: string) => Promise<string>;
}

const FORBIDDEN_ALGORITHMS = /^(none|HS\d+)$/i;

export function safeAlgorithms(algorithms: string[]): string[] {
  return algorithms.filter((alg) => !FORBIDDEN_ALGORITHMS.test(alg));
}

type KeySet = Jose.JWTVerifyGetKey;

/** After the provider failed to serve its keys: how long the last ones are used without asking. */
const STALE_KEYS_RETRY_MS = 30_000;

export class JwtAuthenticator implements Authenticator {
  private readonly keySets = new Map<string, Promise<KeySet>>();
  private readonly algorithms: string[];

  constructor(private readonly options: JwtAuthenticatorOptions) {
    this.algorithms = safeAlgorithms(options.algorithms);
  }

  async authenticate(req: IncomingMessage): Promise<AuthenticationResult> {
    const token = bearerTokenOf(req);
    if (token === undefined) return { outcome: 'no-credential' };
    const unverified = peekPayload(token);
    // Not a JWT at all: some other authenticator's credential (static tokens).
    if (!unverified) return { outcome: 'no-credential' };
    const issuer = typeof unverified.iss === 'string' ? unverified.iss : undefined;
    if (!issuer || !this.options.issuers.includes(issuer)) return reject('token from an unknown issuer');
    let keys: KeySet;
    try {
      keys = await this.keySetOf(issuer);
    } catch (err) {
      this.options.logger.warn({ issuer, err: (err as Error).message }, "cannot discover the issuer's keys");
      return reject('the issuer cannot be reached to verify the token');
    }
    let payload: Jose.JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, keys, {
        issuer,
        audience: this.options.audiences,
        algorithms: this.algorithms,
        clockTolerance: this.options.clockSkewSeconds,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      // The code names the check that failed (ERR_JWT_EXPIRED, ERR_JWKS_NO_MATCHING_KEY...);
      // never the token.
      return reject(`JWT rejected: ${(err as { code?: string }).code ?? 'invalid'}`);
    }
    const idTokenHash = hashToken(token);
    if (await this.options.revoked?.isRevoked(idTokenHash))
      return reject('JWT rejected: the session it was issued to has logged out');
    const mapped = callerFromClaims(payload, issuer, 'jwt', this.options);
    if (!mapped.ok) return reject(mapped.message);
    // exp is required above; the clock skew accepted at verification is honoured at the cut too.
    const expiresAt = new Date(((payload.exp as number) + this.options.clockSkewSeconds) * 1000);
    return { outcome: 'authenticated', caller: { ...mapped.caller, expiresAt, idTokenHash } };
  }

  private keySetOf(issuer: string): Promise<KeySet> {
    let keys = this.keySets.get(issuer);
    if (!keys) {
      keys = (this.options.jwksUriOf ?? discoverJwksUri)(issuer).then((uri) =>
        lastKeysWhenUnreachable(
          jose.createRemoteJWKSet(new URL(uri), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 }),
          (err) =>
            this.options.logger.warn({ issuer, err }, 'cannot refresh the issuer keys; using the last ones'),
        ),
      );
      this.keySets.set(issuer, keys);
      // A failed discovery is retried on the next token, not remembered.
      keys.catch(() => this.keySets.delete(issuer));
    }
    return keys;
  }
}

/**
 * The remote key set, falling back to the keys it last fetched when fetching fails (the provider
 * is down): a token signed by a key we knew still verifies; one naming a key we never saw does
 * not. A key the provider removed stays usable only for as long as it cannot be asked.
 */
export function lastKeysWhenUnreachable(
  remote: ReturnType<typeof jose.createRemoteJWKSet>,
  warn: (message: string) => void,
  now: () => number = Date.now,
): KeySet {
  let askAgainAt = 0;
  return async (header, token) => {
    const last = remote.jwks();
    if (last !== undefined && now() < askAgainAt) return jose.createLocalJWKSet(last)(header, token);
    try {
      return await remote(header, token);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (
        last === undefined ||
        code === 'ERR_JWKS_NO_MATCHING_KEY' ||
        code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS'
      )
        throw err;
      warn((err as Error).message);
      askAgainAt = now() + STALE_KEYS_RETRY_MS;
      return jose.createLocalJWKSet(last)(header, token);
    }
  };
}

function reject(message: string): AuthenticationResult {
  return { outcome: 'rejected', message };
}

/** The payload of a compact JWS, unverified, or undefined when `token` is not one. */
export function peekPayload(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    return typeof payload === 'object' && payload !== null && !Array.isArray(payload)
      ? (payload as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** OpenID discovery of `jwks_uri`; the document must name the same issuer (OIDC Discovery §4.3). */
export async function discoverJwksUri(issuer: string): Promise<string> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const res = await fetch(url, { signal: AbortSignal.timeout(5000), redirect: 'error' });
  if (!res.ok) throw new Error(`discovery at ${url} answered ${res.status}`);
  const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
  if (doc.issuer !== issuer) throw new Error(`discovery at ${url} names issuer ${String(doc.issuer)}`);
  if (typeof doc.jwks_uri !== 'string') throw new Error(`discovery at ${url} has no jwks_uri`);
  return doc.jwks_uri;
}
