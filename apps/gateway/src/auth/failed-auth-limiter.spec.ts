import type { IncomingMessage } from 'node:http';
import { FailedAuthLimiter, RateLimitedAuthenticator } from './failed-auth-limiter';

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

describe('RateLimitedAuthenticator', () => {
  const alice = { name: 'alice', groups: [], method: 'pat' };
  function gate(limit = 3) {
    const limiter = new FailedAuthLimiter({ limit, windowMs: 60_000 });
    const auth = new RateLimitedAuthenticator(
      {
        authenticate: (req) => {
          const token = req.headers.authorization;
          if (token === 'good') return { outcome: 'authenticated', caller: alice };
          if (token === 'csrf') return { outcome: 'rejected', message: 'csrf', notAGuess: true };
          return { outcome: 'rejected', message: 'bad' };
        },
      },
      limiter,
      () => '10.0.0.1',
    );
    const as = (authorization: string) =>
      auth.authenticate({ headers: { authorization } } as unknown as IncomingMessage);
    return { as, limiter };
  }

  it('attack: bogus tokens from a shared address → they get 429, a valid credential still passes', async () => {
    const { as } = gate();
    for (let i = 0; i < 3; i++) expect((await as('bogus')).outcome).toBe('rejected');
    expect(await as('bogus')).toMatchObject({ outcome: 'throttled', retryAfterSeconds: 60 });
    expect(await as('good')).toEqual({ outcome: 'authenticated', caller: alice });
  });

  it('attack: CSRF failures to lock a victim out → not counted', async () => {
    const { as, limiter } = gate();
    for (let i = 0; i < 10; i++) expect((await as('csrf')).outcome).toBe('rejected');
    expect(limiter.retryAfterSeconds('10.0.0.1')).toBe(0);
  });
});
