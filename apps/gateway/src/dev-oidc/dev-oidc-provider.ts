// The built-in OpenID provider for demo mode and tests: `oidc-provider` on loopback, with a
// fixed set of users (name, password, groups), discovery, JWKS, authorization code + PKCE,
// refresh tokens, the device authorization grant and a plain login form.
//
// It is a development and test part, never a production identity provider: it listens on
// 127.0.0.1 only, keeps its state in memory, accepts redirect URIs on loopback hosts only
// (any port, because the gateway's port is often picked at random), and skips consent for its
// own clients. It is off unless demo mode is on or KGW_DEV_OIDC=true.
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as OidcProvider from 'oidc-provider' with { 'resolution-mode': 'import' };
import { jose } from '../auth/esm-packages';

// oidc-provider 9 asks for Node 22 at import but runs on Node 20.19+ (its test flows pass here);
// its one-line "Unsupported runtime" warning would only alarm demo users, so it is dropped.
const { default: Provider } = quietly(
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- require(esm): see auth/esm-packages.ts
  () => require('oidc-provider') as typeof OidcProvider,
);

function quietly<T>(load: () => T): T {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('Unsupported runtime')) return;
    warn(...args);
  };
  try {
    return load();
  } finally {
    console.warn = warn;
  }
}

export interface DevOidcUser {
  name: string;
  password: string;
  groups: string[];
  email?: string;
}

export interface DevOidcClient {
  clientId: string;
  /** Absent: a public client (PKCE only). */
  clientSecret?: string;
}

export interface DevOidcProviderOptions {
  users: DevOidcUser[];
  clients: DevOidcClient[];
  /** 0 = a free port. */
  port?: number;
  idTokenTtlSeconds?: number;
}

export interface RunningDevOidcProvider {
  issuer: string;
  /** Signs a token with the provider's own key (tests: tokens no real flow would issue). */
  signWithProviderKey(
    payload: Record<string, unknown>,
    header?: { kid?: string; alg?: string },
  ): Promise<string>;
  /**
   * Withdraws every grant the user gave (and the refresh tokens that came with them), as an
   * administrator disabling an account would: the next refresh is refused (tests: a session
   * the provider no longer renews). Returns how many grants went.
   */
  revokeGrantsOf(accountId: string): number;
  stop(): Promise<void>;
}

/** Loopback hosts a dev client may redirect to. */
function isLoopbackUri(uri: string): boolean {
  try {
    const url = new URL(uri);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
    );
  } catch {
    return false;
  }
}

export async function startDevOidcProvider(options: DevOidcProviderOptions): Promise<RunningDevOidcProvider> {
  const server = createServer();
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => ok());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const users = new Map(options.users.map((u) => [u.name, u]));

  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const signingJwk = {
    ...(await jose.exportJWK(privateKey)),
    kid: `dev-${randomBytes(6).toString('hex')}`,
    alg: 'RS256',
    use: 'sig',
  };

  const adapterStore: AdapterStore = new Map();
  const provider = new Provider(issuer, {
    adapter: (model: string) => new MemoryAdapter(model, adapterStore),
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    clients: options.clients.map((c) => ({
      client_id: c.clientId,
      ...(c.clientSecret
        ? { client_secret: c.clientSecret, token_endpoint_auth_method: 'client_secret_basic' as const }
        : { token_endpoint_auth_method: 'none' as const }),
      // Checked by the redirectUriAllowed override below; listed for the metadata's sake.
      redirect_uris: ['http://127.0.0.1/kgw/auth/callback'],
      post_logout_redirect_uris: ['http://127.0.0.1/kgw/auth/logged-out'],
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code' as const],
    })),
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    // ID tokens carry the scope's claims (groups), which is what the gateway maps.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        successSource(ctx) {
          ctx.type = 'html';
          ctx.body =
            '<!doctype html><title>Signed in</title><p>Signed in. You can return to your device.</p>';
        },
      },
      rpInitiatedLogout: { enabled: true },
      revocation: { enabled: true },
    },
    pkce: { required: () => true },
    ttl: {
      IdToken: options.idTokenTtlSeconds ?? 3600,
      AccessToken: options.idTokenTtlSeconds ?? 3600,
      RefreshToken: 24 * 3600,
      Session: 24 * 3600,
      Interaction: 600,
      Grant: 24 * 3600,
      DeviceCode: 600,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, id) {
      const user = users.get(id);
      if (!user) return undefined;
      return {
        accountId: id,
        claims: () => ({
          sub: id,
          name: user.name,
          preferred_username: user.name,
          email: user.email ?? `${user.name}@kgw.example`,
          email_verified: true,
          groups: user.groups,
        }),
      };
    },
    // First-party clients only: grant what they ask, no consent screen.
    async loadExistingGrant(ctx) {
      const grantId =
        ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (grantId) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        if (existing) return existing;
      }
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client!.clientId,
        accountId: ctx.oidc.session!.accountId!,
      });
      grant.addOIDCScope([...(ctx.oidc.requestParamScopes ?? [])].join(' '));
      await grant.save();
      return grant;
    },
    async issueRefreshToken(_ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },
  });
  // Dev only: the gateway's callback on any loopback port.
  provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(uri: string) {
    return isLoopbackUri(uri);
  };
  provider.Client.prototype.postLogoutRedirectUriAllowed = function postLogoutRedirectUriAllowed(
    uri: string,
  ) {
    return isLoopbackUri(uri);
  };
  const callback = provider.callback();

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer);
    // Browsers ask for it on the login page; a 404 there reads as something broken.
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204, { 'cache-control': 'max-age=86400' }).end();
      return;
    }
    const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(url.pathname);
    if (!match) {
      void callback(req, res);
      return;
    }
    const handle = match[2] ? submitLogin(provider, users, req, res) : showLogin(provider, req, res);
    handle.catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
      }
      res.end(`login failed: ${(err as Error).message}`);
    });
  });

  return {
    issuer,
    async signWithProviderKey(payload, header = {}) {
      const key = await jose.importJWK(signingJwk, 'RS256');
      return new jose.SignJWT(payload)
        .setProtectedHeader({ alg: header.alg ?? 'RS256', kid: header.kid ?? signingJwk.kid })
        .sign(key);
    },
    revokeGrantsOf(accountId) {
      const grants = [...adapterStore]
        .filter(([key, entry]) => key.startsWith('Grant:') && entry.payload.accountId === accountId)
        .map(([key]) => key.slice('Grant:'.length));
      for (const [key, entry] of adapterStore)
        if (entry.payload.grantId !== undefined && grants.includes(entry.payload.grantId))
          adapterStore.delete(key);
      for (const grant of grants) adapterStore.delete(`Grant:${grant}`);
      return grants.length;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

const PAGE_STYLE =
  'body{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto}label,input,button{display:block;width:100%;margin:.4rem 0}';

async function showLogin(
  provider: InstanceType<typeof Provider>,
  req: IncomingMessage,
  res: ServerResponse,
  error?: string,
): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const client = details.params.client_id;
  res.writeHead(error ? 401 : 200, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(`<!doctype html><html><head><title>Sign in</title><link rel="icon" href="data:,"><style>${PAGE_STYLE}</style></head><body>
<h1>Sign in</h1><p>to <b>${escapeHtml(typeof client === 'string' ? client : '')}</b> (kgw development provider)</p>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(details.uid)}/login">
<label>User <input name="login" autocomplete="username" autofocus required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form></body></html>`);
}

async function submitLogin(
  provider: InstanceType<typeof Provider>,
  users: Map<string, DevOidcUser>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (req.method !== 'POST') return showLogin(provider, req, res);
  const form = new URLSearchParams(await readBody(req));
  const login = form.get('login') ?? '';
  const password = form.get('password') ?? '';
  const user = users.get(login);
  if (!user || !samePassword(user.password, password))
    return showLogin(provider, req, res, 'Wrong user or password.');
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: user.name } },
    { mergeWithLastSubmission: false },
  );
}

function samePassword(expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

type AdapterStore = Map<string, { payload: OidcProvider.AdapterPayload; expires?: number }>;

/** oidc-provider's storage, in memory (the provider is dev-only and single-process). */
class MemoryAdapter implements OidcProvider.Adapter {
  constructor(
    private readonly model: string,
    private readonly store: AdapterStore,
  ) {}

  private key(id: string): string {
    return `${this.model}:${id}`;
  }

  private live(key: string): OidcProvider.AdapterPayload | undefined {
    const entry = this.store.get(key);
    if (!entry) return undefined;
    if (entry.expires !== undefined && entry.expires <= Date.now()) {
      this.store.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  async upsert(id: string, payload: OidcProvider.AdapterPayload, expiresIn?: number): Promise<void> {
    this.store.set(this.key(id), {
      payload,
      expires: expiresIn ? Date.now() + expiresIn * 1000 : undefined,
    });
  }

  async find(id: string): Promise<OidcProvider.AdapterPayload | undefined> {
    return this.live(this.key(id));
  }

  async findByUserCode(userCode: string): Promise<OidcProvider.AdapterPayload | undefined> {
    for (const [key] of this.store) {
      if (!key.startsWith(`${this.model}:`)) continue;
      const payload = this.live(key);
      if (payload?.userCode === userCode) return payload;
    }
    return undefined;
  }

  async findByUid(uid: string): Promise<OidcProvider.AdapterPayload | undefined> {
    for (const [key] of this.store) {
      if (!key.startsWith(`${this.model}:`)) continue;
      const payload = this.live(key);
      if (payload?.uid === uid) return payload;
    }
    return undefined;
  }

  async consume(id: string): Promise<void> {
    const payload = this.live(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.store.delete(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const [key, entry] of this.store) {
      if (entry.payload.grantId === grantId) this.store.delete(key);
    }
  }
}
