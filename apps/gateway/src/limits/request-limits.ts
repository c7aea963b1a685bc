// Per-caller limits of the proxy chain: request rate per user and per token (token buckets), and
// long-running requests open at once per user.
//
// Guards: the gateway, the API server behind it and the other users against one caller (a
// runaway script, a leaked token) sending without end or holding thousands of watches. Trusts:
// the authenticated caller's name and token id. Refuses: with a Kubernetes 429 Status and
// Retry-After (client-go waits and retries on it), so other users are unaffected.
//
// Each process keeps its own counts (no shared store on the hot path): with W workers and R
// replicas a user may reach W × R times the configured rate and long-running count. The
// configuration docs say so; an operator who wants a cluster-wide figure divides by it.

/** What the limits need of a caller: who (the authenticated name) and which token, if any. */
export interface LimitedCaller {
  name: string;
  tokenId?: string;
}

export interface RequestLimitsOptions {
  /** Requests per second per user, refilled continuously; 0 = no limit. */
  userRate: number;
  userBurst: number;
  /** Requests per second per personal token; 0 = no limit. */
  tokenRate: number;
  tokenBurst: number;
  /** Long-running requests (watch, logs -f, exec, attach, port-forward) per user at once; 0 = no limit. */
  userLongRunning: number;
  /** Milliseconds; injectable for tests. */
  now?: () => number;
}

export type LimitRefusal = {
  limit: 'user-rate' | 'token-rate' | 'user-longrunning';
  message: string;
  retryAfterSeconds: number;
};

/** Buckets beyond this many are pruned (idle, full ones first) so memory stays bounded. */
const MAX_BUCKETS = 50_000;

class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {}

  /** Takes one token for `key`: 0 when granted, else the whole seconds until one is available. */
  take(key: string, now: number): number {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= MAX_BUCKETS) this.prune(now);
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.rate);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.rate));
  }

  /** Drops buckets that have refilled (forgetting them changes nothing), else the oldest half. */
  private prune(now: number): void {
    for (const [key, bucket] of this.buckets)
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.rate >= this.burst) this.buckets.delete(key);
    if (this.buckets.size < MAX_BUCKETS) return;
    let drop = this.buckets.size / 2;
    for (const key of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(key);
    }
  }
}

export class RequestLimits {
  private readonly users: TokenBuckets | undefined;
  private readonly tokens: TokenBuckets | undefined;
  private readonly longRunning = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly options: RequestLimitsOptions) {
    this.users =
      options.userRate > 0 ? new TokenBuckets(options.userRate, Math.max(1, options.userBurst)) : undefined;
    this.tokens =
      options.tokenRate > 0
        ? new TokenBuckets(options.tokenRate, Math.max(1, options.tokenBurst))
        : undefined;
    this.now = options.now ?? Date.now;
  }

  /** One request of `caller`: undefined when within its rates, else why not and for how long. */
  admitRequest(caller: LimitedCaller): LimitRefusal | undefined {
    if (!this.users && !this.tokens) return undefined;
    const now = this.now();
    // The token first: a leaked token that is throttled must not also use up its owner's rate.
    if (this.tokens && caller.tokenId !== undefined) {
      const wait = this.tokens.take(caller.tokenId, now);
      if (wait > 0)
        return {
          limit: 'token-rate',
          message: `too many requests with this token (limit ${this.options.tokenRate}/s); retry in ${wait} s`,
          retryAfterSeconds: wait,
        };
    }
    if (this.users) {
      const wait = this.users.take(caller.name, now);
      if (wait > 0)
        return {
          limit: 'user-rate',
          message: `too many requests from user "${caller.name}" (limit ${this.options.userRate}/s); retry in ${wait} s`,
          retryAfterSeconds: wait,
        };
    }
    return undefined;
  }

  /**
   * A long-running request of `caller` is about to start: a function to call once when it ends,
   * or the refusal when the caller already holds the maximum.
   */
  openLongRunning(caller: LimitedCaller): (() => void) | LimitRefusal {
    const max = this.options.userLongRunning;
    const open = this.longRunning.get(caller.name) ?? 0;
    if (max > 0 && open >= max)
      return {
        limit: 'user-longrunning',
        message: `user "${caller.name}" has ${open} long-running requests open (watch, logs -f, exec, attach, port-forward, kgw forward tunnels; limit ${max}); close one and retry`,
        retryAfterSeconds: 1,
      };
    this.longRunning.set(caller.name, open + 1);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      const left = (this.longRunning.get(caller.name) ?? 1) - 1;
      if (left > 0) this.longRunning.set(caller.name, left);
      else this.longRunning.delete(caller.name);
    };
  }
}
