import type { AccessAttributes } from './access-attributes';
import type { Identity } from './impersonation';
import {
  AccessReviewCache,
  AccessReviewError,
  SubjectAccessReviewClient,
  SUBJECT_ACCESS_REVIEW_PATH,
  type AccessDecision,
  type AccessReviewer,
  type ReviewHttpRequest,
  type ReviewTransport,
} from './subject-access-review';

const getPod: AccessAttributes = {
  kind: 'resource',
  verb: 'get',
  group: '',
  version: 'v1',
  resource: 'pods',
  subresource: '',
  namespace: 'ns',
  name: 'p',
};
const alice: Identity = {
  username: 'alice',
  uid: 'u1',
  groups: ['dev', 'system:authenticated'],
  extra: { 'kgw.io/token-id': ['t1'] },
};
const allow: AccessDecision = { allowed: true, denied: false, reason: 'ok', evaluationError: '' };
const deny: AccessDecision = { allowed: false, denied: false, reason: '', evaluationError: '' };

/** A strict fake API server: checks every request it gets, answers from a script. */
function strictTransport(answer: (request: ReviewHttpRequest) => { statusCode: number; body: unknown }): {
  transport: ReviewTransport;
  requests: ReviewHttpRequest[];
} {
  const requests: ReviewHttpRequest[] = [];
  const transport: ReviewTransport = async (request) => {
    requests.push(request);
    expect(request.method).toBe('POST');
    expect(request.path).toBe(SUBJECT_ACCESS_REVIEW_PATH);
    for (const name of Object.keys(request.headers)) {
      // The review is the gateway's own request: impersonating would review the wrong subject.
      expect(name.toLowerCase().startsWith('impersonate-')).toBe(false);
      expect(name.toLowerCase()).not.toBe('authorization');
    }
    const { statusCode, body } = answer(request);
    return { statusCode, body: typeof body === 'string' ? body : JSON.stringify(body) };
  };
  return { transport, requests };
}

describe('SubjectAccessReviewClient', () => {
  it('posts the full identity and resource attributes, and reads the status', async () => {
    const { transport, requests } = strictTransport(() => ({
      statusCode: 201,
      body: {
        kind: 'SubjectAccessReview',
        status: { allowed: true, reason: 'RBAC: allowed by RoleBinding "x/ns"' },
      },
    }));
    const decision = await new SubjectAccessReviewClient(transport).review(alice, {
      ...getPod,
      verb: 'create',
      subresource: 'exec',
    });
    expect(decision).toEqual({
      allowed: true,
      denied: false,
      reason: 'RBAC: allowed by RoleBinding "x/ns"',
      evaluationError: '',
    });
    expect(JSON.parse(requests[0].body)).toEqual({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        resourceAttributes: {
          namespace: 'ns',
          verb: 'create',
          group: '',
          version: 'v1',
          resource: 'pods',
          subresource: 'exec',
          name: 'p',
        },
        user: 'alice',
        groups: ['dev', 'system:authenticated'],
        extra: { 'kgw.io/token-id': ['t1'] },
        uid: 'u1',
      },
    });
    expect(requests[0].headers).toEqual({ 'Content-Type': 'application/json', Accept: 'application/json' });
  });

  it('posts non-resource attributes', async () => {
    const { transport, requests } = strictTransport(() => ({
      statusCode: 201,
      body: { status: { allowed: false } },
    }));
    const decision = await new SubjectAccessReviewClient(transport).review(
      { username: 'bob', groups: [] },
      { kind: 'nonResource', verb: 'get', path: '/healthz' },
    );
    expect(decision.allowed).toBe(false);
    expect(JSON.parse(requests[0].body).spec).toEqual({
      nonResourceAttributes: { path: '/healthz', verb: 'get' },
      user: 'bob',
      groups: [],
    });
  });

  it('treats an explicit deny as not allowed', async () => {
    const { transport } = strictTransport(() => ({
      statusCode: 201,
      body: { status: { allowed: true, denied: true, reason: 'webhook says no' } },
    }));
    expect(await new SubjectAccessReviewClient(transport).review(alice, getPod)).toEqual({
      allowed: false,
      denied: true,
      reason: 'webhook says no',
      evaluationError: '',
    });
  });

  it.each([
    [
      '403 from the API server',
      403,
      { kind: 'Status', message: 'subjectaccessreviews is forbidden' },
      /answered 403: subjectaccessreviews is forbidden/,
    ],
    ['500 without a Status', 500, 'oops', /answered 500$/],
    ['no status', 201, {}, /no status/],
    ['not JSON', 201, '<html>', /not JSON/],
    ['allowed not a boolean', 201, { status: { allowed: 'yes' } }, /not a boolean/],
  ])('fails on %s', async (_description, statusCode, body, message) => {
    const { transport } = strictTransport(() => ({ statusCode, body }));
    await expect(new SubjectAccessReviewClient(transport).review(alice, getPod)).rejects.toThrow(message);
  });

  it('wraps transport errors', async () => {
    const client = new SubjectAccessReviewClient(() => Promise.reject(new Error('ECONNREFUSED')));
    await expect(client.review(alice, getPod)).rejects.toBeInstanceOf(AccessReviewError);
  });
});

/** A reviewer that records calls and lets each test decide when and how they finish. */
class ScriptedReviewer implements AccessReviewer {
  readonly calls: Array<{
    identity: Identity;
    attributes: AccessAttributes;
    settle: (result: AccessDecision | Error) => void;
  }> = [];
  decide: (identity: Identity) => AccessDecision | Error | undefined = () => allow;

  review(identity: Identity, attributes: AccessAttributes): Promise<AccessDecision> {
    return new Promise((resolve, reject) => {
      const settle = (result: AccessDecision | Error): void =>
        result instanceof Error ? reject(result) : resolve(result);
      this.calls.push({ identity, attributes, settle });
      const immediate = this.decide(identity);
      if (immediate !== undefined) settle(immediate);
    });
  }
}

describe('AccessReviewCache', () => {
  let now = 0;
  const clock = (): number => now;
  beforeEach(() => {
    now = 1_000_000;
  });

  it('reuses an allowed decision until its TTL ends', async () => {
    const reviewer = new ScriptedReviewer();
    const cache = new AccessReviewCache(reviewer, { allowedTtlMs: 1000, deniedTtlMs: 100, now: clock });
    await cache.check(alice, getPod);
    now += 999;
    await cache.check(alice, getPod);
    expect(reviewer.calls).toHaveLength(1);
    now += 1;
    await cache.check(alice, getPod);
    expect(reviewer.calls).toHaveLength(2);
  });

  it('keeps denials for their own, shorter TTL', async () => {
    const reviewer = new ScriptedReviewer();
    reviewer.decide = () => deny;
    const cache = new AccessReviewCache(reviewer, { allowedTtlMs: 1000, deniedTtlMs: 100, now: clock });
    expect(await cache.check(alice, getPod)).toEqual(deny);
    now += 99;
    await cache.check(alice, getPod);
    expect(reviewer.calls).toHaveLength(1);
    now += 1;
    await cache.check(alice, getPod);
    expect(reviewer.calls).toHaveLength(2);
  });

  it.each<[string, Identity]>([
    ['one more group (system:masters)', { ...alice, groups: [...alice.groups, 'system:masters'] }],
    ['one group fewer', { ...alice, groups: ['dev'] }],
    ['a different group', { ...alice, groups: ['ops', 'system:authenticated'] }],
    ['a different extra value', { ...alice, extra: { 'kgw.io/token-id': ['t2'] } }],
    ['an extra key more', { ...alice, extra: { ...alice.extra, 'kgw.io/scope': ['admin'] } }],
    ['no extra at all', { ...alice, extra: undefined }],
    ['extra values split differently', { ...alice, extra: { 'kgw.io/token-id': ['t1', ''] } }],
    ['a different uid', { ...alice, uid: 'u2' }],
    ['no uid', { ...alice, uid: undefined }],
    ['a different username', { ...alice, username: 'alice2' }],
    ['a group that looks like a JSON join', { ...alice, groups: ['dev","system:authenticated'] }],
  ])('never shares an entry with an identity differing by %s', async (_description, other) => {
    const reviewer = new ScriptedReviewer();
    reviewer.decide = (identity) => (identity === alice ? deny : allow);
    const cache = new AccessReviewCache(reviewer, { now: clock });
    expect((await cache.check(alice, getPod)).allowed).toBe(false);
    expect((await cache.check(other, getPod)).allowed).toBe(true);
    expect(reviewer.calls.map((call) => call.identity)).toEqual([alice, other]);
  });

  it('shares entries across group and extra-key order', async () => {
    const reviewer = new ScriptedReviewer();
    const cache = new AccessReviewCache(reviewer, { now: clock });
    const twoKeys: Identity = { username: 'a', groups: ['x', 'y'], extra: { k1: ['1'], k2: ['2'] } };
    await cache.check(twoKeys, getPod);
    await cache.check({ username: 'a', groups: ['y', 'x'], extra: { k2: ['2'], k1: ['1'] } }, getPod);
    expect(reviewer.calls).toHaveLength(1);
  });

  it('keys on every attribute', async () => {
    const reviewer = new ScriptedReviewer();
    const cache = new AccessReviewCache(reviewer, { now: clock });
    const variants: AccessAttributes[] = [
      getPod,
      { ...getPod, verb: 'create' },
      { ...getPod, namespace: 'other' },
      { ...getPod, name: 'q' },
      { ...getPod, subresource: 'exec' },
      { ...getPod, group: 'apps' },
      { ...getPod, version: 'v2' },
      { ...getPod, resource: 'secrets' },
      { kind: 'nonResource', verb: 'get', path: '/healthz' },
      { kind: 'nonResource', verb: 'get', path: '/healthz/' },
    ];
    for (const attributes of variants) await cache.check(alice, attributes);
    expect(reviewer.calls).toHaveLength(variants.length);
  });

  it('runs one review for identical concurrent checks', async () => {
    const reviewer = new ScriptedReviewer();
    reviewer.decide = () => undefined;
    const cache = new AccessReviewCache(reviewer, { now: clock });
    const checks = [
      cache.check(alice, getPod),
      cache.check({ ...alice }, getPod),
      cache.check(alice, { ...getPod }),
    ];
    expect(reviewer.calls).toHaveLength(1);
    reviewer.calls[0].settle(allow);
    expect(await Promise.all(checks)).toEqual([allow, allow, allow]);
    await cache.check(alice, getPod);
    expect(reviewer.calls).toHaveLength(1);
  });

  it('does not cache failures, and shares one failure among waiters', async () => {
    const reviewer = new ScriptedReviewer();
    reviewer.decide = () => undefined;
    const cache = new AccessReviewCache(reviewer, { now: clock });
    const first = cache.check(alice, getPod);
    const second = cache.check(alice, getPod);
    reviewer.calls[0].settle(new AccessReviewError('boom', 0));
    await expect(first).rejects.toThrow('boom');
    await expect(second).rejects.toThrow('boom');
    expect(cache.size).toBe(0);
    reviewer.decide = () => allow;
    expect(await cache.check(alice, getPod)).toEqual(allow);
    expect(reviewer.calls).toHaveLength(2);
  });

  it('does not cache a denial that carries an evaluation error', async () => {
    const reviewer = new ScriptedReviewer();
    reviewer.decide = () => ({ ...deny, evaluationError: 'webhook timed out' });
    const cache = new AccessReviewCache(reviewer, { now: clock });
    await cache.check(alice, getPod);
    await cache.check(alice, getPod);
    expect(reviewer.calls).toHaveLength(2);
  });

  it('holds its size bound and evicts the least recently used', async () => {
    const reviewer = new ScriptedReviewer();
    const cache = new AccessReviewCache(reviewer, { maxEntries: 3, now: clock });
    const user = (name: string): Identity => ({ username: name, groups: [] });
    for (const name of ['a', 'b', 'c']) await cache.check(user(name), getPod);
    await cache.check(user('a'), getPod); // a is now the most recent
    await cache.check(user('d'), getPod); // evicts b
    expect(cache.size).toBe(3);
    expect(reviewer.calls).toHaveLength(4);
    await cache.check(user('a'), getPod);
    await cache.check(user('c'), getPod);
    await cache.check(user('d'), getPod);
    expect(reviewer.calls).toHaveLength(4);
    await cache.check(user('b'), getPod);
    expect(reviewer.calls).toHaveLength(5);
    for (let index = 0; index < 50; index++) await cache.check(user(`u${index}`), getPod);
    expect(cache.size).toBe(3);
  });
});
