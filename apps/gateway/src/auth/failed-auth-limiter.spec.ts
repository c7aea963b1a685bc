import { FailedAuthLimiter } from './failed-auth-limiter';

describe('FailedAuthLimiter', () => {
  it('blocks an address after the limit until its window ends, and no other address', () => {
    let now = 1_000_000;
    const limiter = new FailedAuthLimiter({ limit: 3, windowMs: 60_000 }, () => now);
    for (let i = 0; i < 3; i++) {
      expect(limiter.retryAfterSeconds('a')).toBe(0);
      limiter.recordFailure('a');
    }
    expect(limiter.retryAfterSeconds('a')).toBe(60);
    expect(limiter.retryAfterSeconds('b')).toBe(0);
    now += 30_000;
    expect(limiter.retryAfterSeconds('a')).toBe(30);
    now += 30_000;
    expect(limiter.retryAfterSeconds('a')).toBe(0);
  });
});
