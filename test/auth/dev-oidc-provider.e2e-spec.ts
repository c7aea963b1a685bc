// The built-in OpenID provider on its own: discovery, the login form, code + PKCE, refresh,
// and the device grant, driven by plain HTTP as a user and a client would.
import { createHash, randomBytes } from 'node:crypto';
import {
  startDevOidcProvider,
  type RunningDevOidcProvider,
} from '../../apps/gateway/src/dev-oidc/dev-oidc-provider';
import { TestBrowser } from '../support/test-browser';

let provider: RunningDevOidcProvider;

beforeAll(async () => {
  provider = await startDevOidcProvider({
    users: [{ name: 'alice', password: 'alice-pw', groups: ['kgw:admins'] }],
    clients: [{ clientId: 'app' }],
  });
});
afterAll(async () => {
  await provider?.stop();
});

async function token(
  params: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${provider.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

it('publishes discovery and a JWKS', async () => {
  const doc = (await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json()) as Record<
    string,
    unknown
  >;
  expect(doc.issuer).toBe(provider.issuer);
  expect(doc.device_authorization_endpoint).toBeDefined();
  const jwks = (await (await fetch(String(doc.jwks_uri))).json()) as { keys: unknown[] };
  expect(jwks.keys.length).toBeGreaterThan(0);
});

it('answers the browser favicon request on the login page without a 404', async () => {
  const res = await fetch(`${provider.issuer}/favicon.ico`);
  expect(res.status).toBe(204);
});

it('runs code + PKCE through the login form, then refreshes', async () => {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const browser = new TestBrowser();
  const redirectUri = 'http://127.0.0.1:1/cb';
  const auth = new URL(`${provider.issuer}/auth`);
  auth.search = new URLSearchParams({
    client_id: 'app',
    response_type: 'code',
    scope: 'openid groups offline_access',
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st',
    nonce: 'n',
  }).toString();
  const wrong = await browser.navigateSigningIn(auth.href, 'alice', 'nope', {
    stopAt: (u) => u.port === '1',
  });
  expect(wrong.status).toBe(401);
  const done = await browser.navigateSigningIn(auth.href, 'alice', 'alice-pw', {
    stopAt: (u) => u.port === '1',
  });
  const back = new URL(String(done.headers.location), done.url);
  expect(back.searchParams.get('state')).toBe('st');
  const code = back.searchParams.get('code')!;
  const tokens = await token({
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    client_id: 'app',
    code_verifier: verifier,
  });
  expect(tokens.status).toBe(200);
  const claims = JSON.parse(
    Buffer.from(String(tokens.body.id_token).split('.')[1], 'base64url').toString(),
  ) as Record<string, unknown>;
  expect(claims).toMatchObject({ sub: 'alice', groups: ['kgw:admins'], nonce: 'n', aud: 'app' });
  expect(tokens.body.refresh_token).toBeDefined();
  const refreshed = await token({
    grant_type: 'refresh_token',
    refresh_token: String(tokens.body.refresh_token),
    client_id: 'app',
  });
  expect(refreshed.status).toBe(200);
  expect(refreshed.body.id_token).toBeDefined();
});

it('runs the device authorization grant', async () => {
  const start = (await (
    await fetch(`${provider.issuer}/device/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'app', scope: 'openid groups' }).toString(),
    })
  ).json()) as Record<string, string>;
  expect(start.user_code).toBeDefined();
  const pending = await token({
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    device_code: start.device_code,
    client_id: 'app',
  });
  expect(pending.body.error).toBe('authorization_pending');
  const browser = new TestBrowser();
  // The provider's own user-code form (with its xsrf field), then the login form, then confirm.
  const page = await browser.navigate(start.verification_uri_complete);
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)?.[1];
  expect(xsrf).toBeDefined();
  const confirm = await browser.fetch(`${provider.issuer}/device`, {
    form: { xsrf: xsrf!, user_code: start.user_code, confirm: 'yes' },
  });
  const next = new URL(String(confirm.headers.location), confirm.url);
  const finished = await browser.navigateSigningIn(next.href, 'alice', 'alice-pw');
  expect(finished.status).toBe(200);
  const granted = await token({
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    device_code: start.device_code,
    client_id: 'app',
  });
  expect(granted.status).toBe(200);
  expect(granted.body.id_token).toBeDefined();
});
