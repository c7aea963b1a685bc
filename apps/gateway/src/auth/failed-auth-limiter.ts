// Rate-limits failed authentication per client address (a fixed window per address).
//
// Guards: token guessing and the work each guess costs. Trusts: the client address as
// ClientAddressResolver derives it (socket peer, or X-Forwarded-For only from configured
// trusted proxies, so a client cannot pick a fresh address per guess). Refuses: a failed
// authentication from an address over the limit with 429 instead of 401, until its window ends.
// A valid credential is never refused, whatever its address did: many users share an address
// (an office NAT, an ingress without trusted proxies), and 20 bogus tokens from a neighbour
// must not lock alice out. That a guesser over the limit can still tell a hit from a miss does
// not help it: bearer credentials carry 256 random bits (PATs, session cookies) or a signature
// (JWTs). Low-entropy secrets (device user codes) keep refusing everything from a throttled
// address (see `retryAfterSeconds` callers). What is not a guess does not count: a CSRF failure
// on a valid session is a cross-site page's doing, not the caller's (`notAGuess`). Kept per
// replica, in memory: a guesser spread over N replicas gets at most N times the limit.
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

/**
 * Wraps the authenticator chain: a failure from an address over the limit becomes `throttled`
 * (429); a valid credential passes whatever the address did before.
 */
export class RateLimitedAuthenticator implements Authenticator {
  constructor(
    private readonly inner: Authenticator,
    private readonly limiter: FailedAuthLimiter,
    private readonly clientAddress: (req: IncomingMessage) => string,
  ) {}

  async authenticate(req: IncomingMessage): Promise<AuthenticationResult> {
    const result = await this.inner.authenticate(req);
    if (result.outcome !== 'rejected' || result.notAGuess) return result;
    const address = this.clientAddress(req);
    const retryAfterSeconds = this.limiter.retryAfterSeconds(address);
    this.limiter.recordFailure(address);
    return retryAfterSeconds > 0 ? { outcome: 'throttled', retryAfterSeconds } : result;
  }
}
