// The security suite of issue #17: one named row per attack found against the demo, each
// saying what the attacker tried and what must happen instead. docs/security.md lists every
// row with the test that proves it. Rows here run against one gateway stack with the built-in
// OpenID provider (users as in OIDC_USERS), a second issuer for bearer JWTs, 127.0.0.1 as a
// trusted proxy (so a row can speak for many client addresses) and a low failure limit.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { loadConfig } from '@kgw/config';
import {
  startDevOidcProvider,
  type RunningDevOidcProvider,
} from '../../apps/gateway/src/dev-oidc/dev-oidc-provider';
import { browserLogin } from '../support/browser-login';
import { CALLERS, startGatewayStack, type GatewayStack } from '../support/gateway-stack';

const FAILURE_LIMIT = 5;
const START_LIMIT = 20;
let stack: GatewayStack;
/** A second configured issuer whose `sub` values collide with the first one's. */
let otherIssuer: RunningDevOidcProvider;

beforeAll(async () => {
  otherIssuer = await startDevOidcProvider({ users: [], clients: [{ clientId: 'kgw' }] });
  stack = await startGatewayStack({
    oidc: true,
    env: {
      KGW_OIDC_BEARER_ISSUERS: otherIssuer.issuer,
      // The default username rule (kube-apiserver's): `<issuer>#<sub>`.
      KGW_OIDC_USERNAME_PREFIX: '',
      KGW_HTTP_TRUSTED_PROXIES: '127.0.0.1',
      KGW_AUTH_FAILURE_LIMIT: String(FAILURE_LIMIT),
      KGW_AUTH_ADMIN_GROUPS: 'kgw:admins',
      KGW_AUTH_LOGIN_START_LIMIT: String(START_LIMIT),
      KGW_HTTP_HEADERS_TIMEOUT_SECONDS: '2',
      KGW_HTTP_BODY_TIMEOUT_SECONDS: '2',
    },
  });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  await otherIssuer?.stop();
});

let addressCounter = 10;
/** A client address of its own (through the trusted proxy), so rows do not share a limit. */
function freshAddress(): string {
  return `198.51.100.${addressCounter++}`;
}

function bearer(token: string, address: string): Record<string, string> {
  return { authorization: `Bearer ${token}`, 'x-forwarded-for': address };
}

async function jwtFrom(provider: RunningDevOidcProvider, claims: Record<string, unknown>): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return provider.signWithProviderKey({
    iss: provider.issuer,
    aud: 'kgw',
    iat: now,
    exp: now + 600,
    ...claims,
  });
}

describe('finding 7: the failed-authentication limiter', () => {
  it("7a attack: bogus tokens from alice's address → they get 429, alice's valid token still 200", async () => {
    const address = freshAddress();
    let last = 0;
    for (let i = 0; i <= FAILURE_LIMIT; i++) {
      last = (
        await stack.request(undefined, '/api/v1/namespaces/default/pods', {
          headers: bearer(`kgw_bogus${i}aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`, address),
        })
      ).status;
    }
    expect(last).toBe(429);
    const alice = await stack.request(undefined, '/api/v1/namespaces/default/pods', {
      headers: bearer(CALLERS.alice.token, address),
    });
    expect(alice.status).toBe(200);
  });

  it('7b attack: CSRF failures on a valid session (a cross-site page) → not counted as guesses', async () => {
    const address = freshAddress();
    const { browser } = await browserLogin(stack, 'bob');
    for (let i = 0; i < FAILURE_LIMIT * 2; i++) {
      const forged = await browser.fetch(`${stack.url}/kgw/v1/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
        body: '{"name":"x"}',
      });
      expect(forged.status).toBe(401);
    }
    // The address has no failures on record: one bogus token is a plain 401, not 429.
    const bogus = await stack.request(undefined, '/api/v1/pods', { headers: bearer('nope', address) });
    expect(bogus.status).toBe(401);
  });

  it('7c attack: guesses from one client behind the trusted proxy → another client behind it unaffected', async () => {
    const guesser = freshAddress();
    for (let i = 0; i <= FAILURE_LIMIT; i++)
      await stack.request(undefined, '/api/v1/pods', { headers: bearer('nope', guesser) });
    expect(
      (await stack.request(undefined, '/api/v1/pods', { headers: bearer('nope', guesser) })).status,
    ).toBe(429);
    const neighbour = freshAddress();
    expect(
      (await stack.request(undefined, '/api/v1/pods', { headers: bearer('nope', neighbour) })).status,
    ).toBe(401);
  });
});

describe('finding 9: usernames from `sub` carry their issuer', () => {
  it('9 attack: the same `sub` from a second configured issuer → a different user (issuer#sub)', async () => {
    const ours = await jwtFrom(stack.oidc!, { sub: 'alice' });
    const theirs = await jwtFrom(otherIssuer, { sub: 'alice' });
    const meOurs = await stack.request(undefined, '/kgw/v1/me', { headers: bearer(ours, freshAddress()) });
    const meTheirs = await stack.request(undefined, '/kgw/v1/me', {
      headers: bearer(theirs, freshAddress()),
    });
    expect(meOurs.status).toBe(200);
    expect(meTheirs.status).toBe(200);
    expect(JSON.parse(meOurs.body).user.name).toBe(`${stack.oidc!.issuer}#alice`);
    expect(JSON.parse(meTheirs.body).user.name).toBe(`${otherIssuer.issuer}#alice`);
  });
});

describe('finding 10: return paths after login', () => {
  it.each([
    {
      attack: 'a pod proxy path (the pod redirects off-site)',
      returnTo: '/api/v1/namespaces/default/pods/nginx/proxy/',
    },
    { attack: 'a service proxy path', returnTo: '/api/v1/namespaces/default/services/my-nginx:80/proxy/' },
    {
      attack: 'dot segments out of /kgw/',
      returnTo: '/kgw/ui/../../api/v1/namespaces/default/pods/nginx/proxy/',
    },
  ])('10 attack: returnTo = $attack → the gateway UI', async ({ returnTo }) => {
    const { landed } = await browserLogin(stack, 'carol', returnTo);
    expect(landed.origin).toBe(new URL(stack.url).origin);
    expect(landed.pathname).toBe('/kgw/ui/');
  });
});

describe('finding 13: readiness details', () => {
  it('13 attack: an anonymous caller reads /kgw/readyz → ok/not ok only; an admin gets the details', async () => {
    const anonymous = await stack.request(undefined, '/kgw/readyz');
    expect(anonymous.status).toBe(200);
    const bare = JSON.parse(anonymous.body);
    expect(bare.status).toBe('ready');
    for (const check of Object.values(bare.checks)) expect(check).toEqual({ ok: true });
    expect(anonymous.body).not.toContain(new URL(stack.sim.url).port);
    expect(anonymous.body).not.toMatch(/migration|version|instance/i);

    const notAdmin = await stack.request('bob', '/kgw/readyz');
    expect(JSON.parse(notAdmin.body).checks.database).toEqual({ ok: true });

    const admin = await stack.request('alice', '/kgw/readyz');
    expect(JSON.parse(admin.body).checks.database).toEqual({ ok: true, detail: expect.any(String) });
  });
});

describe('finding 8: unauthenticated device login starts', () => {
  async function startDevice(address: string) {
    return stack.request(undefined, '/kgw/auth/device', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
      body: '{"client_name":"storm"}',
    });
  }
  async function grantRows(): Promise<number> {
    const { rows } = await stack.gateway.db.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM cli_login_grant WHERE client_name = 'storm'`,
    );
    return Number(rows[0].n);
  }

  it('8a attack: a flood of POST /kgw/auth/device from one address → 429 after the limit, no more rows', async () => {
    const address = freshAddress();
    const before = await grantRows();
    const statuses: number[] = [];
    for (let i = 0; i < START_LIMIT + 10; i++) statuses.push((await startDevice(address)).status);
    expect(statuses.slice(0, START_LIMIT)).toEqual(Array(START_LIMIT).fill(200));
    expect(statuses.slice(START_LIMIT)).toEqual(Array(10).fill(429));
    expect((await grantRows()) - before).toBe(START_LIMIT);
    // Another address may still start a login.
    expect((await startDevice(freshAddress())).status).toBe(200);
  });

  it('8b attack: grants left to expire → deleted (before the next start and by the sweep)', async () => {
    expect(await grantRows()).toBeGreaterThan(0);
    await stack.gateway.db.pool.query(
      `UPDATE cli_login_grant SET expires_at = now() - interval '1 second' WHERE client_name = 'storm'`,
    );
    expect((await startDevice(freshAddress())).status).toBe(200);
    expect(await grantRows()).toBe(1);
  });
});

describe('finding 11: slow and abandoned requests', () => {
  /** A raw TLS connection to the gateway, with everything it receives and a promise of its close. */
  async function rawConnection(): Promise<{
    socket: TLSSocket;
    received: () => string;
    closed: Promise<void>;
  }> {
    const url = new URL(stack.url);
    const socket = await new Promise<TLSSocket>((ok, fail) => {
      const s = connect({ host: url.hostname, port: Number(url.port), ca: stack.caPem }, () => ok(s));
      s.once('error', fail);
    });
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    return { socket, received: () => text, closed };
  }

  it('11a attack: an unauthenticated POST keeps trickling its body after the 401 → connection closed after the answer', async () => {
    const { socket, received, closed } = await rawConnection();
    socket.write(
      'POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n' +
        'Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"kind":',
    );
    // Keep trickling until the gateway hangs up (it must, without waiting for the body).
    const trickle = setInterval(() => socket.write(' '), 100);
    await closed;
    clearInterval(trickle);
    expect(received()).toMatch(/^HTTP\/1\.1 401 /);
    expect(received().toLowerCase()).toContain('connection: close');
  });

  it('11b attack: a body trickled to a gateway route that reads it before authenticating → cut after the body timeout', async () => {
    const { socket, closed } = await rawConnection();
    socket.write(
      'POST /kgw/auth/device HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
    );
    const trickle = setInterval(() => socket.write(' '), 100);
    await closed;
    clearInterval(trickle);
  });

  it('11c attack: headers trickled forever (slowloris) → closed after the header timeout', async () => {
    const { socket, closed } = await rawConnection();
    socket.write('GET /api/v1/pods HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => socket.write('X-Slow: 1\r\n'), 100);
    await closed;
    clearInterval(trickle);
  });

  it('(allowed) an authenticated POST with its whole body is answered and the connection kept', async () => {
    const { socket, received } = await rawConnection();
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'slow-ok' } });
    socket.write(
      'POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n' +
        `Authorization: Bearer ${CALLERS.alice.token}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    while (!/\r\n\r\n/.test(received())) await new Promise((r) => socket.once('data', r));
    expect(received()).toMatch(/^HTTP\/1\.1 201 /);
    expect(received().toLowerCase()).not.toContain('connection: close');
    socket.destroy();
  });
});

describe('finding 4: token scopes through proxies', () => {
  const WS = {
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
  };
  let readOnly: string;
  beforeAll(async () => {
    const res = await stack.request('alice', '/kgw/v1/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'read-only', scopes: ['read-only'] }),
    });
    expect(res.status).toBe(201);
    readOnly = (JSON.parse(res.body) as { token: string }).token;
  });

  it.each([
    { attack: 'a WebSocket through pods/…/proxy', path: '/api/v1/namespaces/default/pods/nginx:80/proxy/ws' },
    {
      attack: 'a WebSocket through services/…/proxy',
      path: '/api/v1/namespaces/default/services/my-nginx:80/proxy/ws',
    },
    {
      attack: "a WebSocket to a kubelet's exec through nodes/…/proxy",
      path: '/api/v1/nodes/node-1/proxy/exec/default/nginx/nginx?command=sh',
    },
  ])('4 attack: a read-only token opens $attack → 403, never a 101', async ({ path }) => {
    const res = await stack.request(undefined, path, {
      headers: { ...WS, authorization: `Bearer ${readOnly}`, 'x-forwarded-for': freshAddress() },
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', code: 403 });
    expect(JSON.parse(res.body).message).toContain('read-only');
  });

  it('4 attack: a read-only token writes through a pod proxy (POST) → 403 (held before; regression guard)', async () => {
    const res = await stack.request(undefined, '/api/v1/namespaces/default/pods/nginx:80/proxy/echo', {
      method: 'POST',
      headers: { authorization: `Bearer ${readOnly}`, 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(res.status).toBe(403);
  });

  it('(allowed) a read-only token reads through a pod proxy (GET)', async () => {
    const res = await stack.request(undefined, '/api/v1/namespaces/default/pods/nginx:80/proxy/', {
      headers: { authorization: `Bearer ${readOnly}` },
    });
    expect(res.status).toBe(200);
  });

  it('4 attack: a WebSocket to nodes/…/proxy/exec by someone with at most `get nodes/proxy` → authorized as create, like exec', async () => {
    const res = await stack.request('bob', '/api/v1/nodes/node-1/proxy/exec/default/nginx/nginx?command=sh', {
      headers: WS,
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).message).toBe(
      'nodes "node-1" is forbidden: User "bob" cannot create resource "nodes/proxy" in API group "" at the cluster scope',
    );
  });
});

describe('finding 1: proxied content cannot act as the user', () => {
  it.each([
    { via: 'pods/…/proxy', path: '/api/v1/namespaces/default/pods/nginx:80/proxy/cookie' },
    { via: 'services/…/proxy', path: '/api/v1/namespaces/default/services/my-nginx:80/proxy/cookie' },
  ])(
    '1 attack: a page served through $via sets cookies and runs script on the gateway origin → sandboxed (opaque origin), no Set-Cookie',
    async ({ path }) => {
      const res = await stack.request('alice', path);
      expect(res.status).toBe(200);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      const csp = ([] as string[]).concat(res.headers['content-security-policy'] ?? []).join(', ');
      expect(csp).toMatch(/(^|, )sandbox /);
      expect(csp).not.toContain('allow-same-origin');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    },
  );

  it("(allowed) the pod's own page still renders through the proxy (the UI's pod-proxy links)", async () => {
    const res = await stack.request('alice', '/api/v1/namespaces/default/pods/nginx/proxy/');
    expect(res.status).toBe(200);
    expect(res.body).toContain('Welcome to nginx!');
  });

  describe('cookie-authenticated unsafe requests on Kubernetes paths need the CSRF token', () => {
    let session: string;
    let csrfToken: string;
    beforeAll(async () => {
      const login = await browserLogin(stack, 'carol');
      session = login.session!;
      csrfToken = (
        JSON.parse((await login.browser.fetch(`${stack.url}/kgw/v1/me`)).body) as { csrfToken: string }
      ).csrfToken;
    });
    let marker = 0;
    const rows = [
      { method: 'POST', path: '/api/v1/namespaces/default/configmaps' },
      { method: 'PUT', path: '/api/v1/namespaces/default/configmaps/csrf' },
      { method: 'PATCH', path: '/api/v1/namespaces/default/configmaps/csrf' },
      { method: 'DELETE', path: '/api/v1/namespaces/default/configmaps/csrf' },
      { method: 'POST', path: '/api/v1/namespaces/default/pods/nginx/proxy/echo' },
      { method: 'DELETE', path: '/api/v1/namespaces/default/services/my-nginx:80/proxy/echo' },
    ];
    const send = (method: string, path: string, headers: Record<string, string>) => {
      const query = `csrf-row=${++marker}`;
      const res = stack.request(undefined, `${path}?${query}`, {
        method,
        headers: {
          cookie: `__Host-kgw_session=${session}`,
          'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json',
          'x-forwarded-for': freshAddress(),
          ...headers,
        },
        body: method === 'DELETE' ? undefined : '{}',
      });
      return { res, query };
    };

    it.each(rows)(
      "1 attack: a cross-site $method $path with the victim's cookie and no (or a guessed) X-CSRF-Token → 401 Status, nothing forwarded",
      async ({ method, path }) => {
        const attempts: Array<Record<string, string>> = [
          {},
          { 'x-csrf-token': 'guessed' },
          { 'x-csrf-token': '' },
        ];
        for (const headers of attempts) {
          const { res, query } = send(method, path, headers);
          const answer = await res;
          expect(answer.status).toBe(401);
          expect(JSON.parse(answer.body)).toMatchObject({ kind: 'Status', code: 401 });
          expect(stack.sim.requestLog.find((e) => e.query === query)).toEqual([]);
        }
      },
    );

    it.each(rows)(
      "(allowed) $method $path with the session's X-CSRF-Token → past the check (RBAC or the pod decides)",
      async ({ method, path }) => {
        const { res } = send(method, path, { 'x-csrf-token': csrfToken });
        const answer = await res;
        expect(answer.status).not.toBe(401);
      },
    );
  });

  it("the API server's own answers are not sandboxed", async () => {
    const res = await stack.request('alice', '/api/v1/namespaces/default/pods');
    expect(res.headers['content-security-policy']).toBeUndefined();
  });
});

describe('finding 6: kubectl --as / --as-group are honoured or refused, never dropped', () => {
  it("6a attack: alice (may impersonate) --as=carol reads secrets → carol's rights decide (403 as carol), audited as both", async () => {
    const res = await stack.request('alice', '/api/v1/namespaces/default/secrets?labelSelector=as-carol', {
      headers: { 'Impersonate-User': 'carol' },
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).message).toMatch(/User "carol" cannot list resource "secrets"/);
  });

  it('6b: alice --as=carol lists pods carol may see → 200, the API server sees carol (impersonated by the gateway)', async () => {
    const res = await stack.request('alice', '/api/v1/namespaces/default/pods?labelSelector=as-carol-ok', {
      headers: { 'Impersonate-User': 'carol', 'Impersonate-Group': 'viewers' },
    });
    expect(res.status).toBe(200);
    const entry = await stack.sim.requestLog.waitFor((e) => e.query === 'labelSelector=as-carol-ok');
    expect(entry.user?.username).toBe('carol');
    expect(entry.user?.groups).toContain('viewers');
    expect(entry.user?.groups).not.toContain('kgw:admins');
    const rows = await waitForAudit(
      `SELECT auth_user, kube_user, reason FROM audit_event WHERE query LIKE '%as-carol-ok%'`,
    );
    expect(rows[0]).toMatchObject({ auth_user: 'alice', kube_user: 'carol' });
    expect(rows[0].reason).toContain('impersonating "carol" as asked by "alice"');
  });

  it("6c attack: bob (may not impersonate) --as=alice → 403 in the API server's words, nothing forwarded", async () => {
    const res = await stack.request('bob', '/api/v1/namespaces/team-a/pods?labelSelector=bob-as-alice', {
      headers: { 'Impersonate-User': 'alice' },
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).message).toBe(
      'users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope',
    );
    expect(stack.sim.requestLog.find((e) => e.query === 'labelSelector=bob-as-alice')).toEqual([]);
  });
});

async function waitForAudit(sql: string): Promise<Array<Record<string, string>>> {
  for (let i = 0; i < 300; i++) {
    const { rows } = await stack.gateway.db.pool.query<Record<string, string>>(sql);
    if (rows.length > 0) return rows;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no audit row for: ${sql}`);
}

describe("finding 5: a credential's end ends everything of it", () => {
  /** Creates a personal token as `auth` (a static caller's token or a personal token). */
  async function mint(auth: string, body: Record<string, unknown>): Promise<{ token: string; id: string }> {
    const res = await stack.request(undefined, '/kgw/v1/tokens', {
      method: 'POST',
      headers: { ...bearer(auth, freshAddress()), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    return JSON.parse(res.body) as { token: string; id: string };
  }

  async function statusWith(token: string): Promise<number> {
    return (
      await stack.request(undefined, '/api/v1/namespaces/default/pods', {
        headers: bearer(token, freshAddress()),
      })
    ).status;
  }

  /** `curl -N` on a watch of pods in default, with the given headers; resolves when curl exits. */
  function curlWatch(headers: Record<string, string>): {
    seen: Promise<void>;
    exited: Promise<number | null>;
  } {
    const ca = join(stack.dir, 'ca-for-curl.pem');
    writeFileSync(ca, stack.caPem);
    const child = spawn(
      'curl',
      [
        '-sSN',
        '--cacert',
        ca,
        ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
        `${stack.url}/api/v1/namespaces/default/pods?watch=1`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    curls.add(child);
    let out = '';
    const seen = new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('"ADDED"')) resolve();
      });
      child.once('close', () => reject(new Error(`curl ended before the first event: ${out}`)));
    });
    const exited = new Promise<number | null>((resolve) =>
      child.once('close', (code) => {
        curls.delete(child);
        resolve(code);
      }),
    );
    return { seen, exited };
  }
  const curls = new Set<ChildProcess>();
  beforeAll(async () => {
    // This stack names OIDC users `<issuer>#<sub>` (row 9): let two of them view, as the demo's
    // carol may, so that their sessions and ID tokens can open watches.
    const issuer = stack.oidc!.issuer;
    const binding = await stack.request('alice', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'hardening:oidc-viewers' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: ['alice', 'bob'].map((sub) => ({
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'User',
          name: `${issuer}#${sub}`,
        })),
      }),
    });
    expect(binding.status).toBe(201);
  });
  afterAll(() => {
    for (const child of curls) child.kill('SIGKILL');
  });

  it('5a attack: tokens minted with a PAT outlive its revocation → children and grandchildren revoked with it, their open kubectl watches cut', async () => {
    const parent = await mint(CALLERS.alice.token, { name: 'parent' });
    const child = await mint(parent.token, { name: 'child' });
    const grandchild = await mint(child.token, { name: 'grandchild' });
    const unrelated = await mint(CALLERS.alice.token, { name: 'unrelated' });
    const watch = stack.kubectlWithToken('5a-grandchild', grandchild.token).start(['get', 'pods', '-w']);
    await watch.waitFor(/nginx/);

    const revoked = await stack.request('alice', `/kgw/v1/tokens/${parent.id}`, { method: 'DELETE' });
    expect(revoked.status).toBe(200);
    expect(JSON.parse(revoked.body).revokedWithIt.sort()).toEqual([child.id, grandchild.id].sort());
    await watch.exited;
    for (const token of [parent, child, grandchild]) expect(await statusWith(token.token)).toBe(401);
    expect(await statusWith(unrelated.token)).toBe(200);
  });

  it('5b attack: a PAT holds kubectl exec -i open past its revocation → the exec session is cut', async () => {
    const token = await mint(CALLERS.alice.token, { name: 'exec' });
    const exec = stack.kubectlWithToken('5b-exec', token.token).start(['exec', '-i', 'nginx', '--', 'cat']);
    exec.child.stdin!.write('still here\n');
    await exec.waitFor(/still here/);
    expect((await stack.request('alice', `/kgw/v1/tokens/${token.id}`, { method: 'DELETE' })).status).toBe(
      200,
    );
    await exec.exited;
  });

  it("5c attack: an open watch outlives its PAT's expiry → cut when the token expires, not before", async () => {
    const expiresAt = new Date(Date.now() + 4000);
    const token = await mint(CALLERS.alice.token, { name: 'short', expiresAt: expiresAt.toISOString() });
    const watch = stack.kubectlWithToken('5c-expiring', token.token).start(['get', 'pods', '-w']);
    await watch.waitFor(/nginx/);
    await watch.exited;
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt.getTime());
  });

  it("5d attack: a bearer JWT's watch outlives the JWT's exp → cut at exp (+ the allowed clock skew)", async () => {
    const skewSeconds = loadConfig(stack.env).oidc.clockSkewSeconds;
    const now = Math.floor(Date.now() / 1000);
    // Accepted for about 4 more seconds: exp lies in the past by less than the allowed skew.
    const exp = now - skewSeconds + 4;
    const jwt = await jwtFrom(stack.oidc!, { sub: 'alice', exp });
    const watch = curlWatch({ authorization: `Bearer ${jwt}` });
    await watch.seen;
    await watch.exited;
    expect(Date.now()).toBeGreaterThanOrEqual((exp + skewSeconds) * 1000);
  });

  it("5e attack: logout leaves the session's watch, the tokens it minted and its ID token working → all end", async () => {
    const { browser, session } = await browserLogin(stack, 'bob');
    const me = JSON.parse((await browser.fetch(`${stack.url}/kgw/v1/me`)).body) as { csrfToken: string };
    const created = await browser.fetch(`${stack.url}/kgw/v1/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
      body: JSON.stringify({ name: 'from the browser', expiresInDays: 30 }),
    });
    expect(created.status).toBe(201);
    const child = JSON.parse(created.body) as { token: string; expiresAt: string; notice?: string };
    // It cannot outlive the session that made it (12 h by default), and says so.
    expect(new Date(child.expiresAt).getTime()).toBeLessThan(Date.now() + 13 * 3_600_000);
    expect(child.notice).toMatch(/browser session/);
    const grandchild = await mint(child.token, { name: 'from the browser token' });
    // The session's ID token, as the provider issued it (the gateway keeps it for logout).
    const { rows } = await stack.gateway.db.pool.query<{ id_token: string }>(
      'SELECT id_token FROM browser_session WHERE id_hash = $1',
      [createHash('sha256').update(session!).digest('hex')],
    );
    const idToken = rows[0].id_token;
    expect(await statusWith(idToken)).toBe(200);

    const sessionWatch = curlWatch({ cookie: `__Host-kgw_session=${session!}` });
    const idTokenWatch = curlWatch({ authorization: `Bearer ${idToken}` });
    const childWatch = stack.kubectlWithToken('5e-child', child.token).start(['get', 'pods', '-w']);
    await Promise.all([sessionWatch.seen, idTokenWatch.seen, childWatch.waitFor(/nginx/)]);

    const logout = await browser.fetch(`${stack.url}/kgw/auth/logout`, {
      method: 'POST',
      headers: { accept: 'application/json', 'x-csrf-token': me.csrfToken },
    });
    expect(logout.status).toBe(200);
    // RP-initiated logout carries the ID token to the provider in the URL: it must be dead now.
    const hint = new URL(JSON.parse(logout.body).providerLogoutUrl).searchParams.get('id_token_hint');
    expect(hint).toBe(idToken);

    await Promise.all([sessionWatch.exited, idTokenWatch.exited, childWatch.exited]);
    expect(await statusWith(idToken)).toBe(401);
    expect(await statusWith(child.token)).toBe(401);
    expect(await statusWith(grandchild.token)).toBe(401);
    const again = await stack.request(undefined, '/kgw/v1/me', {
      headers: { cookie: `__Host-kgw_session=${session!}` },
    });
    expect(again.status).toBe(401);
  });
});
