import { RequestLimits } from './request-limits';

function limits(overrides: Partial<ConstructorParameters<typeof RequestLimits>[0]> = {}) {
  let now = 1_000_000;
  const subject = new RequestLimits({
    userRate: 2,
    userBurst: 4,
    tokenRate: 1,
    tokenBurst: 2,
    userLongRunning: 2,
    now: () => now,
    ...overrides,
  });
  return { subject, advance: (ms: number) => (now += ms) };
}

describe('RequestLimits', () => {
  it('serves a burst, then holds a user to the rate with a Retry-After that is honest', () => {
    const { subject, advance } = limits();
    for (let i = 0; i < 4; i++) expect(subject.admitRequest({ name: 'bob' })).toBeUndefined();
    expect(subject.admitRequest({ name: 'bob' })).toMatchObject({ limit: 'user-rate', retryAfterSeconds: 1 });
    // Another user has a bucket of their own.
    expect(subject.admitRequest({ name: 'carol' })).toBeUndefined();
    advance(500); // one token back at 2/s
    expect(subject.admitRequest({ name: 'bob' })).toBeUndefined();
    expect(subject.admitRequest({ name: 'bob' })).toBeDefined();
  });

  it("throttles a token before it uses up its owner's rate", () => {
    const { subject } = limits();
    const script = { name: 'alice', tokenId: 't1' };
    expect(subject.admitRequest(script)).toBeUndefined();
    expect(subject.admitRequest(script)).toBeUndefined();
    expect(subject.admitRequest(script)).toMatchObject({ limit: 'token-rate' });
    expect(subject.admitRequest(script)).toMatchObject({ limit: 'token-rate' });
    // The refused token requests took nothing from alice: two of her four remain.
    expect(subject.admitRequest({ name: 'alice' })).toBeUndefined();
    expect(subject.admitRequest({ name: 'alice' })).toBeUndefined();
    expect(subject.admitRequest({ name: 'alice' })).toMatchObject({ limit: 'user-rate' });
  });

  it('0 turns a rate off', () => {
    const { subject } = limits({ userRate: 0, tokenRate: 0 });
    for (let i = 0; i < 1000; i++)
      expect(subject.admitRequest({ name: 'bob', tokenId: 't' })).toBeUndefined();
  });

  it('counts long-running requests per user and releases each exactly once', () => {
    const { subject } = limits();
    const first = subject.openLongRunning({ name: 'bob' });
    const second = subject.openLongRunning({ name: 'bob' });
    expect(typeof first).toBe('function');
    expect(typeof second).toBe('function');
    expect(subject.openLongRunning({ name: 'bob' })).toMatchObject({ limit: 'user-longrunning' });
    expect(typeof subject.openLongRunning({ name: 'carol' })).toBe('function');
    (first as () => void)();
    (first as () => void)(); // twice: still one slot back, not two
    expect(typeof subject.openLongRunning({ name: 'bob' })).toBe('function');
    expect(subject.openLongRunning({ name: 'bob' })).toMatchObject({ limit: 'user-longrunning' });
  });
});
