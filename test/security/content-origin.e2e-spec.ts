// Finding 1 of issue #17, the separate origin for proxied content (KGW_PROXY_CONTENT_ORIGIN):
// the gateway listens at https://127.0.0.1:<port> and serves proxied content for browsers at
// https://localhost:<port> — the same process, another host name (cookies are per host name).
// Rows 1e–1k in docs/security.md.
import { createServer, type AddressInfo } from 'node:net';
import { browserLogin, type BrowserLogin } from '../support/browser-login';
import { startGatewayStack, type GatewayStack } from '../support/gateway-stack';

const POD_PAGE = '/api/v1/namespaces/default/pods/nginx/proxy/';
let stack: GatewayStack;
let content: string;
let login: BrowserLogin;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}

beforeAll(async () => {
  const port = await freePort();
  content = `https://localhost:${port}`;
  stack = await startGatewayStack({
    oidc: true,
    env: { KGW_HTTP_PORT: String(port), KGW_PROXY_CONTENT_ORIGIN: content },
  });
  login = await browserLogin(stack, 'alice');
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

describe('finding 1: proxied content on an origin of its own', () => {
  it("1e: a signed-in browser opening a pod's page on the gateway origin → sent to the content origin by a handshake, the page renders there (sandboxed still)", async () => {
    const page = await login.browser.navigate(`${stack.url}${POD_PAGE}`);
    expect(page.url).toBe(`${content}${POD_PAGE}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('Welcome to nginx!');
    expect(String(page.headers['content-security-policy'])).toMatch(/sandbox /);
    expect(login.browser.cookie('localhost', '__Host-kgw_content')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The gateway's session cookie never went to the content origin's host.
    expect(login.browser.cookie('localhost', '__Host-kgw_session')).toBeUndefined();
  });

  it("1f attack: the gateway's session cookie (or a bearer token) presented on the content origin → 401: only the content cookie counts there", async () => {
    const credentials: Array<Record<string, string>> = [
      { cookie: `__Host-kgw_session=${login.session!}` },
      { authorization: 'Bearer tok-alice-0123456789' },
    ];
    for (const headers of credentials) {
      const res = await fetchAt(content, POD_PAGE, headers);
      expect(res.status).toBe(401);
    }
  });

  it.each(['/kgw/v1/me', '/kgw/ui/', '/api/v1/namespaces', '/kgw/v1/tokens'])(
    '1g attack: proxied content reaching for %s on its own origin → 404: nothing but proxied content there',
    async (path) => {
      const cookie = `__Host-kgw_content=${login.browser.cookie('localhost', '__Host-kgw_content')!}`;
      const res = await fetchAt(content, path, { cookie });
      expect(res.status).toBe(404);
    },
  );

  it("1h attack: an attacker's handshake code planted in the victim's browser (login fixation) → refused without the state cookie the victim's content origin set", async () => {
    const attacker = await browserLogin(stack, 'bob');
    const start = await attacker.browser.fetch(`${stack.url}${POD_PAGE}`);
    expect(start.status).toBe(303);
    const toContent = await attacker.browser.fetch(start.headers.location!);
    const grant = await attacker.browser.fetch(toContent.headers.location!);
    const enter = grant.headers.location!;
    expect(enter).toMatch(/\/kgw\/content\/enter\?code=/);
    // The victim (alice's browser) follows the attacker's link.
    const planted = await login.browser.fetch(enter);
    expect(planted.status).toBe(401);
    // The code was single-use either way: the attacker cannot redeem it now.
    expect((await attacker.browser.fetch(enter)).status).toBe(401);
  });

  it("1i attack: a write through the pod proxy with the gateway's session cookie (and its CSRF token) → 403 on the gateway origin: proxied content is not served on its strength", async () => {
    const me = JSON.parse((await login.browser.fetch(`${stack.url}/kgw/v1/me`)).body) as {
      csrfToken: string;
    };
    const res = await login.browser.fetch(`${stack.url}/api/v1/namespaces/default/pods/nginx/proxy/echo`, {
      method: 'POST',
      headers: { 'x-csrf-token': me.csrfToken, 'content-type': 'text/plain' },
      body: 'hi',
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).message).toContain(content);
  });

  it('1j attack: a cross-site POST to proxied content riding the content cookie → 401 without the content origin as Origin; (allowed) from the page itself', async () => {
    const cookie = `__Host-kgw_content=${login.browser.cookie('localhost', '__Host-kgw_content')!}`;
    const path = '/api/v1/namespaces/default/pods/nginx/proxy/echo';
    const foreign = await fetchAt(content, path, { cookie, origin: 'https://evil.example' }, 'POST');
    expect(foreign.status).toBe(401);
    const own = await fetchAt(content, path, { cookie, origin: content }, 'POST');
    expect(own.status).toBe(200);
  });

  it('(allowed) kubectl and curl with a bearer token use proxy paths on the gateway origin as before', async () => {
    const res = await stack.request('alice', POD_PAGE);
    expect(res.status).toBe(200);
    expect(res.body).toContain('Welcome to nginx!');
  });

  it('1k: logout ends the content session with the gateway session', async () => {
    const me = JSON.parse((await login.browser.fetch(`${stack.url}/kgw/v1/me`)).body) as {
      csrfToken: string;
    };
    const out = await login.browser.fetch(`${stack.url}/kgw/auth/logout`, {
      method: 'POST',
      headers: { accept: 'application/json', 'x-csrf-token': me.csrfToken },
    });
    expect(out.status).toBe(200);
    const cookie = `__Host-kgw_content=${login.browser.cookie('localhost', '__Host-kgw_content')!}`;
    expect((await fetchAt(content, POD_PAGE, { cookie })).status).toBe(401);
  });
});

/** A request to `origin` trusting the stack's CA, no cookie jar. */
async function fetchAt(
  origin: string,
  path: string,
  headers: Record<string, string>,
  method = 'GET',
): Promise<{ status: number; body: string }> {
  const { request } = await import('node:https');
  const url = new URL(path, origin);
  return new Promise((done, fail) => {
    const req = request(url, { method, headers, ca: stack.caPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', fail);
    req.end(method === 'POST' ? 'hi' : undefined);
  });
}
