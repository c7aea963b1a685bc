// The proxy chain with fake dependencies (who is calling, policy, RBAC, service-account tokens,
// audit) in front of a real loopback HTTPS upstream that counts what reaches it. Every refusal
// path: its Status, its one audit record, and nothing sent upstream. And the order: nothing
// reaches the upstream before authorization has answered.
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createPki } from '@kgw/kube-sim';
import { loadUpstream, type AccessDecision, type Upstream } from '@kgw/kube';
import type { AuditSink } from '../audit/audit-sink';
import type { AuditEvent } from '../audit/audit-event';
import type { AuthenticatedCaller, MappedIdentity } from '../identity/caller';
import type { GatewayAuthResult } from '../auth/gateway-auth';
import type { PolicyDecision } from '../auth/gateway-policy';
import { ClientAddressResolver } from './client-address';
import { KubeProxyChain } from './kube-proxy-chain';

const alice: AuthenticatedCaller = { name: 'alice', groups: ['dev'], method: 'pat', tokenId: 'tok1' };
const aliceInKube: MappedIdentity = { username: 'oidc:alice', groups: ['dev'] };
const allow: AccessDecision = {
  allowed: true,
  denied: false,
  reason: 'RBAC: allowed by test',
  evaluationError: '',
};
const deny: AccessDecision = { allowed: false, denied: true, reason: 'no binding', evaluationError: '' };

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** What each fake answers; reset before every test. */
let script: {
  accepting: boolean;
  who: GatewayAuthResult;
  policy: PolicyDecision;
  rbac: () => Promise<AccessDecision>;
  saToken: () => Promise<string>;
};
/** The order things happened in: 'authenticate', 'rbac', 'upstream'. */
let steps: string[];
let events: AuditEvent[];
let eventWaiters: Array<() => void>;
let upstreamSeen: Seen[];

let upstreamServer: https.Server;
let upstream: Upstream;
let unreachable: Upstream;
let gateway: http.Server;
let gatewayPort: number;
let chainFor: (up: Upstream) => KubeProxyChain;
let current: KubeProxyChain;

beforeAll(async () => {
  const pki = await createPki(['localhost'], ['127.0.0.1']);
  upstreamServer = https.createServer({ key: pki.serving.keyPem, cert: pki.serving.certPem }, (req, res) => {
    steps.push('upstream');
    upstreamSeen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"kind":"Pod"}');
  });
  upstreamServer.on('upgrade', (req: http.IncomingMessage, socket: import('node:net').Socket) => {
    steps.push('upstream');
    upstreamSeen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: SPDY/3.1\r\nConnection: Upgrade\r\n\r\n');
  });
  await new Promise<void>((resolve) => upstreamServer.listen(0, '127.0.0.1', resolve));
  const port = (upstreamServer.address() as AddressInfo).port;
  upstream = loadUpstream({
    mode: 'direct',
    url: `https://127.0.0.1:${port}`,
    caPem: pki.ca.certPem,
    token: 'gw-token',
  });
  // A port nothing listens on (the upstream's, after a server there closed).
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  unreachable = loadUpstream({
    mode: 'direct',
    url: `https://127.0.0.1:${closedPort}`,
    caPem: pki.ca.certPem,
    token: 't',
  });

  const audit: AuditSink = {
    instance: 'test',
    record(event) {
      events.push(event);
      for (const wake of eventWaiters.splice(0)) wake();
    },
    accepting: () => script.accepting,
    close: async () => undefined,
  };
  chainFor = (up) =>
    new KubeProxyChain({
      auth: {
        authenticate: async () => {
          steps.push('authenticate');
          return script.who;
        },
      },
      policy: { check: () => script.policy },
      clientAddress: new ClientAddressResolver([]),
      accessReviews: {
        check: async () => {
          steps.push('rbac');
          return script.rbac();
        },
      },
      upstream: up,
      audit,
      logger: pino({ level: 'silent' }),
      instance: 'test',
      streamKeepaliveMs: 30_000,
      serviceAccountTokens: { tokenFor: () => script.saToken() },
    });
  gateway = http.createServer((req, res) => current.handleRequest(req, res));
  gateway.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) =>
    current.handleUpgrade(req, socket, head),
  );
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  gatewayPort = (gateway.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => gateway.close(() => resolve()));
  upstream.close();
  unreachable.close();
  upstreamServer.closeAllConnections();
  await new Promise<void>((resolve) => upstreamServer.close(() => resolve()));
});

beforeEach(() => {
  script = {
    accepting: true,
    who: { ok: true, caller: alice, identity: aliceInKube, admin: false },
    policy: { allowed: true },
    rbac: async () => allow,
    saToken: async () => 'sa-token',
  };
  steps = [];
  events = [];
  eventWaiters = [];
  upstreamSeen = [];
  current = chainFor(upstream);
});

async function oneAuditEvent(): Promise<AuditEvent> {
  while (events.length === 0) await new Promise<void>((resolve) => eventWaiters.push(resolve));
  return events[0];
}

function send(
  path: string,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ port: gatewayPort, host: '127.0.0.1', path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** An upgrade request; resolves with the raw status line the gateway answered. */
function sendUpgrade(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      port: gatewayPort,
      host: '127.0.0.1',
      path,
      method: 'POST',
      agent: false,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'SPDY/3.1',
        'X-Stream-Protocol-Version': 'v4.channel.k8s.io',
      },
    });
    req.on('upgrade', (res: http.IncomingMessage, socket: import('node:net').Socket) => {
      socket.destroy();
      resolve(`${res.statusCode}`);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(`${res.statusCode}`);
    });
    req.on('error', reject);
    req.end();
  });
}

const POD = '/api/v1/namespaces/default/pods/nginx';

describe('KubeProxyChain refusals: the Status, one audit record, nothing upstream', () => {
  const cases: Array<{
    name: string;
    arrange: () => void;
    path?: string;
    upstream?: () => Upstream;
    status: number;
    message: RegExp;
    decision: AuditEvent['decision'];
    reason: RegExp;
    authUser?: string;
    upstreamReached?: boolean;
  }> = [
    {
      name: 'audit trail cannot take records (nothing served unaudited)',
      arrange: () => (script.accepting = false),
      status: 503,
      message: /audit trail/,
      decision: 'error',
      reason: /^audit unavailable$/,
    },
    {
      name: 'no credential (never the gateway identity)',
      arrange: () =>
        (script.who = {
          ok: false,
          refusal: 'no-credential',
          status: 401,
          message: 'Authentication required.',
        }),
      status: 401,
      message: /Unauthorized/,
      decision: 'unauthenticated',
      reason: /^no credential$/,
    },
    {
      name: 'credential rejected (a guessed or expired token)',
      arrange: () => (script.who = { ok: false, refusal: 'rejected', status: 401, message: 'unknown token' }),
      status: 401,
      message: /Unauthorized/,
      decision: 'unauthenticated',
      reason: /^credential rejected$/,
    },
    {
      name: 'throttled address (token guessing)',
      arrange: () =>
        (script.who = {
          ok: false,
          refusal: 'throttled',
          status: 429,
          message: 'slow down',
          retryAfterSeconds: 7,
        }),
      status: 429,
      message: /too many failed authentication attempts/,
      decision: 'unauthenticated',
      reason: /too many failed authentications/,
    },
    {
      name: 'identity the mapper refuses (an IdP asserting system: groups)',
      arrange: () =>
        (script.who = {
          ok: false,
          refusal: 'unmapped',
          status: 403,
          message: 'group "system:masters" is reserved',
          caller: alice,
        }),
      status: 403,
      message: /^kgw: group "system:masters" is reserved$/,
      decision: 'deny',
      reason: /^identity mapping: group "system:masters" is reserved$/,
      authUser: 'alice',
    },
    {
      name: 'ambiguous path (an encoded slash the API server could read differently)',
      arrange: () => undefined,
      path: '/api/v1/namespaces/default/pods/a%2Fb',
      status: 400,
      message: /./,
      decision: 'deny',
      reason: /^rejected path: /,
      authUser: 'alice',
    },
    {
      name: 'gateway policy (a read-only token asking to delete)',
      arrange: () => (script.policy = { allowed: false, message: 'this token is read-only' }),
      status: 403,
      message: /^kgw: this token is read-only$/,
      decision: 'deny',
      reason: /^gateway policy: this token is read-only$/,
      authUser: 'alice',
    },
    {
      name: 'RBAC denies (worded like the API server)',
      arrange: () => (script.rbac = async () => deny),
      status: 403,
      message: /^pods "nginx" is forbidden: User "oidc:alice" cannot get resource "pods" .*no binding$/,
      decision: 'deny',
      reason: /^no binding$/,
      authUser: 'alice',
    },
    {
      name: 'service-account token unavailable (never falls back to impersonation)',
      arrange: () => {
        script.who = {
          ok: true,
          caller: alice,
          identity: { ...aliceInKube, tokenRequest: { namespace: 'team-a', name: 'robot' } },
          admin: false,
        };
        script.saToken = async () => {
          throw new Error('TokenRequest answered 403');
        };
      },
      status: 503,
      message: /service account team-a\/robot/,
      decision: 'error',
      reason: /^service-account token: TokenRequest answered 403$/,
      authUser: 'alice',
    },
    {
      name: 'API server unreachable',
      arrange: () => undefined,
      upstream: () => unreachable,
      status: 503,
      message: /could not be reached/,
      decision: 'error',
      reason: /^upstream: /,
      authUser: 'alice',
      upstreamReached: true,
    },
  ];

  it.each(cases)('$name', async (c) => {
    c.arrange();
    if (c.upstream) current = chainFor(c.upstream());
    const res = await send(c.path ?? POD, { authorization: 'Bearer whatever' });
    expect(res.status).toBe(c.status);
    const status = JSON.parse(res.body) as { kind: string; code: number; message: string };
    expect(status.kind).toBe('Status');
    expect(status.code).toBe(c.status);
    expect(status.message).toMatch(c.message);
    const event = await oneAuditEvent();
    expect(events).toHaveLength(1);
    expect(event.code).toBe(c.status);
    expect(event.decision).toBe(c.decision);
    expect(event.reason).toMatch(c.reason);
    expect(event.authUser).toBe(c.authUser);
    expect(upstreamSeen).toEqual([]);
    if (!c.upstreamReached) expect(steps).not.toContain('upstream');
    if (c.status === 429) expect(res.headers['retry-after']).toBe('7');
  });

  it('audit closed: the caller is not even authenticated', async () => {
    script.accepting = false;
    await send(POD);
    expect(steps).toEqual([]);
  });

  it('refuses an upgrade to a path that does not stream, on the raw socket, without going upstream', async () => {
    expect(await sendUpgrade('/api/v1/namespaces/default/pods')).toBe('400');
    const event = await oneAuditEvent();
    expect(event.decision).toBe('deny');
    expect(event.reason).toBe('upgrade to a path that does not stream');
    expect(upstreamSeen).toEqual([]);
    expect(steps).toEqual(['authenticate']);
  });

  it('refuses an upgrade RBAC denies, without going upstream', async () => {
    script.rbac = async () => deny;
    expect(await sendUpgrade('/api/v1/namespaces/default/pods/nginx/exec?command=sh&stdin=true')).toBe('403');
    const event = await oneAuditEvent();
    expect(event.decision).toBe('deny');
    expect(event.verb).toBe('create');
    expect(upstreamSeen).toEqual([]);
  });
});

describe('KubeProxyChain order and forwarding', () => {
  it('sends nothing upstream while authorization is pending, then forwards', async () => {
    let answer: (decision: AccessDecision) => void = () => undefined;
    let asked: () => void = () => undefined;
    const askedRbac = new Promise<void>((resolve) => (asked = resolve));
    script.rbac = () =>
      new Promise<AccessDecision>((resolve) => {
        answer = resolve;
        asked();
      });
    const response = send(POD, { authorization: 'Bearer whatever' });
    await askedRbac;
    // Give the chain every chance to jump ahead: a few turns of the event loop.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(upstreamSeen).toEqual([]);
    answer(allow);
    expect((await response).status).toBe(200);
    expect(steps).toEqual(['authenticate', 'rbac', 'upstream']);
    const event = await oneAuditEvent();
    expect(event).toMatchObject({
      decision: 'allow',
      reason: 'RBAC: allowed by test',
      code: 200,
      authUser: 'alice',
      authMethod: 'pat',
      tokenId: 'tok1',
      kubeUser: 'oidc:alice',
      kubeGroups: ['dev'],
      verb: 'get',
      resource: 'pods',
      namespace: 'default',
      name: 'nginx',
    });
  });

  it('forwards with the gateway credential and impersonation, never the client credential or identity headers', async () => {
    // (Impersonate-* from the client is an impersonation request, checked by RBAC: its own rows
    // are in test/proxy/security.e2e-spec.ts and test/security/hardening.e2e-spec.ts.)
    const res = await send(`${POD}?pretty=true`, {
      authorization: 'Bearer client-token',
      'x-remote-user': 'root',
      'x-remote-group': 'system:masters',
    });
    expect(res.status).toBe(200);
    expect(upstreamSeen).toHaveLength(1);
    const seen = upstreamSeen[0];
    expect(seen.url).toBe(`${POD}?pretty=true`);
    expect(seen.headers.authorization).toBe('Bearer gw-token');
    expect(seen.headers['impersonate-user']).toBe('oidc:alice');
    expect(seen.headers['impersonate-group']).toBe('dev');
    expect(seen.headers['x-remote-user']).toBeUndefined();
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('token-request mode: the service account token upstream, no impersonation', async () => {
    script.who = {
      ok: true,
      caller: alice,
      identity: {
        username: 'system:serviceaccount:team-a:robot',
        groups: [],
        tokenRequest: { namespace: 'team-a', name: 'robot' },
      },
      admin: false,
    };
    expect((await send(POD, { authorization: 'Bearer whatever' })).status).toBe(200);
    const seen = upstreamSeen[0];
    expect(seen.headers.authorization).toBe('Bearer sa-token');
    expect(Object.keys(seen.headers).filter((name) => name.startsWith('impersonate-'))).toEqual([]);
  });

  it('forwards an authorized upgrade after the checks and relays the 101', async () => {
    expect(await sendUpgrade('/api/v1/namespaces/default/pods/nginx/exec?command=sh&stdin=true')).toBe('101');
    expect(steps).toEqual(['authenticate', 'rbac', 'upstream']);
    expect(upstreamSeen[0].headers['impersonate-user']).toBe('oidc:alice');
    const event = await oneAuditEvent();
    expect(event).toMatchObject({ decision: 'allow', code: 101, transport: 'spdy', verb: 'create' });
  });
});

describe('KubeProxyChain last guard (issue #17, findings 2 and 3): every exchange has its record', () => {
  const failures: Array<{ attack: string; arrange: () => void; upgrade?: boolean }> = [
    {
      attack: 'the SubjectAccessReview cannot be made (API server error)',
      arrange: () =>
        (script.rbac = () => Promise.reject(new Error('SubjectAccessReview: 500 from the API server'))),
    },
    {
      attack: 'an authenticator throws',
      arrange: () => {
        current = new KubeProxyChain({
          ...(current as unknown as { deps: ConstructorParameters<typeof KubeProxyChain>[0] }).deps,
          auth: { authenticate: () => Promise.reject(new Error('token store down')) },
        });
      },
    },
    {
      attack: 'a mapped identity the header writer refuses (thrown while forwarding)',
      arrange: () => {
        script.who = { ok: true, caller: alice, identity: { username: 'alice ', groups: [] }, admin: false };
      },
    },
    {
      attack: 'the SubjectAccessReview cannot be made, on an upgrade',
      arrange: () => (script.rbac = () => Promise.reject(new Error('SubjectAccessReview timed out'))),
      upgrade: true,
    },
  ];

  it.each(failures)('3 attack: $attack → 500 Status and an audit record with the error', async (c) => {
    c.arrange();
    const path = c.upgrade ? `${POD}/exec?command=sh&stdout=true` : POD;
    if (c.upgrade) {
      expect(await sendUpgrade(path)).toBe('500');
    } else {
      const res = await send(path, { authorization: 'Bearer whatever' });
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', code: 500, reason: 'InternalError' });
    }
    const event = await oneAuditEvent();
    expect(event).toMatchObject({
      code: 500,
      decision: 'error',
      reason: expect.stringMatching(/^internal error: /),
    });
    expect(upstreamSeen).toEqual([]);
  });
});
