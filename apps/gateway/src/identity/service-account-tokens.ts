// Short-lived service-account tokens for identity rules with `serviceAccountMode: token-request`.
//
// Security notes. Guards: the tokens themselves — each one is the full credential of a service
// account until it expires. They live only in this process's memory, are never logged, never put
// into audit events or errors, and are requested with the shortest lifetime the API server
// accepts (600 s) so a leaked one is short-lived. Trusts: the API server's TokenRequest answer
// (status.token, status.expirationTimestamp); the request is made with the gateway's own
// credential and no impersonation, so RBAC must grant the gateway `create` on
// `serviceaccounts/token`. Refuses: to hand out a token it cannot vouch for — an answer without
// a token or a valid future expiry is an error; errors are never cached (the next request asks
// again) and the caller must fail the request (503), never fall back to the gateway identity.
//
// The cache is keyed by service account and is bounded by the operator's rules (only service
// accounts named in config are ever requested), so it needs no eviction beyond expiry.
import type { ReviewTransport } from '@kgw/kube';

export interface ServiceAccountTokensOptions {
  /** Lifetime asked for; the API server's minimum is 600 s. Default 600. */
  readonly expirationSeconds?: number;
  /** Fraction of a token's lifetime after which it is replaced. Default 0.8. */
  readonly refreshFraction?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

/** What the proxy chain needs: a valid token for one service account. */
export interface ServiceAccountTokenSource {
  tokenFor(namespace: string, name: string): Promise<string>;
}

export class ServiceAccountTokenError extends Error {
  override readonly name = 'ServiceAccountTokenError';
  constructor(
    message: string,
    /** The API server's HTTP status, or 0 when none was received. */
    readonly statusCode: number,
  ) {
    super(message);
  }
}

interface CachedToken {
  readonly token: string;
  /** After this instant the token is replaced before use. */
  readonly refreshAt: number;
}

/** Path segments a TokenRequest may name; anything else could re-target the request. */
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function tokenRequestPath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`;
}

/**
 * TokenRequest client with a per-service-account cache: a token is reused until
 * refreshFraction of its lifetime has passed, concurrent callers for the same service account
 * share one request (single flight), and a failed request leaves nothing behind.
 */
export class ServiceAccountTokens implements ServiceAccountTokenSource {
  private readonly cache = new Map<string, CachedToken>();
  private readonly inFlight = new Map<string, Promise<string>>();
  private readonly expirationSeconds: number;
  private readonly refreshFraction: number;
  private readonly now: () => number;

  constructor(
    /** Sends a request with the gateway's own credential (upstreamReviewTransport). */
    private readonly transport: ReviewTransport,
    options: ServiceAccountTokensOptions = {},
  ) {
    this.expirationSeconds = Math.max(600, Math.trunc(options.expirationSeconds ?? 600));
    const fraction = options.refreshFraction ?? 0.8;
    this.refreshFraction = fraction > 0 && fraction < 1 ? fraction : 0.8;
    this.now = options.now ?? Date.now;
  }

  tokenFor(namespace: string, name: string): Promise<string> {
    if (!NAME.test(namespace) || !NAME.test(name)) {
      return Promise.reject(new ServiceAccountTokenError(`invalid service account ${namespace}/${name}`, 0));
    }
    const key = `${namespace}/${name}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      if (this.now() < cached.refreshAt) return Promise.resolve(cached.token);
      // Past the refresh point: drop it so a failing refresh cannot keep serving it.
      this.cache.delete(key);
    }
    const pending = this.inFlight.get(key);
    if (pending !== undefined) return pending;
    const request = this.request(namespace, name).then(
      (fresh) => {
        this.inFlight.delete(key);
        this.cache.set(key, fresh);
        return fresh.token;
      },
      (error: unknown) => {
        this.inFlight.delete(key);
        throw error;
      },
    );
    this.inFlight.set(key, request);
    return request;
  }

  /** Forgets every cached token (tests; a rule change would restart the gateway anyway). */
  clear(): void {
    this.cache.clear();
  }

  private async request(namespace: string, name: string): Promise<CachedToken> {
    const where = `TokenRequest for ${namespace}/${name}`;
    const requestedAt = this.now();
    let response;
    try {
      response = await this.transport({
        method: 'POST',
        path: tokenRequestPath(namespace, name),
        // Deliberately no Impersonate-*: the gateway itself asks for the token.
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: this.expirationSeconds },
        }),
      });
    } catch (error) {
      // The transport's own message may name the SubjectAccessReview; say what really failed.
      throw new ServiceAccountTokenError(`${where} failed: ${(error as Error).message}`, 0);
    }
    if (response.statusCode !== 201 && response.statusCode !== 200) {
      throw new ServiceAccountTokenError(
        `${where} answered ${response.statusCode}${statusMessageOf(response.body)}`,
        response.statusCode,
      );
    }
    let status: Record<string, unknown> | undefined;
    try {
      const parsed = JSON.parse(response.body) as { status?: unknown } | null;
      if (typeof parsed?.status === 'object' && parsed.status !== null)
        status = parsed.status as Record<string, unknown>;
    } catch {
      // Reported below.
    }
    const token = status?.token;
    if (typeof token !== 'string' || token === '') {
      throw new ServiceAccountTokenError(`${where}: the answer carries no token`, response.statusCode);
    }
    const expiresAt =
      typeof status?.expirationTimestamp === 'string' ? Date.parse(status.expirationTimestamp) : NaN;
    const now = this.now();
    if (!Number.isFinite(expiresAt) || expiresAt <= now) {
      throw new ServiceAccountTokenError(
        `${where}: the answer carries no valid future expirationTimestamp`,
        response.statusCode,
      );
    }
    // Measured from when we asked, so a slow answer shortens the reuse, never lengthens it.
    const lifetime = expiresAt - requestedAt;
    return { token, refreshAt: requestedAt + lifetime * this.refreshFraction };
  }
}

function statusMessageOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as { kind?: unknown; message?: unknown };
    if (parsed.kind === 'Status' && typeof parsed.message === 'string') return `: ${parsed.message}`;
  } catch {
    // Not a Status; the status code says enough.
  }
  return '';
}
