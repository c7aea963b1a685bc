// Authentication end to end over real HTTP: personal tokens (curl, kubectl, scopes, revocation
// on two replicas, open watches cut), bearer JWTs from the built-in provider and the ways they
// are forged, browser login with a cookie jar, CSRF, open redirects, identity mapping, the
// device-flow CLI login, rate limiting, and that no secret reaches the log.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { stringify as toYaml } from 'yaml';
import { loadConfig } from '@kgw/config';
import { startGateway, type RunningGateway } from '../../apps/gateway/src/gateway';
import { startDevOidcProvider } from '../../apps/gateway/src/dev-oidc/dev-oidc-provider';
import { KubectlRunner } from '../support/kubectl';
import {
  OIDC_CLIENT,
  OIDC_USERS,
  startGatewayStack,
  type GatewayStack,
  type HttpResult,
} from '../support/gateway-stack';
import { TestBrowser } from '../support/test-browser';
import { browserLogin as loginThroughBrowser } from '../support/browser-login';
import { mkdtempSync, readFileSync as readFile, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ExitCode, type CliIo } from '../../apps/kgw/src/commands/command';
import { run as kgw } from '../../apps/kgw/src/main';

let stack: GatewayStack;
/** Every secret the tests saw: none may appear in the captured log. */
const secrets: string[] = [];
const runners: KubectlRunner[] = [];

beforeAll(async () => {
  stack = await startGatewayStack({
    oidc: true,
    env: {
      KGW_IDENTITY_RULES: JSON.stringify([
        { match: { group: 'deployers' }, serviceAccount: 'team-b/deployer' },
      ]),
      // Requests naming 127.0.0.1 as their proxy may carry a client address (rate-limit test).
      KGW_HTTP_TRUSTED_PROXIES: '127.0.0.1',
      KGW_AUTH_FAILURE_LIMIT: '25',
    },
  });
}, 120_000);
afterAll(async () => {
  for (const runner of runners) await runner.cleanup();
  await stack?.stop();
});

function withBearer(
  token: string,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpResult> {
  return stack.request(undefined, path, {
    ...init,
    headers: { authorization: `Bearer ${token}`, ...init.headers },
  });
}

async function createToken(
  caller: 'alice' | 'bob',
  body: Record<string, unknown>,
): Promise<{ token: string; id: string }> {
  const res = await stack.request(caller, '/kgw/v1/tokens', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  const created = JSON.parse(res.body) as { token: string; id: string };
  secrets.push(created.token);
  return created;
}

function kubeconfigWithToken(name: string, token: string): string {
  const path = join(stack.dir, `kubeconfig-pat-${name}`);
  writeFileSync(
    path,
    toYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'kgw',
          cluster: {
            server: stack.url,
            'certificate-authority-data': Buffer.from(stack.caPem).toString('base64'),
          },
        },
      ],
      users: [{ name, user: { token } }],
      contexts: [{ name: 'kgw', context: { cluster: 'kgw', user: name, namespace: 'default' } }],
      'current-context': 'kgw',
    }),
  );
  const runner = new KubectlRunner(path);
  runners.push(runner);
  return path;
}

function kubectlAs(name: string, token: string): KubectlRunner {
  kubeconfigWithToken(name, token);
  return runners[runners.length - 1];
}

describe('personal access tokens', () => {
  it('is created once with kgw_ + base62, listed without the token, and works with curl and kubectl', async () => {
    const created = await createToken('bob', { name: 'laptop', scopes: ['forward'] });
    expect(created.token).toMatch(/^kgw_[0-9A-Za-z]{43}$/);
    const pods = await withBearer(created.token, '/api/v1/namespaces/team-a/pods');
    expect(pods.status).toBe(200);
    const kubectl = await kubectlAs('bob-pat', created.token).run([
      'get',
      'pods',
      '-n',
      'team-a',
      '-o',
      'name',
    ]);
    expect(kubectl.code).toBe(0);
    const list = await stack.request('bob', '/kgw/v1/tokens');
    expect(list.body).not.toContain(created.token);
    const item = (JSON.parse(list.body) as { items: Array<Record<string, unknown>> }).items.find(
      (t) => t.id === created.id,
    );
    expect(item).toMatchObject({
      name: 'laptop',
      owner: 'bob',
      scopes: ['forward'],
      lastUsedAddress: '127.0.0.1',
    });
    expect(item?.lastUsedAt).toEqual(expect.any(String));
    // The API server sees the token's id, never the token.
    const upstream = await stack.sim.requestLog.waitFor(
      (e) => e.impersonation?.extra?.['kgw.io/token-id']?.[0] === created.id,
    );
    expect(upstream.impersonation?.user).toBe('bob');
  });

  it('refuses an expiry beyond the configured maximum', async () => {
    const res = await stack.request('bob', '/kgw/v1/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'forever', expiresInDays: 3650 }),
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({
      error: 'bad_request',
      message: expect.stringMatching(/at most 90 days/),
    });
  });

  const scopeRows: Array<{
    attack: string;
    scopes: Record<string, unknown>;
    method: string;
    path: string;
    status: number;
  }> = [
    {
      attack: 'a read-only token deleting a pod',
      scopes: { scopes: ['read-only'] },
      method: 'DELETE',
      path: '/api/v1/namespaces/team-a/pods/web',
      status: 403,
    },
    {
      attack: 'a read-only token creating a config map',
      scopes: { scopes: ['read-only'] },
      method: 'POST',
      path: '/api/v1/namespaces/team-a/configmaps',
      status: 403,
    },
    {
      attack: '(allowed) a read-only token listing pods',
      scopes: { scopes: ['read-only'] },
      method: 'GET',
      path: '/api/v1/namespaces/team-a/pods',
      status: 200,
    },
    {
      attack: 'a team-a token reading another namespace',
      scopes: { namespaces: ['team-a'] },
      method: 'GET',
      path: '/api/v1/namespaces/default/pods',
      status: 403,
    },
    {
      attack: 'a team-a token listing pods of all namespaces',
      scopes: { namespaces: ['team-a'] },
      method: 'GET',
      path: '/api/v1/pods',
      status: 403,
    },
    {
      attack: '(allowed) a team-a token reading team-a',
      scopes: { namespaces: ['team-a'] },
      method: 'GET',
      path: '/api/v1/namespaces/team-a/pods',
      status: 200,
    },
    {
      attack: 'a token without forward port-forwarding',
      scopes: {},
      method: 'POST',
      path: '/api/v1/namespaces/team-a/pods/web/portforward',
      status: 403,
    },
  ];
  it.each(scopeRows)('stops $attack ($status)', async ({ scopes, method, path, status }) => {
    const { token } = await createToken('bob', { name: 'scoped', ...scopes });
    const res = await withBearer(token, path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: method === 'POST' ? '{}' : undefined,
    });
    expect(res.status).toBe(status);
    if (status === 403)
      expect(JSON.parse(res.body)).toMatchObject({
        kind: 'Status',
        reason: 'Forbidden',
        message: expect.stringMatching(/^kgw: this token/),
      });
  });

  it('a read-only token cannot mint a token, and a scoped token cannot mint a wider one', async () => {
    const readOnly = await createToken('bob', { name: 'ro', scopes: ['read-only'] });
    const denied = await withBearer(readOnly.token, '/kgw/v1/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x' }),
    });
    expect(denied.status).toBe(403);
    const teamA = await createToken('bob', { name: 'ns', namespaces: ['team-a'] });
    const wider = await withBearer(teamA.token, '/kgw/v1/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', namespaces: [] }),
    });
    expect(wider.status).toBe(400);
  });

  it('a token minting a token without an expiry gets the rest of its own lifetime, and is told so', async () => {
    // The parent has the default lifetime; a child asking for the default would outlive it by the
    // time it is made. It gets the parent's expiry instead, and the answer says so.
    const parent = await createToken('bob', { name: 'parent' });
    const parentExpiry = (
      JSON.parse((await stack.request('bob', '/kgw/v1/tokens')).body) as {
        items: Array<{ id: string; expiresAt: string }>;
      }
    ).items.find((t) => t.id === parent.id)!.expiresAt;
    const child = await withBearer(parent.token, '/kgw/v1/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'child' }),
    });
    expect(child.status).toBe(201);
    const created = JSON.parse(child.body) as { token: string; expiresAt: string; notice: string };
    secrets.push(created.token);
    expect(created.expiresAt).toBe(parentExpiry);
    expect(created.notice).toMatch(/^Expires at .* \(in 29 days 23 hours\), with the token that created it/);
    expect((await withBearer(created.token, '/api/v1/namespaces/team-a/pods')).status).toBe(200);

    // Asking explicitly for longer than the parent lives is refused, naming the limit.
    const longer = await withBearer(parent.token, '/kgw/v1/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'longer', expiresInDays: 31 }),
    });
    expect(longer.status).toBe(400);
    expect(JSON.parse(longer.body)).toMatchObject({
      error: 'bad_request',
      message: expect.stringContaining(
        `the creating token expires at ${parentExpiry} (29 days 23 hours from now)`,
      ),
    });
    // A session or static token caller (no parent) still gets the plain default, without a notice.
    const plain = JSON.parse(
      (
        await stack.request('bob', '/kgw/v1/tokens', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'plain' }),
        })
      ).body,
    ) as { token: string; notice?: string };
    secrets.push(plain.token);
    expect(plain.notice).toBeUndefined();
  });

  it('revocation stops the token on every replica within 1 s and closes its open kubectl get pods -w', async () => {
    const { token, id } = await createToken('alice', { name: 'watcher' });
    // A second replica on the same database, with the token already in its cache.
    // Every replica writes its own audit chain, so it needs its own instance name.
    const replica: RunningGateway = await startGateway(loadConfig({ ...stack.env, POD_NAME: 'replica-2' }), {
      logDestination: { write: () => true } as unknown as NodeJS.WritableStream & {
        write(s: string): boolean;
      },
    });
    try {
      const replicaUrl = replica.url;
      const viaReplica = async (): Promise<number> => {
        const { request } = await import('node:https');
        return new Promise((done, fail) => {
          const req = request(
            `${replicaUrl}/api/v1/namespaces/default/pods`,
            { ca: stack.caPem, headers: { authorization: `Bearer ${token}` }, agent: false },
            (res) => {
              res.resume();
              done(res.statusCode ?? 0);
            },
          );
          req.on('error', fail);
          req.end();
        });
      };
      expect(await viaReplica()).toBe(200);
      const watch = kubectlAs('alice-watch', token).start(['get', 'pods', '-w', '-n', 'default']);
      await watch.waitFor(/nginx/);
      const revoked = await stack.request('alice', `/kgw/v1/tokens/${id}`, { method: 'DELETE' });
      expect(revoked.status).toBe(200);
      const started = Date.now();
      const exited = await Promise.race([
        watch.exited.then(() => true),
        new Promise((r) => setTimeout(() => r(false), 5000)),
      ]);
      expect(exited).toBe(true);
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await withBearer(token, '/api/v1/namespaces/default/pods')).status).toBe(401);
      let replicaStatus = 0;
      const deadline = Date.now() + 1000;
      while (Date.now() < deadline && (replicaStatus = await viaReplica()) !== 401)
        await new Promise((r) => setTimeout(r, 50));
      expect(replicaStatus).toBe(401);
    } finally {
      await replica.close();
    }
  });
});

/** An ID token from the built-in provider by a real code + PKCE flow for `clientId`. */
async function idTokenFor(user: keyof typeof OIDC_USERS, clientId = OIDC_CLIENT.id): Promise<string> {
  const issuer = stack.oidc!.issuer;
  const verifier = randomBytes(32).toString('base64url');
  const redirectUri = 'http://127.0.0.1:1/cb';
  const auth = new URL(`${issuer}/auth`);
  auth.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    scope: 'openid groups',
    redirect_uri: redirectUri,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  const browser = new TestBrowser();
  const done = await browser.navigateSigningIn(auth.href, user, OIDC_USERS[user].password, {
    stopAt: (u) => u.port === '1',
  });
  const code = new URL(String(done.headers.location)).searchParams.get('code')!;
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (clientId === OIDC_CLIENT.id)
    headers.authorization = `Basic ${Buffer.from(`${OIDC_CLIENT.id}:${OIDC_CLIENT.secret}`).toString('base64')}`;
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers,
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
      ...(clientId === OIDC_CLIENT.id ? {} : { client_id: clientId }),
    }).toString(),
  });
  const token = ((await res.json()) as { id_token: string }).id_token;
  secrets.push(token, code);
  return token;
}

describe('bearer JWTs', () => {
  it('accepts an ID token from the provider', async () => {
    const token = await idTokenFor('bob');
    const res = await withBearer(token, '/kgw/v1/me');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({
      user: { name: 'bob', method: 'jwt', groups: ['team-a'] },
      kubernetes: { username: 'bob' },
    });
    expect((await withBearer(token, '/api/v1/namespaces/team-a/pods')).status).toBe(200);
  });

  const now = Math.floor(Date.now() / 1000);
  const rows: Array<{ attack: string; make: () => Promise<string> }> = [
    {
      attack: 'a token from another issuer',
      make: async () => {
        const other = await startDevOidcProvider({ users: [], clients: [{ clientId: 'kgw' }] });
        try {
          return await other.signWithProviderKey({
            iss: other.issuer,
            aud: 'kgw',
            sub: 'bob',
            exp: now + 600,
          });
        } finally {
          await other.stop();
        }
      },
    },
    {
      attack: 'another issuer key claiming our issuer',
      make: async () => {
        const other = await startDevOidcProvider({ users: [], clients: [{ clientId: 'kgw' }] });
        try {
          return await other.signWithProviderKey({
            iss: stack.oidc!.issuer,
            aud: 'kgw',
            sub: 'alice',
            exp: now + 600,
          });
        } finally {
          await other.stop();
        }
      },
    },
    {
      attack: 'an expired token',
      make: () =>
        stack.oidc!.signWithProviderKey({
          iss: stack.oidc!.issuer,
          aud: 'kgw',
          sub: 'bob',
          exp: now - 3600,
          iat: now - 7200,
        }),
    },
    {
      attack: 'a token not yet valid',
      make: () =>
        stack.oidc!.signWithProviderKey({
          iss: stack.oidc!.issuer,
          aud: 'kgw',
          sub: 'bob',
          exp: now + 7200,
          nbf: now + 3600,
        }),
    },
    {
      attack: 'a token for another audience (real flow, client other-app)',
      make: () => idTokenFor('bob', 'other-app'),
    },
    {
      attack: 'alg none',
      make: async () => {
        const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
        return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ iss: stack.oidc!.issuer, aud: 'kgw', sub: 'alice', groups: ['kgw:admins'], exp: now + 600 })}.`;
      },
    },
    {
      attack: 'an unknown kid',
      make: () =>
        stack.oidc!.signWithProviderKey(
          { iss: stack.oidc!.issuer, aud: 'kgw', sub: 'bob', exp: now + 600 },
          { kid: 'made-up-kid' },
        ),
    },
    {
      attack: 'a signature over a modified payload',
      make: async () => {
        const good = await stack.oidc!.signWithProviderKey({
          iss: stack.oidc!.issuer,
          aud: 'kgw',
          sub: 'bob',
          exp: now + 600,
        });
        const [h, , s] = good.split('.');
        const forged = Buffer.from(
          JSON.stringify({ iss: stack.oidc!.issuer, aud: 'kgw', sub: 'alice', exp: now + 600 }),
        ).toString('base64url');
        return `${h}.${forged}.${s}`;
      },
    },
  ];
  it.each(rows)('rejects $attack with 401', async ({ make }) => {
    const token = await make();
    secrets.push(token);
    const res = await withBearer(token, '/api/v1/namespaces/team-a/pods');
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
  });

  it('refuses an identity-provider group system:masters (403), never passing it upstream', async () => {
    const token = await idTokenFor('trudy');
    const res = await withBearer(token, '/api/v1/namespaces/default/pods');
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).message).toMatch(/system:masters/);
  });

  it('maps a group to a service account by rule, and the API server sees that service account', async () => {
    const token = await idTokenFor('erin');
    const query = `labelSelector=kgwauth%3D${Date.now()}`;
    const res = await withBearer(token, `/api/v1/namespaces/team-b/pods?${query}`);
    expect(res.status).toBe(200);
    const entry = await stack.sim.requestLog.waitFor((e) => e.query === query);
    expect(entry.impersonation?.user).toBe('system:serviceaccount:team-b:deployer');
    expect(entry.impersonation?.extra?.['kgw.io/user']).toEqual(['erin']);
    expect(entry.impersonation?.extra?.['kgw.io/auth-method']).toEqual(['jwt']);
  });
});

/** Logs `user` in through the provider's form (test/support/browser-login.ts); the session is a secret. */
async function browserLogin(
  user: keyof typeof OIDC_USERS,
  returnTo?: string,
): Promise<{ browser: TestBrowser; landed: URL; status: number }> {
  const login = await loginThroughBrowser(stack, user, returnTo);
  if (login.session) secrets.push(login.session);
  return login;
}

describe('browser login', () => {
  it('completes code + PKCE with a cookie jar; /kgw/v1/me shows the user and groups', async () => {
    const { browser, landed } = await browserLogin('bob', '/kgw/v1/me');
    expect(landed.pathname).toBe('/kgw/v1/me');
    const loginStart = browser.visited.find((u) => u.includes('/auth?'));
    expect(new URL(loginStart!).searchParams.get('state')).toBeTruthy();
    expect(new URL(loginStart!).searchParams.get('nonce')).toBeTruthy();
    expect(new URL(loginStart!).searchParams.get('code_challenge_method')).toBe('S256');
    const me = await browser.fetch(`${stack.url}/kgw/v1/me`, { headers: { accept: 'application/json' } });
    expect(me.status).toBe(200);
    const body = JSON.parse(me.body) as {
      user: unknown;
      kubernetes: unknown;
      access: Array<{ namespace: string }>;
      csrfToken: unknown;
    };
    expect(body.user).toMatchObject({
      name: 'bob',
      groups: ['team-a'],
      method: 'session',
      issuer: stack.oidc!.issuer,
    });
    expect(body.kubernetes).toMatchObject({
      username: 'bob',
      groups: ['team-a'],
      extra: { 'kgw.io/auth-method': ['session'] },
    });
    const teamA = body.access.find((a) => a.namespace === 'team-a') ?? body.access[0];
    expect(teamA).toBeDefined();
    expect(typeof body.csrfToken).toBe('string');
  });

  it('sets the session cookie __Host-, HttpOnly, SameSite=Lax, Secure, Path=/ over HTTPS, holding only a random id', async () => {
    const browser = new TestBrowser(stack.caPem);
    const gateway = new URL(stack.url);
    const res = await browser.navigateSigningIn(
      `${stack.url}/kgw/auth/login`,
      'carol',
      OIDC_USERS.carol.password,
      {
        stopAt: (u) => u.host === gateway.host && !u.pathname.startsWith('/kgw/auth/'),
      },
    );
    const setCookie = ([] as string[])
      .concat(res.headers['set-cookie'] ?? [])
      .find((c) => c.startsWith('__Host-kgw_session='));
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).toMatch(/Secure/);
    expect(setCookie).toMatch(/Path=\/(;|$)/);
    expect(setCookie).not.toMatch(/Domain=/i);
    expect(setCookie!.split(';')[0]).toMatch(/^__Host-kgw_session=[A-Za-z0-9_-]{43}$/);
    secrets.push(setCookie!.split(';')[0].slice('__Host-kgw_session='.length));
  });

  it('requires the CSRF token for state-changing requests with the cookie', async () => {
    const { browser } = await browserLogin('bob');
    const me = JSON.parse((await browser.fetch(`${stack.url}/kgw/v1/me`)).body) as { csrfToken: string };
    const forged = await browser.fetch(`${stack.url}/kgw/v1/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'csrf' }),
    });
    expect(forged.status).toBe(401);
    const ok = await browser.fetch(`${stack.url}/kgw/v1/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
      body: JSON.stringify({ name: 'from-browser' }),
    });
    expect(ok.status).toBe(201);
    secrets.push((JSON.parse(ok.body) as { token: string }).token);
    // Kubernetes paths too: a cross-site form POST with the cookie cannot create anything.
    const kube = await browser.fetch(`${stack.url}/api/v1/namespaces/team-a/configmaps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(kube.status).toBe(401);
  });

  it('logs out: the session stops working', async () => {
    const { browser } = await browserLogin('bob');
    const me = JSON.parse((await browser.fetch(`${stack.url}/kgw/v1/me`)).body) as { csrfToken: string };
    const gone = await browser.fetch(`${stack.url}/kgw/auth/logout`, {
      method: 'POST',
      headers: { 'x-csrf-token': me.csrfToken, accept: 'application/json' },
    });
    expect(gone.status).toBe(200);
    expect(JSON.parse(gone.body)).toMatchObject({
      loggedOut: true,
      providerLogoutUrl: expect.stringContaining(stack.oidc!.issuer),
    });
    expect((await browser.fetch(`${stack.url}/kgw/v1/me`)).status).toBe(401);
  });

  it('refuses to make a session for an identity-provider system:masters member', async () => {
    const { status } = await browserLogin('trudy');
    expect(status).toBe(403);
  });

  it('refuses a callback with no login transaction (injected code)', async () => {
    const browser = new TestBrowser(stack.caPem);
    const res = await browser.fetch(`${stack.url}/kgw/auth/callback?code=stolen&state=x`);
    expect(res.status).toBe(401);
  });

  const redirects: Array<{ attack: string; returnTo: string }> = [
    { attack: 'scheme-relative //evil', returnTo: '//evil.example/x' },
    { attack: 'absolute URL', returnTo: 'https://evil.example/x' },
    { attack: 'encoded //evil', returnTo: '%2F%2Fevil.example' },
    { attack: 'slash + encoded slash', returnTo: '/%2Fevil.example' },
    { attack: 'double-encoded', returnTo: '/%252F%252Fevil.example' },
    { attack: 'backslash', returnTo: '/\\evil.example' },
    { attack: 'tab trick', returnTo: '/\t/evil.example' },
  ];
  it.each(redirects)("lands on the gateway's own page after $attack", async ({ returnTo }) => {
    const { landed } = await browserLogin('carol', returnTo);
    expect(landed.origin).toBe(new URL(stack.url).origin);
    expect(landed.pathname).toBe('/kgw/ui/');
  });
});

describe('CLI login by device flow', () => {
  it('is approved by a second HTTP client acting as the user; the CLI gets a scoped, expiring PAT', async () => {
    const start = await stack.request(undefined, '/kgw/auth/device', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'kgw test' }),
    });
    expect(start.status).toBe(200);
    const grant = JSON.parse(start.body) as {
      device_code: string;
      user_code: string;
      verification_uri_complete: string;
      interval: number;
    };
    secrets.push(grant.device_code);
    const poll = (): Promise<HttpResult> =>
      stack.request(undefined, '/kgw/auth/device/token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
          device_code: grant.device_code,
        }),
      });
    expect(JSON.parse((await poll()).body)).toMatchObject({ error: 'authorization_pending' });
    // The user, in the browser: opening the link asks for login first, then shows the code.
    const { browser, landed } = await browserLogin(
      'bob',
      new URL(grant.verification_uri_complete).pathname + new URL(grant.verification_uri_complete).search,
    );
    expect(landed.pathname).toBe('/kgw/auth/device');
    const pageHtml = await browser.fetch(landed.href);
    expect(pageHtml.body).toContain(grant.user_code);
    const csrf = /name="csrf" value="([^"]+)"/.exec(pageHtml.body)![1];
    // Without the CSRF token the approval is refused.
    const forged = await browser.fetch(`${stack.url}/kgw/auth/device/approve`, {
      form: { user_code: grant.user_code, decision: 'approve' },
    });
    expect(forged.status).toBe(403);
    const approved = await browser.fetch(`${stack.url}/kgw/auth/device/approve`, {
      form: { user_code: grant.user_code, decision: 'approve', csrf },
    });
    expect(approved.status).toBe(200);
    await new Promise((r) => setTimeout(r, grant.interval * 1000));
    const issued = await poll();
    expect(issued.status).toBe(200);
    const token = JSON.parse(issued.body) as { access_token: string; token_id: string; expires_in: number };
    secrets.push(token.access_token);
    expect(token.access_token).toMatch(/^kgw_/);
    expect(token.expires_in).toBeLessThanOrEqual(168 * 3600);
    const whoami = JSON.parse((await withBearer(token.access_token, '/kgw/v1/me')).body) as Record<
      string,
      Record<string, unknown>
    >;
    expect(whoami.user).toMatchObject({ name: 'bob', method: 'pat', tokenId: token.token_id });
    // Used once: a second poll gets nothing.
    expect(JSON.parse((await poll()).body)).toMatchObject({ error: 'expired_token' });
  });
});

describe('kgw login / whoami / logout', () => {
  function cliIo(home: string): CliIo & { output: () => string } {
    let text = '';
    return { out: (t) => (text += t), err: (t) => (text += t), env: { HOME: home }, output: () => text };
  }

  it('kgw login by device flow, approved by a second HTTP client as the user; then whoami; logout revokes', async () => {
    const home = mkdtempSync(join(tmpdir(), 'kgw-cli-home-'));
    const caFile = join(stack.dir, 'ca.crt');
    writeFileSync(caFile, stack.caPem);
    const io = cliIo(home);
    const login = kgw(['login', stack.url, '--ca', caFile, '--timeout', '60'], io);
    // The user, elsewhere: opens the printed URL in a browser and approves.
    let printed: RegExpMatchArray | null = null;
    for (let i = 0; i < 100 && !(printed = /Open (\S+)\nand approve the code (\S+)/.exec(io.output())); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(printed).not.toBeNull();
    const link = new URL(printed![1]);
    const { browser } = await browserLogin('alice', link.pathname + link.search);
    const pageHtml = await browser.fetch(link.href);
    const csrf = /name="csrf" value="([^"]+)"/.exec(pageHtml.body)![1];
    const approved = await browser.fetch(`${stack.url}/kgw/auth/device/approve`, {
      form: { user_code: printed![2], decision: 'approve', csrf },
    });
    expect(approved.status).toBe(200);
    expect(await login).toBe(0);
    expect(io.output()).toMatch(/Logged in to .* as alice/);
    const file = join(home, '.config', 'kgw', 'login.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFile(file, 'utf8')) as { token: string; tokenId: string };
    secrets.push(saved.token);
    expect(io.output()).not.toContain(saved.token);

    const who = cliIo(home);
    expect(await kgw(['whoami'], who)).toBe(0);
    expect(who.output()).toMatch(/user:\s+alice \(pat tok_/);
    expect(who.output()).toMatch(/kubernetes:\s+alice/);

    expect(await kgw(['logout'], cliIo(home))).toBe(0);
    expect((await withBearer(saved.token, '/kgw/v1/me')).status).toBe(401);
    const after = cliIo(home);
    expect(await kgw(['whoami'], after)).toBe(ExitCode.NotLoggedIn);
    expect(after.output()).toMatch(/run kgw login/);
  });
});

describe('kgw login --loopback (redirect to 127.0.0.1 with PKCE)', () => {
  function cliIo(home: string): CliIo & { output: () => string } {
    let text = '';
    return { out: (t) => (text += t), err: (t) => (text += t), env: { HOME: home }, output: () => text };
  }

  it('an HTTP client as the logged-in user approves; the CLI listener gets the code; then whoami', async () => {
    const home = mkdtempSync(join(tmpdir(), 'kgw-cli-home-'));
    const caFile = join(stack.dir, 'ca-loopback.crt');
    writeFileSync(caFile, stack.caPem);
    const io = cliIo(home);
    const login = kgw(['login', stack.url, '--ca', caFile, '--loopback', '--timeout', '60'], io);
    let printed: RegExpMatchArray | null = null;
    for (let i = 0; i < 100 && !(printed = /Open (\S+)\nin your browser/.exec(io.output())); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(printed).not.toBeNull();
    const authorize = new URL(printed![1]);
    expect(authorize.pathname).toBe('/kgw/auth/cli');
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    const redirectUri = new URL(authorize.searchParams.get('redirect_uri')!);
    expect(redirectUri.hostname).toBe('127.0.0.1');

    // The user's browser: the authorize URL asks for login first, then shows the approval page.
    const { browser, landed } = await browserLogin('carol', authorize.pathname + authorize.search);
    expect(landed.pathname).toBe('/kgw/auth/cli');
    const pageHtml = await browser.fetch(landed.href);
    expect(pageHtml.status).toBe(200);
    const form = Object.fromEntries(
      [...pageHtml.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
        m[1],
        m[2]
          .replace(/&amp;/g, '&')
          .replace(/&quot;/g, '"')
          .replace(/&#39;/g, "'"),
      ]),
    );
    expect(form.csrf).toBeTruthy();
    expect(form.redirect_uri).toBe(redirectUri.href);

    // A page elsewhere that sends the browser to the listener without the right state is ignored.
    const stray = await browser.fetch(`${redirectUri.href}?code=forged&state=not-ours`);
    expect(stray.status).toBe(400);

    const approved = await browser.fetch(`${stack.url}/kgw/auth/cli/approve`, {
      form: { ...form, decision: 'approve' },
    });
    expect(approved.status).toBe(303);
    const back = new URL(String(approved.headers.location));
    expect(back.origin + back.pathname).toBe(redirectUri.href);
    const code = back.searchParams.get('code')!;
    expect(code).toBeTruthy();
    secrets.push(code);
    // The browser follows the redirect to the CLI's listener on 127.0.0.1.
    const delivered = await browser.fetch(back.href);
    expect(delivered.status).toBe(200);

    expect(await login).toBe(0);
    expect(io.output()).toMatch(/Logged in to .* as carol/);
    const file = join(home, '.config', 'kgw', 'login.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFile(file, 'utf8')) as { token: string; tokenId: string };
    secrets.push(saved.token);
    expect(saved.token).toMatch(/^kgw_/);
    expect(io.output()).not.toContain(saved.token);

    // The code is single-use and bound to the CLI's verifier: replaying it gets nothing.
    const replay = await stack.request(undefined, '/kgw/auth/cli/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, code_verifier: 'x'.repeat(43), redirect_uri: redirectUri.href }),
    });
    expect(replay.status).toBe(400);
    expect(replay.body).not.toContain('kgw_');

    const who = cliIo(home);
    expect(await kgw(['whoami'], who)).toBe(0);
    expect(who.output()).toMatch(/user:\s+carol \(pat tok_/);
    expect(who.output()).toMatch(/kubernetes:\s+carol/);
    expect(await kgw(['logout'], cliIo(home))).toBe(0);
  });
});

describe('failed authentication', () => {
  it('is rate-limited per client address: 429 Status with Retry-After', async () => {
    const headers = {
      authorization: 'Bearer kgw_notARealTokenAtAll0000000000000000000000000',
      'x-forwarded-for': '198.51.100.7',
    };
    let last: HttpResult | undefined;
    for (let i = 0; i < 26; i++)
      last = await stack.request(undefined, '/api/v1/namespaces/default/pods', { headers });
    expect(last!.status).toBe(429);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(last!.body)).toMatchObject({ kind: 'Status', reason: 'TooManyRequests', code: 429 });
    // Another address is unaffected.
    const other = await stack.request('bob', '/api/v1/namespaces/team-a/pods', {
      headers: { 'x-forwarded-for': '198.51.100.8' },
    });
    expect(other.status).toBe(200);
  });

  it('audits logins, failures and token changes', async () => {
    const lines = stack.logLines().join('\n');
    // The audit trail writes to Postgres; the records are there.
    const wanted = ['login:browser login', 'token:token created', 'token:token revoked', 'login:logout'];
    let reasons: string[] = [];
    // Audit records are written in batches: wait for the last ones.
    for (let i = 0; i < 60; i++) {
      const rows = await stack.gateway.db.pool.query<{ kind: string; reason: string }>(
        `SELECT DISTINCT kind, reason FROM audit_event WHERE kind IN ('login','token')`,
      );
      reasons = rows.rows.map((r) => `${r.kind}:${r.reason}`);
      if (wanted.every((w) => reasons.includes(w)) && reasons.some((r) => r.startsWith('login:login failed')))
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(reasons).toEqual(expect.arrayContaining(wanted));
    expect(reasons.some((r) => r.startsWith('login:login failed'))).toBe(true);
    expect(lines.length).toBeGreaterThan(0);
  });

  it('never logs a token, cookie or code', () => {
    const log = stack.logLines().join('\n');
    expect(secrets.length).toBeGreaterThan(10);
    for (const secret of secrets) expect(log).not.toContain(secret);
    expect(log).not.toMatch(/kgw_[0-9A-Za-z]{43}/);
    expect(log).not.toMatch(/[?&]code=[^&[\s"]/);
  });
});
