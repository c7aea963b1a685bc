// Each step of the proxy chain alone, with fakes: what it returns when it lets a request on, and
// the Status and audit decision of every refusal it can make. (kube-proxy-chain.spec.ts runs the
// steps together through real sockets; this file pins each step's own contract.)
import type * as http from 'node:http';
import pino from 'pino';
import type { AccessAttributes, AccessDecision, Identity, RequestInfo } from '@kgw/kube';
import type { AuditSink } from '../audit/audit-sink';
import type { AuthenticatedCaller, MappedIdentity } from '../identity/caller';
import type { GatewayAuthResult } from '../auth/gateway-auth';
import type { GatewayPolicy, PolicyDecision } from '../auth/gateway-policy';
import {
  actingIdentity,
  auditUnavailable,
  checkPolicy,
  checkRbac,
  checkUpgrade,
  followRequested,
  identifyCaller,
  Refusal,
  resolveTarget,
  serviceAccountCredential,
  type AccessReviews,
} from './chain-steps';

const alice: AuthenticatedCaller = { name: 'alice', groups: ['dev'], method: 'pat', tokenId: 't1' };
const aliceInKube: MappedIdentity = { username: 'oidc:alice', groups: ['dev'] };
const podGet: AccessAttributes = {
  kind: 'resource',
  verb: 'get',
  group: '',
  version: 'v1',
  resource: 'pods',
  subresource: '',
  namespace: 'default',
  name: 'nginx',
};
const allow: AccessDecision = { allowed: true, denied: false, reason: 'RBAC: ok', evaluationError: '' };
const deny: AccessDecision = { allowed: false, denied: true, reason: 'no binding', evaluationError: '' };
const silent = pino({ level: 'silent' });

/** The parts of a request the steps read; a plain object stands in for the socket-backed one. */
function request(
  method: string,
  url: string,
  headers: Record<string, string | string[]> = {},
): http.IncomingMessage {
  const distinct = Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, Array.isArray(value) ? value : [value]]),
  );
  return { method, url, headers, headersDistinct: distinct } as unknown as http.IncomingMessage;
}

function policyAnswering(decision: PolicyDecision): GatewayPolicy {
  return { check: () => decision };
}

function reviewsAnswering(
  decide: (identity: Identity, attributes: AccessAttributes) => AccessDecision,
): AccessReviews & {
  asked: Array<{ identity: Identity; attributes: AccessAttributes }>;
} {
  const asked: Array<{ identity: Identity; attributes: AccessAttributes }> = [];
  return {
    asked,
    check: async (identity, attributes) => {
      asked.push({ identity, attributes });
      return decide(identity, attributes);
    },
  };
}

function refused(value: unknown): Refusal {
  expect(value).toBeInstanceOf(Refusal);
  return value as Refusal;
}

describe('0. auditUnavailable', () => {
  const sink = (accepting: boolean): AuditSink => ({
    instance: 'test',
    record: () => undefined,
    accepting: () => accepting,
    close: async () => undefined,
  });

  it('lets a request on while the audit trail takes records', () => {
    expect(auditUnavailable(sink(true))).toBeUndefined();
  });

  it('refuses with 503 and Retry-After when it cannot (nothing is served unaudited)', () => {
    const refusal = refused(auditUnavailable(sink(false)));
    expect(refusal.status.code).toBe(503);
    expect(refusal.status.details?.retryAfterSeconds).toBe(5);
    expect(refusal.decision).toBe('error');
  });
});

describe('1 + 3. identifyCaller', () => {
  const auth = (who: GatewayAuthResult) => ({ authenticate: async () => who });

  it('returns the caller and the mapped identity', async () => {
    const who = await identifyCaller(
      auth({ ok: true, caller: alice, identity: aliceInKube, admin: false }),
      request('GET', '/api'),
    );
    expect(who).toEqual({ ok: true, caller: alice, identity: aliceInKube, admin: false });
  });

  it.each([
    [
      'no credential → 401, told apart from a rejected one',
      { ok: false, refusal: 'no-credential' },
      401,
      'unauthenticated',
      'no credential',
    ],
    [
      'a rejected credential → 401',
      { ok: false, refusal: 'rejected' },
      401,
      'unauthenticated',
      'credential rejected',
    ],
    [
      'too many failures from one address → 429',
      { ok: false, refusal: 'throttled', retryAfterSeconds: 7 },
      429,
      'unauthenticated',
      'too many failed authentications from this address',
    ],
    [
      'an identity the rules cannot map → 403 naming the gateway',
      { ok: false, refusal: 'unmapped', message: 'no rule maps alice', caller: alice },
      403,
      'deny',
      'identity mapping: no rule maps alice',
    ],
  ])('%s', async (_name, who, code, decision, reason) => {
    const refusal = refused(await identifyCaller(auth(who as GatewayAuthResult), request('GET', '/api')));
    expect(refusal.status.code).toBe(code);
    expect(refusal.decision).toBe(decision);
    expect(refusal.reason).toBe(reason);
  });

  it('keeps who was refused when they did authenticate (the audit names them)', async () => {
    const refusal = refused(
      await identifyCaller(
        auth({ ok: false, refusal: 'unmapped', message: 'no rule', caller: alice } as GatewayAuthResult),
        request('GET', '/api'),
      ),
    );
    expect(refusal.caller).toBe(alice);
    expect(refusal.status.message).toMatch(/^kgw: /);
  });
});

describe('3b. actingIdentity (kubectl --as)', () => {
  const who = { caller: alice, identity: aliceInKube };

  it('is the caller’s own identity when nobody else is asked for, without a review', async () => {
    const reviews = reviewsAnswering(() => allow);
    const acting = await actingIdentity(
      policyAnswering({ allowed: true }),
      reviews,
      request('GET', '/api'),
      who,
      false,
    );
    expect(acting).toEqual({ identity: aliceInKube });
    expect(reviews.asked).toHaveLength(0);
  });

  it('is the asked identity when RBAC lets the caller impersonate every part of it', async () => {
    const reviews = reviewsAnswering(() => allow);
    const acting = await actingIdentity(
      policyAnswering({ allowed: true }),
      reviews,
      request('GET', '/api', { 'impersonate-user': 'bob', 'impersonate-group': ['ops'] }),
      who,
      false,
    );
    expect(acting).toMatchObject({ identity: { username: 'bob', groups: ['ops'] } });
    expect((acting as { impersonation: string }).impersonation).toBe(
      'impersonating "bob" as asked by "oidc:alice"',
    );
    // One review per part, each as the caller's own mapped identity.
    expect(reviews.asked.map((ask) => ask.attributes)).toEqual([
      expect.objectContaining({ verb: 'impersonate', resource: 'users', name: 'bob' }),
      expect.objectContaining({ verb: 'impersonate', resource: 'groups', name: 'ops' }),
    ]);
    expect(reviews.asked.every((ask) => ask.identity.username === 'oidc:alice')).toBe(true);
  });

  it.each([
    [
      'a second Impersonate-User header (which one wins is ambiguous) → 400',
      { 'impersonate-user': ['bob', 'eve'] },
      aliceInKube,
      allow,
      400,
    ],
    ['a group without a user → 400', { 'impersonate-group': 'ops' }, aliceInKube, allow, 400],
    [
      'impersonation by a caller mapped to a service-account token → 403',
      { 'impersonate-user': 'bob' },
      { ...aliceInKube, tokenRequest: { namespace: 'ns', name: 'sa' } },
      allow,
      403,
    ],
    [
      'impersonating someone RBAC does not let the caller be → 403',
      { 'impersonate-user': 'bob' },
      aliceInKube,
      deny,
      403,
    ],
  ])('%s', async (_name, headers, identity, rbac, code) => {
    const refusal = refused(
      await actingIdentity(
        policyAnswering({ allowed: true }),
        reviewsAnswering(() => rbac),
        request('GET', '/api', headers),
        { caller: alice, identity },
        false,
      ),
    );
    expect(refusal.status.code).toBe(code);
    expect(refusal.decision).toBe('deny');
    expect(refusal.reason).toMatch(/^impersonation/);
  });

  it('is narrowed by the gateway policy before RBAC is asked', async () => {
    const reviews = reviewsAnswering(() => allow);
    const refusal = refused(
      await actingIdentity(
        policyAnswering({ allowed: false, message: 'this token is read-only' }),
        reviews,
        request('GET', '/api', { 'impersonate-user': 'bob' }),
        who,
        false,
      ),
    );
    expect(refusal.status.code).toBe(403);
    expect(refusal.reason).toBe('gateway policy: this token is read-only');
    expect(reviews.asked).toHaveLength(0);
  });
});

describe('4. resolveTarget and 4b. checkUpgrade', () => {
  it('resolves the attributes the API server will see', () => {
    const info = resolveTarget(request('GET', '/api/v1/namespaces/default/pods/nginx')) as RequestInfo;
    expect(info).toMatchObject({ verb: 'get', resource: 'pods', namespace: 'default', name: 'nginx' });
  });

  it.each([
    [
      'an encoded slash the API server would decode differently → 400',
      '/api/v1/namespaces/default/pods/a%2Fb',
    ],
    ['a dot segment that moves the request elsewhere → 400', '/api/v1/namespaces/default/pods/../secrets/x'],
  ])('%s', (_name, url) => {
    const refusal = refused(resolveTarget(request('GET', url)));
    expect(refusal.status.code).toBe(400);
    expect(refusal.reason).toMatch(/^rejected path: /);
  });

  it('lets an upgrade on where the API server streams (exec over SPDY, pod proxy)', () => {
    const exec = request('POST', '/api/v1/namespaces/default/pods/nginx/exec?command=sh', {
      upgrade: 'SPDY/3.1',
    });
    expect(checkUpgrade(exec, resolveTarget(exec) as RequestInfo)).toBeUndefined();
    const proxy = request('GET', '/api/v1/namespaces/default/pods/nginx/proxy/', { upgrade: 'websocket' });
    expect(checkUpgrade(proxy, resolveTarget(proxy) as RequestInfo)).toBeUndefined();
  });

  it('refuses an upgrade smuggled onto a path that does not stream → 400', () => {
    const smuggled = request('GET', '/api/v1/namespaces/default/secrets', { upgrade: 'websocket' });
    const refusal = refused(checkUpgrade(smuggled, resolveTarget(smuggled) as RequestInfo));
    expect(refusal.status.code).toBe(400);
    expect(refusal.decision).toBe('deny');
  });
});

describe('5a. checkPolicy', () => {
  it('lets on what the policy allows, and refuses with the policy’s own message', () => {
    expect(
      checkPolicy(policyAnswering({ allowed: true }), alice, podGet, { upgrade: false }),
    ).toBeUndefined();
    const refusal = refused(
      checkPolicy(policyAnswering({ allowed: false, message: 'namespace not in scope' }), alice, podGet, {
        upgrade: false,
      }),
    );
    expect(refusal.status).toMatchObject({
      code: 403,
      reason: 'Forbidden',
      message: 'kgw: namespace not in scope',
    });
    expect(refusal.reason).toBe('gateway policy: namespace not in scope');
  });
});

describe('5b. checkRbac', () => {
  it('asks as the API server will see the identity: with system:authenticated added', async () => {
    const reviews = reviewsAnswering(() => allow);
    expect(await checkRbac(reviews, aliceInKube, podGet)).toBe(allow);
    expect(reviews.asked[0].identity.groups).toEqual(['dev', 'system:authenticated']);
  });

  it('refuses what RBAC denies with a 403 worded like the API server’s', async () => {
    const refusal = refused(
      await checkRbac(
        reviewsAnswering(() => deny),
        aliceInKube,
        podGet,
      ),
    );
    expect(refusal.status.code).toBe(403);
    expect(refusal.status.message).toContain(
      'pods "nginx" is forbidden: User "oidc:alice" cannot get resource "pods"',
    );
    expect(refusal.reason).toBe('no binding');
  });
});

describe('5c. serviceAccountCredential', () => {
  const saIdentity: MappedIdentity = {
    username: 'system:serviceaccount:ns:sa',
    groups: [],
    tokenRequest: { namespace: 'ns', name: 'sa' },
  };

  it('is undefined for impersonation (the gateway credential is used)', async () => {
    expect(await serviceAccountCredential(undefined, aliceInKube, silent, 'r1')).toBeUndefined();
  });

  it('is the service account’s own bearer token in token-request mode', async () => {
    const tokens = { tokenFor: async (ns: string, name: string) => `token-of-${ns}-${name}` };
    expect(await serviceAccountCredential(tokens, saIdentity, silent, 'r1')).toBe('Bearer token-of-ns-sa');
  });

  it.each([
    ['no token source configured', undefined],
    ['the TokenRequest failed', { tokenFor: async () => Promise.reject(new Error('upstream down')) }],
  ])('refuses with 503 when %s, never falling back to the gateway credential', async (_name, tokens) => {
    const refusal = refused(await serviceAccountCredential(tokens, saIdentity, silent, 'r1'));
    expect(refusal.status.code).toBe(503);
    expect(refusal.decision).toBe('error');
    expect(refusal.status.message).toContain('ns/sa');
  });
});

describe('fidelity: PodLogOptions.follow as the API server converts it (Convert_Slice_string_To_bool)', () => {
  it.each([
    { query: 'follow=true', follow: true },
    { query: 'follow=1', follow: true },
    // Spellings a `follow=(true|1)` pattern missed: each held a stream outside the long-running limit.
    { query: 'follow=TRUE', follow: true },
    { query: 'follow=yes', follow: true },
    { query: 'follow=%74rue', follow: true },
    { query: 'follow=', follow: true },
    { query: 'follow', follow: true },
    { query: 'follow=false', follow: false },
    { query: 'follow=FaLsE', follow: false },
    { query: 'follow=0', follow: false },
    { query: 'tailLines=1', follow: false },
  ])('F4 $query → follow $follow', ({ query, follow }) => {
    expect(followRequested(`/api/v1/namespaces/default/pods/nginx/log?${query}`)).toBe(follow);
  });
});
