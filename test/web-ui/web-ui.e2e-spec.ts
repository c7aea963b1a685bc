// The web UI end to end: Debian's Chromium (playwright-core) against the whole stack — gateway,
// simulator with pod streams, built-in OpenID provider, Postgres — signing in through the
// provider's form as each demo user. Screenshots of every page (desktop and phone width) go to
// test-artifacts/web-ui/; axe-core must find no serious violation on any page; no page may
// cause a Content-Security-Policy violation.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { WebSocket } from 'ws';
import { parse as parseYaml } from 'yaml';
import { SECURE_SESSION_COOKIE } from '../../apps/gateway/src/auth/browser-sessions';
import { browserLogin } from '../support/browser-login';
import { TestBrowser } from '../support/test-browser';
import { CALLERS, OIDC_USERS, startGatewayStack, type GatewayStack } from '../support/gateway-stack';
import {
  launchBrowser,
  newSession,
  PHONE,
  screenshots,
  seriousA11yViolations,
  signIn,
  type UiSession,
} from './browser';

const run = promisify(execFile);
const OIDC_TOKEN_TTL_SECONDS = 20;
let stack: GatewayStack;
let browser: Browser;
const sessions: UiSession[] = [];

beforeAll(async () => {
  stack = await startGatewayStack({
    oidc: true,
    // Provider tokens that run out within a test: the pages must renew them on their own.
    oidcTokenTtlSeconds: OIDC_TOKEN_TTL_SECONDS,
    env: {
      KGW_IDENTITY_RULES: JSON.stringify([
        { match: { group: 'deployers' }, serviceAccount: 'team-b/deployer' },
      ]),
      KGW_AUTH_ADMIN_GROUPS: 'kgw:admins',
    },
  });
  writeFileSync(caFile(), stack.caPem);
  browser = await launchBrowser();
}, 180_000);

const caFile = (): string => join(stack.dir, 'ca.pem');

const children = new Set<ChildProcess>();

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const s of sessions) await s.context.close().catch(() => undefined);
  await browser?.close();
  await stack?.stop();
});

const CLI = join(__dirname, '../../dist/apps/kgw/src/main.js');

/** `kgw forward ARGS` as `caller` (the CLI as a child process); resolves once it listens. */
async function startForward(
  args: string[],
  caller: 'alice' | 'bob' | 'carol',
): Promise<{ port: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [CLI, 'forward', ...args], {
    env: {
      PATH: process.env.PATH,
      HOME: stack.dir,
      KGW_SERVER: stack.url,
      KGW_TOKEN: CALLERS[caller].token,
      KGW_CA_FILE: caFile(),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const port = await new Promise<number>((done, fail) => {
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /Forwarding from 127\.0\.0\.1:(\d+) -> /.exec(out);
      if (m) done(Number(m[1]));
    });
    void exited.then(() => fail(new Error(`kgw forward exited: ${err}`)));
  });
  return {
    port,
    async stop() {
      child.kill('SIGINT');
      await exited;
      children.delete(child);
    },
  };
}

type DemoUser = keyof typeof OIDC_USERS;

async function session(user: DemoUser, path = '/'): Promise<UiSession> {
  const s = await newSession(browser);
  sessions.push(s);
  await signIn(s.page, stack.url + path, user, OIDC_USERS[user].password);
  return s;
}

/**
 * Screenshots, then the axe check; both for the page as the user sees it now. At phone width the
 * page must fit the screen: only a table's own box may scroll sideways.
 */
async function checkPage(s: UiSession, name: string): Promise<void> {
  expect(await screenshots(s.page, name)).toBeLessThanOrEqual(PHONE.width);
  expect(await seriousA11yViolations(s.page)).toEqual([]);
  expect(s.problems).toEqual([]);
}

async function goto(page: Page, path: string): Promise<void> {
  await page.goto(stack.url + path);
  await page.waitForSelector('header.top');
}

describe('serving the UI', () => {
  it('sends a browser at / to /kgw/ui/ and leaves API clients at / with the Kubernetes answer', async () => {
    const html = await stack.request(undefined, '/', {
      headers: { accept: 'text/html,application/xhtml+xml' },
    });
    expect(html.status).toBe(302);
    expect(html.headers.location).toBe('/kgw/ui/');
    const api = await stack.request('alice', '/', { headers: { accept: 'application/json' } });
    expect(api.status).not.toBe(302);
    expect(api.body).not.toMatch(/<html/i);
    const anonymous = await stack.request(undefined, '/', { headers: { accept: 'application/json' } });
    expect(JSON.parse(anonymous.body)).toMatchObject({ kind: 'Status', code: 401 });
  });

  it('serves the app with a strict Content-Security-Policy', async () => {
    const page = await stack.request(undefined, '/kgw/ui/cluster/default/pods/nginx/logs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it.each([
    ['path traversal out of the build', '/kgw/ui/../../package.json'],
    ['encoded traversal', '/kgw/ui/%2e%2e/%2e%2e/package.json'],
    ['encoded slash into assets', '/kgw/ui/assets%2f..%2f..%2fpackage.json'],
    ['a missing asset answered with HTML (script confusion)', '/kgw/ui/assets/nope.js'],
    ['a file name outside the build', '/kgw/ui/package.json'],
  ])('refuses %s', async (_attack, path) => {
    const res = await stack.request(undefined, path);
    expect(res.body).not.toContain('"name": "kgw"');
    if (res.status === 200) expect(res.headers['content-type']).toMatch(/^text\/html/);
    else expect([400, 404]).toContain(res.status);
  });
});

describe("the terminal's WebSocket with the session cookie", () => {
  let cookie: string;
  let csrf: string;
  beforeAll(async () => {
    const login = await browserLogin(stack, 'alice');
    cookie = `${SECURE_SESSION_COOKIE}=${login.session}`;
    const me = await login.browser.fetch(`${stack.url}/kgw/v1/me`, {
      headers: { accept: 'application/json' },
    });
    csrf = (JSON.parse(me.body) as { csrfToken: string }).csrfToken;
  });

  const EXEC =
    '/api/v1/namespaces/default/pods/nginx/exec?container=nginx&command=echo&command=ws-ok&stdout=true';
  const self = (): string => new URL(stack.url).origin;

  /** Opens the exec WebSocket as a browser would; resolves with the answer to the upgrade. */
  function openExec(
    origin: string | undefined,
    token: string | undefined,
  ): Promise<{ status: number; ws?: WebSocket }> {
    const protocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io', ...(token ? [`csrf.kgw.io.${token}`] : [])];
    const ws = new WebSocket(stack.url.replace(/^http/, 'ws') + EXEC, protocols, {
      headers: { cookie },
      ...(origin ? { origin } : {}),
      ca: stack.caPem,
    });
    return new Promise((done, fail) => {
      ws.once('upgrade', () => done({ status: 101, ws }));
      ws.once('unexpected-response', (_req, res) => {
        done({ status: res.statusCode ?? 0 });
        res.resume();
        ws.terminate();
      });
      ws.once('error', fail);
    });
  }

  it.each([
    {
      attack: "a cross-site page opens a shell with the user's cookie (foreign Origin, no token)",
      origin: 'https://evil.example',
      token: undefined,
    },
    {
      attack: 'a same-origin claim without the CSRF token (a page that cannot read it)',
      origin: 'self',
      token: undefined,
    },
    {
      attack: 'no Origin and no token (a non-browser client holding a stolen cookie alone)',
      origin: undefined,
      token: undefined,
    },
    { attack: 'a guessed CSRF token', origin: 'self', token: 'guessed-token' },
    { attack: 'the right token from a foreign Origin', origin: 'https://evil.example', token: 'right' },
  ])('refuses $attack → 401 before any upgrade', async ({ origin, token }) => {
    const answer = await openExec(origin === 'self' ? self() : origin, token === 'right' ? csrf : token);
    expect(answer.status).toBe(401);
  });

  it("(allowed) the page's own: its Origin and the token as a subprotocol → 101, the API server's protocol chosen, echo runs", async () => {
    const { status, ws } = await openExec(self(), csrf);
    expect(status).toBe(101);
    expect(ws!.protocol).toBe('v5.channel.k8s.io');
    let out = '';
    await new Promise<void>((done) => {
      ws!.on('message', (data: Buffer) => {
        if (data[0] === 1) out += data.subarray(1).toString();
      });
      ws!.once('close', () => done());
    });
    expect(out).toContain('ws-ok');
  });
});

describe('/kgw/v1/kubeconfig', () => {
  const yamlOf = (body: string): Record<string, unknown> => parseYaml(body) as Record<string, unknown>;

  it('GET: the exec-plugin kubeconfig for the caller, with the gateway URL and CA, no secret', async () => {
    const res = await stack.request('bob', '/kgw/v1/kubeconfig?namespace=team-a');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/yaml/);
    expect(res.headers['content-disposition']).toMatch(
      /^attachment; filename="kubeconfig-kgw-127\.0\.0\.1-\d+"$/,
    );
    const config = yamlOf(res.body) as {
      clusters: Array<{ cluster: Record<string, string> }>;
      users: Array<{ user: { exec: { command: string; args: string[] } } }>;
      contexts: Array<{ context: { namespace: string } }>;
    };
    expect(config.clusters[0].cluster.server).toBe(stack.url);
    expect(Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString()).toBe(
      stack.caPem,
    );
    expect(config.users[0].user.exec).toMatchObject({
      command: 'kgw',
      args: ['credential', '--server', stack.url],
    });
    expect(config.contexts[0].context.namespace).toBe('team-a');
    expect(res.body).not.toContain(CALLERS.bob.token);
  });

  it('POST with a token: a new personal token in the file, listed and working, and the CA', async () => {
    const res = await stack.request('bob', '/kgw/v1/kubeconfig', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ credential: 'token', expiresInDays: 2, scopes: ['read-only'] }),
    });
    expect(res.status).toBe(200);
    const answer = JSON.parse(res.body) as {
      context: string;
      kubeconfig: string;
      token: { id: string; name: string };
    };
    expect(answer.token.name).toMatch(/^kubeconfig \d{4}-\d{2}-\d{2}$/);
    const token = (yamlOf(answer.kubeconfig) as { users: Array<{ user: { token: string } }> }).users[0].user
      .token;
    expect(token).toMatch(/^kgw_/);
    const path = join(stack.dir, 'kubeconfig-posted');
    writeFileSync(path, answer.kubeconfig);
    const { stdout } = await run('kubectl', [
      '--kubeconfig',
      path,
      'get',
      'pods',
      '-n',
      'team-a',
      '-o',
      'name',
    ]);
    expect(stdout).toMatch(/^pod\//m);
    const refused = await run('kubectl', ['--kubeconfig', path, 'delete', 'pod', 'x', '-n', 'team-a']).catch(
      (e: { stderr: string }) => e,
    );
    expect(refused.stderr).toMatch(/read-only/i);
  });

  it.each([
    {
      attack: 'no credential',
      caller: undefined,
      method: 'GET',
      path: '/kgw/v1/kubeconfig',
      body: undefined,
      status: 401,
    },
    {
      attack: 'YAML injection through the namespace (a second users: list)',
      caller: 'bob' as const,
      method: 'GET',
      path: `/kgw/v1/kubeconfig?namespace=${encodeURIComponent('x\nusers: []')}`,
      body: undefined,
      status: 400,
    },
    {
      attack: 'a context name that is not a name (quotes into the file name header)',
      caller: 'bob' as const,
      method: 'POST',
      path: '/kgw/v1/kubeconfig',
      body: { credential: 'token', context: 'a"; filename="evil' },
      status: 400,
    },
    {
      attack: 'a token minted by GET (a link or <img> could make one)',
      caller: 'bob' as const,
      method: 'GET',
      path: '/kgw/v1/kubeconfig?credential=token',
      body: undefined,
      status: 400,
    },
    {
      attack: 'a POST without naming the credential',
      caller: 'bob' as const,
      method: 'POST',
      path: '/kgw/v1/kubeconfig',
      body: {},
      status: 400,
    },
  ])('refuses $attack → $status', async ({ caller, method, path, body, status }) => {
    const res = await stack.request(caller, path, {
      method,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(res.status).toBe(status);
    expect(JSON.parse(res.body)).toMatchObject({ error: expect.any(String), requestId: expect.any(String) });
  });

  it("refuses a session's token kubeconfig without its CSRF token (a cross-site form minting a token)", async () => {
    const login = await browserLogin(stack, 'carol');
    const before = await login.browser.fetch(`${stack.url}/kgw/v1/tokens`, {
      headers: { accept: 'application/json' },
    });
    const res = await login.browser.fetch(`${stack.url}/kgw/v1/kubeconfig`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ credential: 'token' }),
    });
    expect(res.status).toBe(401);
    const after = await login.browser.fetch(`${stack.url}/kgw/v1/tokens`, {
      headers: { accept: 'application/json' },
    });
    expect(JSON.parse(after.body)).toEqual(JSON.parse(before.body));
  });
});

describe('POST /kgw/auth/refresh (the silent refresh)', () => {
  it.each([
    { attack: 'no session at all', cookie: false, status: 401 },
    {
      attack:
        "a cross-site POST riding the user's cookie (no CSRF token) that makes the gateway call the provider",
      cookie: true,
      status: 403,
    },
  ])('refuses $attack → $status', async ({ cookie, status }) => {
    const login = await browserLogin(stack, 'bob');
    const browser = cookie ? login.browser : new TestBrowser(stack.caPem);
    const res = await browser.fetch(`${stack.url}/kgw/auth/refresh`, {
      method: 'POST',
      headers: { accept: 'application/json' },
    });
    expect(res.status).toBe(status);
  });

  it('(allowed) the session with its CSRF token: renewed at the provider, new times', async () => {
    const login = await browserLogin(stack, 'bob');
    const me = JSON.parse(
      (await login.browser.fetch(`${stack.url}/kgw/v1/me`, { headers: { accept: 'application/json' } })).body,
    ) as { csrfToken: string; session: { refreshAt: string } };
    const res = await login.browser.fetch(`${stack.url}/kgw/auth/refresh`, {
      method: 'POST',
      headers: { accept: 'application/json', 'x-csrf-token': me.csrfToken },
    });
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as {
      refreshed: boolean;
      refreshAt: string;
      expiresAt: string;
      serverTime: string;
    };
    expect(body.refreshed).toBe(true);
    expect(Date.parse(body.refreshAt)).toBeGreaterThanOrEqual(Date.parse(me.session.refreshAt));
  });
});

describe('in Chromium', () => {
  it('signs in each demo user through the provider form; Who am I shows their groups and rules', async () => {
    const carol = await session('carol');
    await carol.page.waitForSelector('[data-testid="kube-groups"]');
    expect(await carol.page.textContent('[data-testid="kube-user"]')).toBe('carol');
    expect(await carol.page.textContent('[data-testid="kube-groups"]')).toContain('viewers');
    const defaultRules = carol.page.locator('details[data-namespace="default"] table');
    await defaultRules.waitFor();
    expect(await defaultRules.textContent()).toMatch(/get, list, watch.*pods/);
    await checkPage(carol, 'whoami-carol');

    const erin = await session('erin');
    await erin.page.waitForSelector('[data-testid="kube-sa"] code');
    expect(await erin.page.textContent('[data-testid="kube-sa"]')).toContain('team-b');
    expect(await erin.page.textContent('[data-testid="kube-user"]')).toBe(
      'system:serviceaccount:team-b:deployer',
    );

    const bob = await session('bob');
    expect(await bob.page.textContent('[data-testid="oidc-groups"]')).toContain('team-a');
    await bob.page.fill('#ns-extra', 'team-a');
    await bob.page.click('text=Show rules');
    const teamA = bob.page.locator('details[data-namespace="team-a"] table');
    await teamA.waitFor();
    expect(await teamA.textContent()).toMatch(/create.*delete/);

    const alice = await session('alice');
    expect(await alice.page.textContent('header .account')).toContain('admin');
  });

  it("Why can't I explains a viewer's denied delete, with the closest rules she has", async () => {
    const carol = await session(
      'carol',
      '/kgw/ui/can-i?verb=delete&resource=pods&namespace=default&name=nginx',
    );
    const answer = carol.page.locator('[data-testid="can-i-answer"]');
    await answer.waitFor();
    expect(await answer.locator('h2').textContent()).toMatch(
      /^No — you may not delete pods "nginx" in namespace default/,
    );
    expect(await carol.page.textContent('[data-testid="can-i-reason"]')).toMatch(/Reason:/);
    expect(await answer.locator('table').textContent()).toContain('get, list, watch');
    await checkPage(carol, 'can-i-carol-denied');

    // Arriving from a forbidden message: pasted, parsed, asked.
    await goto(carol.page, '/kgw/ui/can-i');
    await carol.page.click('summary:has-text("paste a forbidden message")');
    await carol.page.fill(
      '#ci-paste',
      'Error from server (Forbidden): pods "nginx" is forbidden: User "carol" cannot create resource "pods/exec" in API group "" in the namespace "default"',
    );
    await carol.page.click('button:has-text("Explain")');
    await carol.page.waitForURL(/can-i\?verb=create&resource=pods&subresource=exec/);
    await answer.waitFor();
    expect(await answer.locator('h2').textContent()).toContain('create pods/exec "nginx"');
  });

  it('lists pods live: a pod created with kubectl appears without a reload', async () => {
    const carol = await session('carol', '/kgw/ui/cluster/default');
    await carol.page.waitForSelector('tr[data-pod="nginx"]');
    await carol.page.waitForSelector('text=Live: updates as the cluster changes');
    await checkPage(carol, 'cluster-default');
    const created = await stack
      .kubectl('alice')
      .run(['run', 'web-ui-live', '--image=nginx:1.27', '--port=80', '-n', 'default']);
    expect(created.stderr).toBe('');
    await carol.page.waitForSelector('tr[data-pod="web-ui-live"]', { timeout: 30_000 });
    const deleted = await stack
      .kubectl('alice')
      .run(['delete', 'pod', 'web-ui-live', '-n', 'default', '--wait=false']);
    expect(deleted.code).toBe(0);
    await carol.page.waitForSelector('tr[data-pod="web-ui-live"]', { state: 'detached', timeout: 30_000 });

    // A namespace the viewer may list but where nothing runs, and one where a list is refused.
    const bob = await session('bob', '/kgw/ui/cluster/default');
    await bob.page.waitForSelector("text=Why can't I?", { timeout: 30_000 });
    expect(await bob.page.textContent('main')).toContain('list pods in namespace default');
    await checkPage(bob, 'cluster-forbidden-bob');
  });

  it('shows the pod, follows its log, and opens the pod proxy in a new tab', async () => {
    const alice = await session('alice', '/kgw/ui/cluster/default/pods/nginx');
    await alice.page.waitForSelector('[data-testid="pod-phase"]');
    expect(await alice.page.textContent('[data-testid="pod-phase"]')).toBe('Running');
    await checkPage(alice, 'pod-overview');

    const [tab] = await Promise.all([
      alice.context.waitForEvent('page'),
      alice.page.locator('a.proxy-link').first().click(),
    ]);
    await tab.waitForLoadState();
    expect(tab.url()).toBe(`${stack.url}/api/v1/namespaces/default/pods/nginx/proxy/`);
    expect(await tab.textContent('body')).toContain('Welcome to nginx');
    await tab.screenshot({
      path: join(__dirname, '..', '..', 'test-artifacts', 'web-ui', 'pod-proxy-tab.png'),
    });
    await tab.close();

    await goto(alice.page, '/kgw/ui/cluster/default/pods/nginx/logs?container=nginx');
    await alice.page.waitForSelector('text=Following new lines');
    const marker = `web-ui-log-${Date.now()}`;
    const hit = await stack.request('alice', `/api/v1/namespaces/default/pods/nginx/proxy/echo?${marker}`);
    expect(hit.status).toBe(200);
    await alice.page.locator('[data-testid="logs"]', { hasText: marker }).waitFor({ timeout: 30_000 });
    await checkPage(alice, 'pod-logs');
  });

  it('runs echo in the nginx pod in a browser terminal; a viewer is told why she cannot', async () => {
    const alice = await session('alice', '/kgw/ui/cluster/default/pods/nginx/terminal');
    await alice.page.waitForSelector('[data-testid="term-state"]:has-text("Connected")');
    await alice.page.locator('.xterm-rows', { hasText: '#' }).waitFor();
    await alice.page.locator('.xterm').click();
    await alice.page.keyboard.type('echo terminal says hi\r');
    // The output line alone (the typed command line holds the same words after `echo`).
    await alice.page.locator('.xterm-rows > div', { hasText: /^\s*terminal says hi\s*$/ }).waitFor();
    await checkPage(alice, 'pod-terminal');

    const carol = await session('carol', '/kgw/ui/cluster/default/pods/nginx/terminal');
    await carol.page.waitForSelector('.notice.forbidden');
    expect(await carol.page.textContent('.notice.forbidden')).toContain(
      'create pods/exec "nginx" in namespace default',
    );
    await checkPage(carol, 'pod-terminal-forbidden');
  });

  it('creates a token shown once, which works from outside until it is revoked', async () => {
    const bob = await session('bob', '/kgw/ui/tokens');
    await bob.page.fill('#tk-name', 'web-ui-test');
    await bob.page.fill('#tk-days', '7');
    await bob.page.click('button:has-text("Create token")');
    const token = (await bob.page.locator('[data-testid="token-value"]').textContent()) ?? '';
    expect(token).toMatch(/^kgw_[0-9A-Za-z]+$/);
    await bob.page.waitForSelector('tr[data-token="web-ui-test"]');
    await checkPage(bob, 'tokens-created');

    // Used from outside the browser as a user would: curl, trusting the gateway's CA.
    const curl = async (): Promise<string> =>
      (
        await run('curl', [
          '-sS',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '--cacert',
          caFile(),
          '-H',
          `Authorization: Bearer ${token}`,
          `${stack.url}/api/v1/namespaces/team-a/pods`,
        ])
      ).stdout;
    expect(await curl()).toBe('200');
    await bob.page.reload();
    await bob.page.waitForSelector('tr[data-token="web-ui-test"]');
    expect(await bob.page.textContent('tr[data-token="web-ui-test"]')).toContain('127.0.0.1');

    bob.page.once('dialog', (d) => void d.accept());
    await bob.page.click('tr[data-token="web-ui-test"] button:has-text("Revoke")');
    await bob.page.waitForSelector('tr[data-token="web-ui-test"]:has-text("revoked")');
    expect(await curl()).toBe('401');
  });

  it("an admin's audit page shows a new row live after a curl; a user sees only their own", async () => {
    const alice = await session('alice', '/kgw/ui/audit?tail=1');
    await alice.page.waitForSelector('[data-testid="tail-state"]:has-text("Live")');
    const probe = `audit-probe-${Date.now()}`;
    const { stdout } = await run('curl', [
      '-sk',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-H',
      `Authorization: Bearer ${CALLERS.carol.token}`,
      `${stack.url}/api/v1/namespaces/default/configmaps/${probe}`,
    ]);
    expect(stdout).toBe('404');
    const row = alice.page.locator(`table[data-testid="audit"] tr:has-text("${probe}")`);
    await row.waitFor({ timeout: 30_000 });
    expect(await row.textContent()).toContain('carol');
    await checkPage(alice, 'audit-admin-live');

    const bob = await session('bob', '/kgw/ui/audit');
    await bob.page.waitForSelector('table[data-testid="audit"]');
    const users = await bob.page.$$eval('table[data-testid="audit"] tbody tr td:nth-child(2)', (cells) =>
      cells.map((c) => c.firstChild?.textContent ?? ''),
    );
    expect(new Set(users)).toEqual(new Set(['bob']));
    await checkPage(bob, 'audit-user');
  });

  it('Connect: the exec-plugin kubeconfig works with the CLI installed by the lines on the page', async () => {
    const carol = await session('carol', '/kgw/ui/connect?namespace=default&pod=nginx');
    await carol.page.waitForSelector('[data-testid="cmd-install"]');
    await carol.page.waitForSelector('[data-testid="ca-link"]');
    expect(await carol.page.textContent('[data-testid="cmd-login"] pre')).toBe(
      `kgw login ${stack.url} --ca kgw-ca.crt`,
    );
    expect(await carol.page.textContent('[data-testid="cmd-forward"] pre')).toBe(
      'kgw forward -n default pod/nginx 8080:80',
    );
    await checkPage(carol, 'connect');

    // A user's fresh machine: an empty HOME and working directory; the CA and the kubeconfig
    // from the page, the CLI from the lines the page shows, run as they are.
    const home = mkdtempSync(join(stack.dir, 'home-'));
    const [ca] = await Promise.all([
      carol.page.waitForEvent('download'),
      carol.page.click('[data-testid="ca-link"]'),
    ]);
    await ca.saveAs(join(home, 'kgw-ca.crt'));
    const [kc] = await Promise.all([
      carol.page.waitForEvent('download'),
      carol.page.click('button:has-text("Download the kubeconfig")'),
    ]);
    const kubeconfig = join(home, kc.suggestedFilename());
    await kc.saveAs(kubeconfig);
    await carol.page.waitForSelector('[data-testid="cmd-login-first"]');
    const file = readFileSync(kubeconfig, 'utf8');
    expect(file).not.toMatch(/token:/);
    expect(file).toContain('certificate-authority-data');
    const install = (await carol.page.textContent('[data-testid="cmd-install"] pre')) ?? '';
    expect(install).toContain('sha256sum -c');
    const shell = await run('bash', ['-euo', 'pipefail', '-c', install], {
      cwd: home,
      env: { PATH: process.env.PATH, HOME: home },
    });
    expect(shell.stdout).toContain('kgw: OK');
    // kubectl runs `kgw credential` from the PATH (kubectl hands the plugin its environment: the
    // token stands in for a `kgw login`, which needs a person at the browser).
    const env = {
      PATH: `${join(home, '.local', 'bin')}:${dirname(process.execPath)}:/usr/bin:/bin`,
      HOME: home,
      KGW_TOKEN: CALLERS.carol.token,
    };
    const { stdout } = await run('kubectl', ['--kubeconfig', kubeconfig, 'get', 'pods', '-o', 'name'], {
      env,
    });
    expect(stdout).toContain('pod/nginx');
  });

  it('Connect: a token kubeconfig downloaded from the page works with kubectl as it is', async () => {
    const carol = await session('carol', '/kgw/ui/connect?credential=token');
    expect(await carol.page.isChecked('input[name="kc-credential"][value="token"]')).toBe(true);
    const [download] = await Promise.all([
      carol.page.waitForEvent('download'),
      carol.page.click('button:has-text("Create a token and download the kubeconfig")'),
    ]);
    const path = join(stack.dir, 'kubeconfig-from-ui');
    await download.saveAs(path);
    await carol.page.waitForSelector('.notice.success:has-text("with the new token")');
    await checkPage(carol, 'connect-token-made');
    // No --certificate-authority: the file carries the gateway's CA.
    const { stdout } = await run('kubectl', ['--kubeconfig', path, 'get', 'pods', '-o', 'name']);
    expect(stdout).toContain('pod/nginx');
  });

  it('Forwards: a `kgw forward` started from a terminal shows live with its open stream, only to its user and admins', async () => {
    const bob = await session('bob', '/kgw/ui/forwards');
    await bob.page.waitForSelector('text=No open tunnels');
    await checkPage(bob, 'forwards-empty');

    const cli = await startForward(['-n', 'team-a', 'svc/web', ':80'], 'bob');
    // A connection held open through the tunnel: a stream to one of the service's pods.
    const held = net.connect({ host: '127.0.0.1', port: cli.port });
    await new Promise<void>((done, fail) => held.once('connect', done).once('error', fail));
    held.write('GET / HTTP/1.1\r\nHost: web\r\n');
    try {
      const row = bob.page.locator('table[data-testid="tunnels"] tbody tr');
      await row.waitFor({ timeout: 30_000 });
      expect(await row.textContent()).toContain('team-a/service/web:80');
      await bob.page.waitForSelector('table[data-testid="streams"] tr[data-pod^="web-"]', {
        timeout: 30_000,
      });
      await checkPage(bob, 'forwards-bob');

      // The API: a user sees only their own; an admin sees everyone's and can narrow by user.
      const list = async (
        caller: 'alice' | 'bob' | 'carol',
        query = '',
      ): Promise<Array<{ user: string; id: string }>> => {
        const res = await stack.request(caller, `/kgw/v1/forwards${query}`);
        expect(res.status).toBe(200);
        expect(res.body).not.toMatch(/secret/i);
        return (JSON.parse(res.body) as { items: Array<{ user: string; id: string }> }).items;
      };
      expect((await list('bob')).map((t) => t.user)).toEqual(['bob']);
      expect(await list('carol')).toEqual([]);
      // A user naming someone else gets their own list still, never the other's.
      expect(await list('carol', '?user=bob')).toEqual([]);
      expect((await list('alice')).map((t) => t.user)).toContain('bob');
      expect(await list('alice', '?user=carol')).toEqual([]);

      const alice = await session('alice', '/kgw/ui/forwards');
      await alice.page
        .locator('table[data-testid="tunnels"] tbody tr', { hasText: 'bob' })
        .waitFor({ timeout: 30_000 });
      await checkPage(alice, 'forwards-admin');
      const carol = await session('carol', '/kgw/ui/forwards');
      await carol.page.waitForSelector('text=No open tunnels');
    } finally {
      held.destroy();
      await cli.stop();
    }
    // The tunnel ends with the CLI, and the page says so without a reload.
    await bob.page.waitForSelector('text=No open tunnels', { timeout: 30_000 });
  });

  it('renews the session silently before the provider token expires, and says Signed out when the provider refuses', async () => {
    const carol = await session('carol', '/kgw/ui/whoami');
    const me = (await (await carol.context.request.get(`${stack.url}/kgw/v1/me`)).json()) as {
      session: { refreshAt: string; expiresAt: string };
    };
    const firstDue = Date.parse(me.session.refreshAt);
    expect(firstDue - Date.now()).toBeLessThanOrEqual(OIDC_TOKEN_TTL_SECONDS * 1000);
    // Nothing but the page itself asks: it renews ahead of the expiry.
    const refresh = await carol.page.waitForResponse(
      (r) => r.url() === `${stack.url}/kgw/auth/refresh` && r.request().method() === 'POST',
      { timeout: 120_000 },
    );
    expect(refresh.status()).toBe(200);
    const renewed = (await refresh.json()) as { refreshed: boolean; refreshAt: string; serverTime: string };
    expect(renewed.refreshed).toBe(true);
    // Answered while the old provider token was still valid, with a new one that lasts longer.
    expect(Date.parse(renewed.serverTime)).toBeLessThan(firstDue);
    expect(Date.parse(renewed.refreshAt)).toBeGreaterThan(firstDue);
    await carol.page.click('nav >> text=Tokens');
    await carol.page.waitForSelector('h1:has-text("Personal access tokens")');

    // The provider stops renewing (an administrator withdrew the user's grants): the page's next
    // renewal is refused, the gateway ends the session and the page says so.
    expect(stack.oidc!.revokeGrantsOf('carol')).toBeGreaterThan(0);
    await carol.page.waitForSelector('h1:has-text("Signed out")', { timeout: 120_000 });
    expect(await carol.page.textContent('main')).toContain('Sign in again');
    expect((await carol.context.request.get(`${stack.url}/kgw/v1/me`)).status()).toBe(401);
  });

  it('shows a clear signed-out state when the session ends, and logout ends the provider session too', async () => {
    const carol = await session('carol', '/kgw/ui/whoami');
    // The session ends behind the page's back (expired, revoked elsewhere): the next call says so.
    await carol.context.clearCookies();
    await carol.page.click('nav >> text=Tokens');
    await carol.page.waitForSelector('h1:has-text("Signed out")');
    await checkPage(carol, 'signed-out');

    const bob = await session('bob', '/kgw/ui/whoami');
    await bob.page.click('button:has-text("Log out")');
    // The provider asks to confirm the end of its own session, then returns to kgw.
    await bob.page.waitForURL((u) => !u.pathname.startsWith('/kgw/ui'));
    const confirm = bob.page.locator('button[type="submit"], input[type="submit"]').first();
    if (await confirm.isVisible().catch(() => false)) await confirm.click();
    await bob.page.waitForURL(/\/kgw\/auth\/logged-out/);
    // The browser's cookie jar (whatever it holds now) no longer opens a session.
    expect((await bob.context.request.get(`${stack.url}/kgw/v1/me`)).status()).toBe(401);
    // Signing in again needs the password: the provider's session is gone too.
    await bob.page.goto(`${stack.url}/kgw/ui/`);
    await bob.page.waitForSelector('input[name="password"]');
  });
});
