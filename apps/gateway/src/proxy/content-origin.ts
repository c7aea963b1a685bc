// A separate origin for proxied content (KGW_PROXY_CONTENT_ORIGIN), as Teleport serves apps on
// their own origin: pages a pod, service or node serves through the API server's proxy run where
// the gateway's session cookie, /kgw/v1 and the web UI do not exist.
//
// Guards: the user's session against proxied content (finding 1 of issue #17) beyond the
// sandbox policy, for a browser where CSP `sandbox` does not hold (old engines, content a
// viewer plugin renders, a browser bug). Trusts: the browser's same-origin policy and host-only
// cookies; the session that a one-time code was minted for. Refuses, on the content origin:
// every path but proxied content and the handshake (404), the gateway session cookie and bearer
// tokens (only the content cookie is a credential there), an unsafe method or upgrade whose
// Origin is not the content origin, a code not bound to this browser's handshake state. On the
// gateway origin it refuses to serve proxied content on the strength of the session cookie: a
// browser navigation (GET/HEAD) is sent to the content origin, anything else gets 403. Bearer
// callers (kubectl, curl) are served on the gateway origin as before. A failure of its own
// (the session store down) answers a 500 Status with a request id only; the details are logged.
//
// The handshake (three legs, so a code cannot be planted in someone else's browser):
//   1. gateway: GET <proxy path> with the session cookie → 303 content /kgw/content/start?to=…
//   2. content: sets a random state cookie → 303 gateway /kgw/auth/content?state=…&to=…
//   3. gateway: with the session cookie, mints a one-time code bound to (session, state), valid
//      60 s → 303 content /kgw/content/enter?code=…
//   4. content: the code and the state cookie must match; sets `__Host-kgw_content`, bound to
//      the session (it dies with it: logout, expiry) → 303 to the proxy path.
// Codes and content sessions are rows of the login-transaction table (digests only), tagged by
// kind, so neither can stand in for the other or for a login in progress.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  failure,
  internal,
  isRequestRejection,
  resolveRequestInfo,
  writeSocketStatus,
  writeStatus,
  type KubeStatus,
} from '@kgw/kube';
import type { AuthenticationResult, Authenticator } from '../auth/authenticator';
import {
  cookieValue,
  newSecret,
  sameSecret,
  setCookieHeader,
  type BrowserSessions,
} from '../auth/browser-sessions';
import { assignRequestId } from '../logging/request-id';
import { isProxiedContent } from './header-sanitizer';

const CODE_TTL_MS = 60_000;
const STATE_TTL_SECONDS = 300;
const START_PATH = '/kgw/content/start';
const ENTER_PATH = '/kgw/content/enter';
/** On the gateway origin: leg 3. */
export const CONTENT_GRANT_PATH = '/kgw/auth/content';
/** What the origin needs of a proxy chain (a KubeTrafficHandler). */
interface ProxyHandler {
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

type Row =
  { kind: 'content-code'; session: string; state: string } | { kind: 'content-session'; session: string };

export interface ContentOriginOptions {
  /** `https://content.example.com` (validated at boot: an origin, on a host of its own). */
  origin: string;
  /** The gateway's own URL (KGW_HTTP_PUBLIC_URL, or what it listens on). */
  gatewayUrl(): string;
  sessions: BrowserSessions;
  /** The gateway's session cookie name for a request (`__Host-kgw_session` where possible). */
  sessionCookieName(req: IncomingMessage): string;
  /** The proxy chain that authenticates with the content cookie only (built after this). */
  contentChain(): ProxyHandler;
  /** The gateway origin's own chain (a stale session cookie gets its 401 there). */
  gatewayChain(): Pick<ProxyHandler, 'handleRequest'>;
  /** Where a failure's details go (the answer has only the request id). */
  logger: Pick<Logger, 'error'>;
}

export class ProxyContentOrigin {
  readonly origin: string;
  private readonly host: string;
  private readonly secure: boolean;
  readonly authenticator: Authenticator;

  constructor(private readonly options: ContentOriginOptions) {
    const url = new URL(options.origin);
    this.origin = url.origin;
    this.host = url.host.toLowerCase();
    this.secure = url.protocol === 'https:' || isLoopbackName(url.hostname);
    this.authenticator = { authenticate: (req) => this.authenticate(req) };
  }

  /** The content cookie's name: `__Host-` wherever the content origin keeps Secure cookies. */
  get cookieName(): string {
    return this.secure ? '__Host-kgw_content' : 'kgw_content';
  }

  /** A request addressed to the content origin (by Host, or :authority over HTTP/2). */
  isContentRequest(req: IncomingMessage): boolean {
    const host = req.headers.host ?? req.headers[':authority'];
    return typeof host === 'string' && host.toLowerCase() === this.host;
  }

  /**
   * Whether the gateway origin must not serve this request itself: the handshake's leg 3, or
   * proxied content asked for with the session cookie and no bearer token.
   */
  takesGatewayRequest(req: IncomingMessage): boolean {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === CONTENT_GRANT_PATH) return true;
    if (req.headers.authorization !== undefined) return false;
    if (cookieValue(req, this.options.sessionCookieName(req)) === undefined) return false;
    return isProxiedContentPath(req);
  }

  /** Leg 1 (and the 403 for unsafe methods) and leg 3, on the gateway origin. */
  handleGatewayRequest(req: IncomingMessage, res: ServerResponse): void {
    this.gatewayLeg(req, res).catch((err: unknown) => this.failed(req, res, err));
  }

  /** Everything on the content origin: legs 2 and 4, proxied content, else 404. */
  handleContentRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === START_PATH) return this.start(req, res);
    if (path === ENTER_PATH) {
      this.enter(req, res).catch((err: unknown) => this.failed(req, res, err));
      return;
    }
    if (!isProxiedContentPath(req)) return writeStatus(res, notHere());
    this.options.contentChain().handleRequest(req, res);
  }

  handleContentUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!isProxiedContentPath(req)) return writeSocketStatus(socket, notHere(), '');
    this.options.contentChain().handleUpgrade(req, socket, head);
  }

  private async gatewayLeg(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const cookie = cookieValue(req, this.options.sessionCookieName(req));
    const session = cookie ? await this.options.sessions.find(cookie) : undefined;
    if (url.pathname === CONTENT_GRANT_PATH) {
      const to = url.searchParams.get('to') ?? '';
      const state = url.searchParams.get('state') ?? '';
      if (!session) return this.redirect(res, `${this.options.gatewayUrl()}/kgw/auth/login`);
      if (!isProxiedContentTarget(to) || state.length < 32)
        return writeStatus(res, failure(400, 'BadRequest', 'kgw: not a proxied-content handshake'));
      const code = await this.options.sessions.beginLogin(
        { kind: 'content-code', session: session.idHash, state } satisfies Row,
        to,
        CODE_TTL_MS,
      );
      return this.redirect(res, `${this.origin}${ENTER_PATH}?code=${encodeURIComponent(code)}`);
    }
    // Proxied content with the session cookie: a stale cookie goes on to the chain (401).
    if (!session) return this.options.gatewayChain().handleRequest(req, res);
    const method = (req.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') {
      return writeStatus(
        res,
        failure(
          403,
          'Forbidden',
          `kgw: proxied content is served at ${this.origin}, not with the gateway's session`,
        ),
      );
    }
    this.redirect(res, `${this.origin}${START_PATH}?to=${encodeURIComponent(req.url ?? '/')}`);
  }

  private start(req: IncomingMessage, res: ServerResponse): void {
    const to = new URL(req.url ?? '/', this.origin).searchParams.get('to') ?? '';
    if (!isProxiedContentTarget(to)) return writeStatus(res, notHere());
    const state = newSecret();
    res.setHeader(
      'Set-Cookie',
      setCookieHeader(this.stateCookieName, state, {
        secure: this.secure,
        maxAgeSeconds: STATE_TTL_SECONDS,
      }),
    );
    const back = new URL(`${this.options.gatewayUrl()}${CONTENT_GRANT_PATH}`);
    back.searchParams.set('state', state);
    back.searchParams.set('to', to);
    this.redirect(res, back.href);
  }

  private async enter(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const code = new URL(req.url ?? '/', this.origin).searchParams.get('code') ?? '';
    const state = cookieValue(req, this.stateCookieName);
    const grant = code ? await this.options.sessions.takeLogin(code) : undefined;
    const row = grant?.state as Row | undefined;
    if (!grant || row?.kind !== 'content-code' || state === undefined || !sameSecret(state, row.state))
      return writeStatus(
        res,
        failure(401, 'Unauthorized', 'kgw: this content handshake is not yours, or it expired'),
      );
    const session = await this.options.sessions.findByIdHash(row.session);
    if (!session)
      return writeStatus(res, failure(401, 'Unauthorized', 'kgw: the session has ended; log in again'));
    const lifetimeMs = session.expiresAt.getTime() - Date.now();
    const secret = await this.options.sessions.beginLogin(
      { kind: 'content-session', session: session.idHash } satisfies Row,
      '',
      lifetimeMs,
    );
    res.setHeader('Set-Cookie', [
      setCookieHeader(this.stateCookieName, '', { secure: this.secure, maxAgeSeconds: 0 }),
      setCookieHeader(this.cookieName, secret, {
        secure: this.secure,
        maxAgeSeconds: Math.max(0, Math.floor(lifetimeMs / 1000)),
      }),
    ]);
    this.redirect(res, grant.returnTo);
  }

  /** The content origin's only credential: the content cookie, bound to a live session. */
  private async authenticate(req: IncomingMessage): Promise<AuthenticationResult> {
    const cookie = cookieValue(req, this.cookieName);
    if (!cookie) return { outcome: 'no-credential' };
    const row = (await this.options.sessions.peekLogin(cookie)) as Row | undefined;
    if (row?.kind !== 'content-session') return { outcome: 'rejected', message: 'Unknown content session.' };
    const session = await this.options.sessions.findByIdHash(row.session);
    if (!session) return { outcome: 'rejected', message: 'The session has ended; log in again.' };
    const method = (req.method ?? 'GET').toUpperCase();
    // Cross-site requests riding the cookie: a pod page's own forms and scripts send its Origin.
    if ((!SAFE_METHODS.has(method) || req.headers.upgrade) && req.headers.origin !== this.origin)
      return { outcome: 'rejected', message: 'Cross-origin request refused.', notAGuess: true };
    return { outcome: 'authenticated', caller: session.caller };
  }

  /**
   * A handshake leg failed (the session store is down, …): the error's message may name hosts,
   * users or queries, so it goes to the log with a request id, and the answer has only that id.
   */
  private failed(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const requestId = assignRequestId(req, res.headersSent ? undefined : res);
    this.options.logger.error({ err, requestId, path: req.url?.split('?', 1)[0] }, 'content origin failed');
    writeStatus(res, internal(requestId));
  }

  private get stateCookieName(): string {
    return this.secure ? '__Host-kgw_content_state' : 'kgw_content_state';
  }

  private redirect(res: ServerResponse, location: string): void {
    res.statusCode = 303;
    res.setHeader('Location', location);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.end();
  }
}

/** Pods/services/nodes proxy (or the legacy /api/v1/proxy/…), read as the API server reads it. */
function isProxiedContentPath(req: IncomingMessage): boolean {
  return isProxiedContentTarget(req.url ?? '/', req.method ?? 'GET');
}

function isProxiedContentTarget(target: string, method = 'GET'): boolean {
  if (!target.startsWith('/')) return false;
  const info = resolveRequestInfo(method, target);
  return !isRequestRejection(info) && isProxiedContent(info);
}

function isLoopbackName(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]';
}

function notHere(): KubeStatus {
  return failure(404, 'NotFound', 'kgw: only proxied content is served on this origin');
}
