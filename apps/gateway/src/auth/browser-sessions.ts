// Server-side browser sessions in Postgres, and the authenticator that reads their cookie.
//
// Guards: the gateway's own pages and API, and the Kubernetes paths, for a logged-in browser.
// Trusts: the session row (written only after a verified OIDC login) and the provider's
// refresh endpoint. Refuses: unknown or expired sessions; a state-changing request (any method
// but GET/HEAD/OPTIONS) without the session's CSRF token in `X-CSRF-Token` (a cross-site form
// or fetch cannot read it); an upgrade (WebSocket: a terminal, a tunnel) without that token —
// in the header, or, since a browser cannot set headers on a WebSocket, offered as the
// subprotocol `csrf.kgw.io.<token>` — or whose Origin is not the gateway's own (cross-site
// WebSocket hijacking); a session whose refresh the provider refuses (deleted). A provider that
// cannot be reached (down, 5xx, timing out) refuses nothing: the session goes on as the identity
// last verified, retrying the refresh every REFRESH_RETRY_MS, for at most REFRESH_GRACE_MS past
// its due time — an outage of the identity provider must not log everyone out, and must not
// keep a session alive on stale groups for long either.
//
// The cookie holds 256 random bits; the row is keyed by their SHA-256, so a database read
// gives no usable cookie. The cookie is HttpOnly, SameSite=Lax, Path=/ and, wherever a browser
// keeps Secure cookies (HTTPS, and http://localhost or a loopback address, which browsers treat
// as secure contexts), Secure and named `__Host-kgw_session`: a browser accepts that name only
// from a secure origin, for Path=/ and without Domain, so no sibling subdomain or plain-HTTP
// page can plant or shadow a session cookie (session fixation, cookie tossing). Where the
// prefix is possible only the prefixed name is read.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Prisma, PrismaClient } from '@kgw/db';
import type { AuthenticationResult, Authenticator } from './authenticator';
import type { AuthenticatedCaller } from '../identity/caller';
import { oidcClient } from './esm-packages';
import { callerFromClaims, type ClaimMapping } from './oidc-claims';
import type { OidcLogin, OidcTokens } from './oidc-login';

export const SESSION_COOKIE = 'kgw_session';
/** The session cookie's name wherever it can be Secure (see the note at the top). */
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

export function sessionCookieName(secure: boolean): string {
  return secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
}
export const LOGIN_COOKIE = 'kgw_login';
export const CSRF_HEADER = 'x-csrf-token';
/** A WebSocket from the page carries its CSRF token as a subprotocol with this prefix. */
export const CSRF_SUBPROTOCOL_PREFIX = 'csrf.kgw.io.';

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function digestOf(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

/** One cookie's value from a Cookie header (first occurrence), or undefined. */
export function cookieValue(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

export function setCookieHeader(
  name: string,
  value: string,
  options: { secure: boolean; maxAgeSeconds: number; path?: string },
): string {
  const parts = [
    `${name}=${value}`,
    `Path=${options.path ?? '/'}`,
    'HttpOnly',
    'SameSite=Lax',
    `Max-Age=${options.maxAgeSeconds}`,
  ];
  if (options.secure) parts.push('Secure');
  return parts.join('; ');
}

export interface SessionRecord {
  idHash: string;
  caller: AuthenticatedCaller;
  csrfToken: string;
  idToken?: string;
  refreshToken?: string;
  refreshAt: Date;
  createdAt: Date;
  expiresAt: Date;
}

/**
 * What the web UI needs to keep a session alive: when the provider's tokens are due for refresh,
 * when the session ends for good, and the server's clock (the page plans with the difference).
 */
export function sessionTimes(
  session: SessionRecord,
  now = new Date(),
): {
  refreshAt: string;
  expiresAt: string;
  serverTime: string;
} {
  return {
    refreshAt: session.refreshAt.toISOString(),
    expiresAt: session.expiresAt.toISOString(),
    serverTime: now.toISOString(),
  };
}

export class BrowserSessions {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly lifetimeMs: number,
  ) {}

  get lifetimeSeconds(): number {
    return Math.floor(this.lifetimeMs / 1000);
  }

  async create(
    caller: AuthenticatedCaller,
    tokens: OidcTokens,
  ): Promise<{ cookie: string; record: SessionRecord }> {
    const cookie = newSecret();
    const now = Date.now();
    const row = await this.prisma.browserSession.create({
      data: {
        idHash: digestOf(cookie),
        userName: caller.name,
        uid: caller.uid ?? null,
        groups: caller.groups,
        claims: asJson(caller.claims ?? {}),
        issuer: caller.issuer ?? '',
        subject: typeof caller.claims?.sub === 'string' ? caller.claims.sub : caller.name,
        csrfToken: newSecret(),
        idToken: tokens.idToken ?? null,
        refreshToken: tokens.refreshToken ?? null,
        refreshAt: tokens.expiresAt,
        expiresAt: new Date(now + this.lifetimeMs),
      },
    });
    return { cookie, record: toRecord(row) };
  }

  async find(cookie: string, now = new Date()): Promise<SessionRecord | undefined> {
    const row = await this.prisma.browserSession.findUnique({ where: { idHash: digestOf(cookie) } });
    if (!row) return undefined;
    if (row.expiresAt.getTime() <= now.getTime()) {
      await this.prisma.browserSession.deleteMany({ where: { idHash: row.idHash } });
      return undefined;
    }
    return toRecord(row);
  }

  /** The live session with this id (the SHA-256 of its cookie), or undefined. */
  async findByIdHash(idHash: string, now = new Date()): Promise<SessionRecord | undefined> {
    const row = await this.prisma.browserSession.findUnique({ where: { idHash } });
    return row && row.expiresAt.getTime() > now.getTime() ? toRecord(row) : undefined;
  }

  async refreshed(idHash: string, caller: AuthenticatedCaller, tokens: OidcTokens): Promise<void> {
    await this.prisma.browserSession.update({
      where: { idHash },
      data: {
        groups: caller.groups,
        claims: asJson(caller.claims ?? {}),
        idToken: tokens.idToken ?? undefined,
        refreshToken: tokens.refreshToken ?? null,
        refreshAt: tokens.expiresAt,
      },
    });
  }

  async delete(idHash: string): Promise<SessionRecord | undefined> {
    const row = await this.prisma.browserSession.findUnique({ where: { idHash } });
    await this.prisma.browserSession.deleteMany({ where: { idHash } });
    return row ? toRecord(row) : undefined;
  }

  /** The state of a login in progress; the returned value goes in the short-lived login cookie. */
  async beginLogin(state: Record<string, unknown>, returnTo: string, ttlMs = 10 * 60_000): Promise<string> {
    const cookie = newSecret();
    await this.prisma.loginTransaction.create({
      data: {
        idHash: digestOf(cookie),
        data: asJson(state),
        returnTo,
        expiresAt: new Date(Date.now() + ttlMs),
      },
    });
    return cookie;
  }

  /** Takes the login's state out (single use), or undefined when unknown or expired. */
  async takeLogin(cookie: string): Promise<{ state: Record<string, unknown>; returnTo: string } | undefined> {
    const idHash = digestOf(cookie);
    const rows = await this.prisma.loginTransaction.findMany({ where: { idHash } });
    const deleted = await this.prisma.loginTransaction.deleteMany({ where: { idHash } });
    const row = rows[0];
    // deleteMany's count makes two concurrent callbacks race for one winner.
    if (!row || deleted.count === 0 || row.expiresAt.getTime() <= Date.now()) return undefined;
    return { state: row.data as Record<string, unknown>, returnTo: row.returnTo };
  }

  /** A stored login-transaction row's state, left in place (content sessions), unless expired. */
  async peekLogin(cookie: string): Promise<Record<string, unknown> | undefined> {
    const row = await this.prisma.loginTransaction.findUnique({ where: { idHash: digestOf(cookie) } });
    if (!row || row.expiresAt.getTime() <= Date.now()) return undefined;
    return row.data as Record<string, unknown>;
  }

  /** Drops expired sessions and login transactions. */
  async sweep(): Promise<void> {
    const now = new Date();
    await this.prisma.browserSession.deleteMany({ where: { expiresAt: { lte: now } } });
    await this.prisma.loginTransaction.deleteMany({ where: { expiresAt: { lte: now } } });
  }
}

type SessionRow = Awaited<ReturnType<PrismaClient['browserSession']['findUniqueOrThrow']>>;

function toRecord(row: SessionRow): SessionRecord {
  return {
    idHash: row.idHash,
    caller: {
      name: row.userName,
      uid: row.uid ?? undefined,
      groups: [...row.groups],
      method: 'session',
      claims: row.claims as Record<string, unknown>,
      issuer: row.issuer || undefined,
      sessionId: row.idHash,
      // The session's end: its open exchanges are cut then, and tokens it mints end no later.
      expiresAt: row.expiresAt,
    },
    csrfToken: row.csrfToken,
    idToken: row.idToken ?? undefined,
    refreshToken: row.refreshToken ?? undefined,
    refreshAt: row.refreshAt,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
  };
}

/** Claims and login state are plain JSON (they came from JSON). */
function asJson(value: Record<string, unknown>): Prisma.InputJsonObject {
  return JSON.parse(JSON.stringify(value)) as Prisma.InputJsonObject;
}

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The CSRF token from `X-CSRF-Token`, or on an upgrade from a `csrf.kgw.io.` subprotocol. */
function csrfTokenSent(req: IncomingMessage): string | undefined {
  const header = req.headers[CSRF_HEADER];
  if (typeof header === 'string') return header;
  if (!req.headers.upgrade) return undefined;
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',');
  const entry = offered.map((p) => p.trim()).find((p) => p.startsWith(CSRF_SUBPROTOCOL_PREFIX));
  return entry?.slice(CSRF_SUBPROTOCOL_PREFIX.length);
}

export interface SessionAuthenticatorOptions extends ClaimMapping {
  sessions: BrowserSessions;
  login?: OidcLogin;
  logger: Logger;
  /** The gateway's own origin(s), for the Origin check on upgrades. */
  allowedOrigins(): string[];
  /** The session cookie's name for this request (sessionCookieName). */
  cookieName(req: IncomingMessage): string;
  /** Ends a session whose refresh the provider refused, as a logout does (children included). */
  endSession?(session: SessionRecord): Promise<void>;
}

/** How long before its due time a session may be refreshed on the page's request (refreshEarly). */
const EARLY_REFRESH_WINDOW_MS = 5 * 60_000;
/** While the provider cannot be reached: how often a session's refresh is tried again. */
const REFRESH_RETRY_MS = 30_000;
/** ...and for how long past its due time a session is served on the identity last verified. */
const REFRESH_GRACE_MS = 60 * 60_000;

/** The provider answered and refused the refresh (invalid_grant…), as opposed to not answering. */
function refusedByProvider(err: unknown): boolean {
  return err instanceof oidcClient.ResponseBodyError && err.status < 500;
}

export class SessionAuthenticator implements Authenticator {
  private readonly refreshing = new Map<string, Promise<AuthenticatedCaller | undefined>>();
  /** Sessions whose provider could not be reached: no new refresh attempt before this time. */
  private readonly retryAt = new Map<string, number>();

  constructor(private readonly options: SessionAuthenticatorOptions) {}

  async authenticate(req: IncomingMessage): Promise<AuthenticationResult> {
    const cookie = cookieValue(req, this.options.cookieName(req));
    if (!cookie) return { outcome: 'no-credential' };
    const session = await this.options.sessions.find(cookie);
    if (!session) return { outcome: 'rejected', message: 'The session has expired; log in again.' };
    const method = (req.method ?? 'GET').toUpperCase();
    // An upgrade is a GET, yet it opens a shell or a tunnel: it needs the token as much as a write.
    if (!SAFE_METHODS.has(method) || req.headers.upgrade) {
      const token = csrfTokenSent(req);
      if (token === undefined || !sameSecret(token, session.csrfToken)) {
        return {
          outcome: 'rejected',
          message: 'Missing or wrong CSRF token (X-CSRF-Token).',
          notAGuess: true,
        };
      }
    }
    if (req.headers.upgrade) {
      const origin = req.headers.origin;
      if (origin !== undefined && !this.options.allowedOrigins().includes(origin)) {
        return { outcome: 'rejected', message: 'Cross-origin upgrade refused.', notAGuess: true };
      }
    }
    if (session.refreshAt.getTime() <= Date.now()) {
      if ((this.retryAt.get(session.idHash) ?? 0) > Date.now())
        return { outcome: 'authenticated', caller: session.caller };
      const caller = await this.refresh(session);
      if (!caller) return { outcome: 'rejected', message: 'The session has expired; log in again.' };
      return { outcome: 'authenticated', caller };
    }
    return { outcome: 'authenticated', caller: session.caller };
  }

  /** The request's session (its CSRF token and times, for /kgw/v1/me to hand to the page). */
  async sessionOf(req: IncomingMessage): Promise<SessionRecord | undefined> {
    const cookie = cookieValue(req, this.options.cookieName(req));
    return cookie ? this.options.sessions.find(cookie) : undefined;
  }

  /**
   * The web UI's silent refresh: renews the provider's tokens ahead of their expiry, while the
   * user is still there, instead of on the first request after it. Only a session due within
   * EARLY_REFRESH_WINDOW_MS reaches the provider: once renewed it is not due again for the new
   * token's lifetime less that window, so repeated calls (a page, or a script holding the
   * cookie and its CSRF token) do not turn into calls to the provider. Says what became of it.
   */
  async refreshEarly(session: SessionRecord): Promise<'refreshed' | 'not-due' | 'kept' | 'ended'> {
    if (session.refreshAt.getTime() - Date.now() > EARLY_REFRESH_WINDOW_MS) return 'not-due';
    const caller = await this.refresh(session);
    if (!caller) return 'ended';
    // doRefresh leaves a retry time behind only when the provider did not answer.
    return this.retryAt.has(session.idHash) ? 'kept' : 'refreshed';
  }

  /** Bounded memory during a long outage: entries whose time has come are dropped. */
  private forgetStaleRetries(): void {
    if (this.retryAt.size < 10_000) return;
    const now = Date.now();
    for (const [idHash, at] of this.retryAt) if (at <= now) this.retryAt.delete(idHash);
  }

  /** One refresh per session at a time; a refused refresh ends the session. */
  private refresh(session: SessionRecord): Promise<AuthenticatedCaller | undefined> {
    let pending = this.refreshing.get(session.idHash);
    if (!pending) {
      pending = this.doRefresh(session).finally(() => this.refreshing.delete(session.idHash));
      this.refreshing.set(session.idHash, pending);
    }
    return pending;
  }

  private async doRefresh(session: SessionRecord): Promise<AuthenticatedCaller | undefined> {
    const { login, logger } = this.options;
    const end = (): Promise<unknown> =>
      this.options.endSession?.(session) ?? this.options.sessions.delete(session.idHash);
    if (!login || !session.refreshToken) {
      await end();
      return undefined;
    }
    try {
      const tokens = await login.refresh(session.refreshToken);
      // A refresh without a new ID token keeps the identity we had.
      const claims = tokens.idToken ? tokens.claims : (session.caller.claims ?? {});
      const mapped = callerFromClaims(claims, login.issuer, 'session', this.options);
      if (!mapped.ok || mapped.caller.name !== session.caller.name) {
        await end();
        return undefined;
      }
      const caller = { ...mapped.caller, sessionId: session.idHash, expiresAt: session.expiresAt };
      await this.options.sessions.refreshed(session.idHash, caller, tokens);
      this.retryAt.delete(session.idHash);
      return caller;
    } catch (err) {
      const message = (err as Error).message;
      if (refusedByProvider(err)) {
        logger.info({ err: message }, 'session refresh refused; session ended');
        this.retryAt.delete(session.idHash);
        await end();
        return undefined;
      }
      // Not an answer: the provider is down or failing. The session goes on as last verified.
      if (Date.now() - session.refreshAt.getTime() > REFRESH_GRACE_MS) {
        logger.warn({ err: message }, 'identity provider unreachable past the grace period; session refused');
        return undefined;
      }
      logger.warn(
        { err: message },
        'identity provider unreachable; session kept on its last verified identity',
      );
      this.forgetStaleRetries();
      this.retryAt.set(session.idHash, Date.now() + REFRESH_RETRY_MS);
      return session.caller;
    }
  }
}
