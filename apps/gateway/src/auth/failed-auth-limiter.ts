// Rate-limits failed authentication per client address (a fixed window per address).
//
// Guards: token and password guessing, and the database work each guess costs. Trusts: the
// client address as ClientAddressResolver derives it (socket peer, or X-Forwarded-For only from
// configured trusted proxies, so a client cannot pick a fresh address per guess). Refuses: every
// authentication attempt from an address over the limit, valid or not, until its window ends
// (answering valid credentials would let a guesser tell a hit from a miss). Kept per replica,
// in memory: a guesser spread over N replicas gets at most N times the limit.
import type { IncomingMessage } from 'node:http';
import type { AuthenticationResult, Authenticator } from './authenticator';

export interface FailedAuthLimits {
  limit: number;
  windowMs: number;
}

interface Window {
  start: number;
  failures: number;
}

const MAX_TRACKED_ADDRESSES = 100_000;

export class FailedAuthLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly limits: FailedAuthLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until the address may try again, or 0 when it may try now. */
  retryAfterSeconds(address: string): number {
    const window = this.windows.get(address);
    if (!window) return 0;
    const now = this.now();
    if (now - window.start >= this.limits.windowMs) {
      this.windows.delete(address);
      return 0;
    }
    if (window.failures < this.limits.limit) return 0;
    return Math.max(1, Math.ceil((window.start + this.limits.windowMs - now) / 1000));
  }

  recordFailure(address: string): void {
    const now = this.now();
    let window = this.windows.get(address);
    if (!window || now - window.start >= this.limits.windowMs) {
      if (this.windows.size >= MAX_TRACKED_ADDRESSES) this.prune(now);
      window = { start: now, failures: 0 };
      this.windows.set(address, window);
    }
    window.failures++;
  }

  private prune(now: number): void {
    for (const [address, window] of this.windows) {
      if (now - window.start >= this.limits.windowMs) this.windows.delete(address);
    }
    // Still full (an address flood): start over rather than grow without bound.
    if (this.windows.size >= MAX_TRACKED_ADDRESSES) this.windows.clear();
  }
}

/** Wraps the authenticator chain: throttled addresses are refused before any credential is read. */
export class RateLimitedAuthenticator implements Authenticator {
  constructor(
    private readonly inner: Authenticator,
    private readonly limiter: FailedAuthLimiter,
    private readonly clientAddress: (req: IncomingMessage) => string,
  ) {}

  async authenticate(req: IncomingMessage): Promise<AuthenticationResult> {
    const address = this.clientAddress(req);
    const retryAfterSeconds = this.limiter.retryAfterSeconds(address);
    if (retryAfterSeconds > 0) return { outcome: 'throttled', retryAfterSeconds };
    const result = await this.inner.authenticate(req);
    if (result.outcome === 'rejected') this.limiter.recordFailure(address);
    return result;
  }
}
