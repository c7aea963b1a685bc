// Authentication's part of the composition root: personal tokens (+ revocation listener and
// open-stream registry), bearer JWTs, browser sessions and login, CLI login grants, the
// failed-authentication limiter and auth audit events. gateway-services.ts builds it once and
// puts its authenticators in front of the static token file.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { GatewayConfig } from '@kgw/config';
import type { ChannelListener, Database } from '@kgw/db';
import type { Identity, Upstream } from '@kgw/kube';
import { exchangeWithUpstream, withGatewayCredential, withImpersonation } from '@kgw/kube';
import type { AuditSink } from '../audit/audit-sink';
import { AuthAudit } from './auth-audit';
import type { Authenticator } from './authenticator';
import {
  BrowserSessions,
  SessionAuthenticator,
  sessionCookieName,
  type SessionRecord,
} from './browser-sessions';
import { CliLoginGrants } from './cli-login-grants';
import { FailedAuthLimiter } from './failed-auth-limiter';
import { JwtAuthenticator, peekPayload } from './jwt-authenticator';
import type { ClaimMapping } from './oidc-claims';
import { OidcLogin } from './oidc-login';
import { idTokenKey, OpenStreams, sessionKey, tokenKey } from './open-streams';
import { PersonalTokenAuthenticator } from './personal-token-authenticator';
import { hashToken, PersonalTokens, REVOCATION_CHANNEL, type PersonalTokenInfo } from './personal-tokens';
import { ID_TOKEN_REVOKED, RevokedIdTokens } from './revoked-id-tokens';
import { tokenRevocationListener } from './token-revocation';

/** NOTIFY payload prefix for a session that ended (logout, refused refresh): its streams are cut. */
const SESSION_ENDED = 'session:';

const DAY_MS = 86_400_000;

/** A Host header naming the loopback interface: localhost (and *.localhost), 127/8, [::1]. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.replace(/:\d+$/, '').toLowerCase();
  return (
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    /^127(\.\d{1,3}){3}$/.test(name) ||
    name === '[::1]'
  );
}

export interface AuthServicesContext {
  config: GatewayConfig;
  db: Database;
  logger: Logger;
  audit: AuditSink;
  clientAddress: (req: IncomingMessage) => string;
  /** The login issuer, when not from config (demo mode's built-in provider). */
  issuer?: { url: string; clientId: string; clientSecret?: string; usernamePrefix?: string };
}

export class AuthServices {
  readonly tokens: PersonalTokens;
  readonly tokenAuthenticator: PersonalTokenAuthenticator;
  readonly revokedIdTokens: RevokedIdTokens;
  readonly jwtAuthenticator: JwtAuthenticator | undefined;
  readonly sessions: BrowserSessions;
  readonly sessionAuthenticator: SessionAuthenticator;
  readonly login: OidcLogin | undefined;
  readonly grants: CliLoginGrants;
  readonly openStreams = new OpenStreams();
  readonly limiter: FailedAuthLimiter;
  /** Unauthenticated login starts (browser login, device flow) per address: each makes a row. */
  readonly loginStarts: FailedAuthLimiter;
  readonly authAudit: AuthAudit;
  readonly cliTokenLifetimeMs: number;
  readonly clientAddress: (req: IncomingMessage) => string;
  readonly claimMapping: ClaimMapping;
  /** Set once the upstream is known: SelfSubjectRulesReview as a mapped identity (/kgw/v1/me). */
  upstream: Upstream | undefined;
  private publicUrl: string | undefined;
  private readonly revocations: ChannelListener;
  private readonly sweeper: NodeJS.Timeout;

  private constructor(private readonly ctx: AuthServicesContext) {
    const { config, db, logger } = ctx;
    const maxLifetimeMs = config.auth.tokenMaxLifetimeDays * DAY_MS;
    this.tokens = new PersonalTokens(db.prisma, db.pool, {
      maxLifetimeMs,
      defaultLifetimeMs: config.auth.tokenDefaultLifetimeDays * DAY_MS,
    });
    this.cliTokenLifetimeMs = Math.min(config.auth.cliTokenLifetimeHours * 3_600_000, maxLifetimeMs);
    this.clientAddress = ctx.clientAddress;
    this.revokedIdTokens = new RevokedIdTokens(db.prisma, db.pool);
    this.tokenAuthenticator = new PersonalTokenAuthenticator({
      tokens: this.tokens,
      logger: logger.child({ component: 'pat' }),
      clientAddress: ctx.clientAddress,
    });
    const issuer =
      ctx.issuer ??
      (config.oidc.issuerUrl
        ? {
            url: config.oidc.issuerUrl,
            clientId: config.oidc.clientId,
            clientSecret: config.oidc.clientSecret,
          }
        : undefined);
    const mapping = {
      usernameClaim: config.oidc.usernameClaim,
      groupsClaim: config.oidc.groupsClaim,
      usernamePrefix: config.oidc.usernamePrefix || ctx.issuer?.usernamePrefix,
    };
    this.claimMapping = mapping;
    const bearerIssuers = [...new Set([...(issuer ? [issuer.url] : []), ...config.oidc.bearerIssuers])];
    this.jwtAuthenticator =
      bearerIssuers.length > 0
        ? new JwtAuthenticator({
            ...mapping,
            issuers: bearerIssuers,
            audiences:
              config.oidc.audiences.length > 0
                ? config.oidc.audiences
                : [issuer?.clientId ?? config.oidc.clientId],
            algorithms: config.oidc.algorithms,
            clockSkewSeconds: config.oidc.clockSkewSeconds,
            revoked: this.revokedIdTokens,
            logger: logger.child({ component: 'jwt' }),
          })
        : undefined;
    this.login = issuer
      ? new OidcLogin({
          issuerUrl: issuer.url,
          clientId: issuer.clientId,
          clientSecret: issuer.clientSecret,
          scopes: config.oidc.scopes,
        })
      : undefined;
    this.sessions = new BrowserSessions(db.prisma, config.auth.sessionLifetimeHours * 3_600_000);
    this.sessionAuthenticator = new SessionAuthenticator({
      ...mapping,
      sessions: this.sessions,
      login: this.login,
      logger: logger.child({ component: 'session' }),
      allowedOrigins: () => (this.publicUrl ? [new URL(this.publicUrl).origin] : []),
      cookieName: (req) => this.sessionCookieName(req),
      endSession: (session) => this.endSession(session),
    });
    this.grants = new CliLoginGrants(db.prisma);
    this.limiter = new FailedAuthLimiter({
      limit: config.auth.failureLimit,
      windowMs: config.auth.failureWindowSeconds * 1000,
    });
    this.loginStarts = new FailedAuthLimiter({
      limit: config.auth.loginStartLimit,
      windowMs: 60_000,
    });
    this.authAudit = new AuthAudit(ctx.audit, ctx.audit.instance, ctx.clientAddress, logger);
    this.revocations = tokenRevocationListener({
      url: db.url,
      logger: logger.child({ component: 'revocation' }),
      onRevoked: (payload) => this.heard(payload),
      onListening: (listening) => {
        this.tokenAuthenticator.setListening(listening);
        this.revokedIdTokens.setListening(listening).catch((err: unknown) =>
          logger.warn({ err: (err as Error).message }, 'cannot load revoked ID tokens'),
        );
      },
    });
    this.sweeper = setInterval(() => {
      Promise.all([this.sessions.sweep(), this.grants.sweep(), this.revokedIdTokens.reload()]).catch((err: unknown) =>
        logger.warn({ err: (err as Error).message }, 'session and login grant sweep failed'),
      );
    }, 10 * 60_000);
    this.sweeper.unref();
  }

  static async start(ctx: AuthServicesContext): Promise<AuthServices> {
    const services = new AuthServices(ctx);
    await services.revocations.start();
    if (services.login) ctx.logger.info({ issuer: services.login.issuer }, 'OIDC login on');
    return services;
  }

  /** In chain order: bearer credentials first (PAT, JWT), then the session cookie. */
  bearerAuthenticators(): Authenticator[] {
    return [this.tokenAuthenticator, ...(this.jwtAuthenticator ? [this.jwtAuthenticator] : [])];
  }

  /** The gateway's URL for redirects (KGW_HTTP_PUBLIC_URL, else what it listens on). */
  url(): string {
    return (this.ctx.config.http.publicUrl ?? this.publicUrl ?? 'http://127.0.0.1').replace(/\/$/, '');
  }

  listening(url: string): void {
    this.publicUrl = url;
  }

  /**
   * Cookies get Secure when the browser reached us over TLS (or the public URL is HTTPS), or at a
   * loopback name (http://localhost, 127.0.0.1, [::1]): browsers treat those as secure contexts
   * and keep Secure (and `__Host-`) cookies from them (checked in Chromium), so the demo on
   * http://localhost gets the same cookie as a deployment.
   */
  secureRequest(req: IncomingMessage): boolean {
    return (
      (req.socket as TLSSocket).encrypted === true ||
      this.url().startsWith('https:') ||
      isLoopbackHost(req.headers.host)
    );
  }

  /** `__Host-kgw_session` wherever the cookie can be Secure; `kgw_session` on plain HTTP elsewhere. */
  sessionCookieName(req: IncomingMessage): string {
    return sessionCookieName(this.secureRequest(req));
  }

  /**
   * Revokes the token (only the owner's when `ownerName` is given) with every token below it, and
   * applies it here at once (other replicas hear the NOTIFY).
   */
  async revoke(
    id: string,
    ownerName?: string,
  ): Promise<{ info: PersonalTokenInfo; revokedIds: string[] } | undefined> {
    const revoked = await this.tokens.revoke(id, ownerName);
    for (const revokedId of revoked?.revokedIds ?? []) this.heard(revokedId);
    return revoked;
  }

  /**
   * Logout (or a refresh the provider refused): the session row goes, the tokens it minted go
   * (with theirs), its ID token is refused from now on, and every exchange it holds open on any
   * replica is cut.
   */
  async endSession(session: SessionRecord): Promise<void> {
    await this.sessions.delete(session.idHash);
    const revokedIds = await this.tokens.revokeMintedBySession(session.idHash);
    for (const revokedId of revokedIds) this.heard(revokedId);
    if (session.idToken) {
      const exp = peekPayload(session.idToken)?.exp;
      // Kept until the token could no longer be accepted anyway (exp + the allowed skew).
      const until =
        typeof exp === 'number'
          ? new Date((exp + this.ctx.config.oidc.clockSkewSeconds) * 1000)
          : new Date(session.expiresAt.getTime());
      const idTokenHash = hashToken(session.idToken);
      await this.revokedIdTokens.revoke(idTokenHash, until);
      this.heard(ID_TOKEN_REVOKED + idTokenHash);
    }
    await this.ctx.db.pool.query('SELECT pg_notify($1, $2)', [
      REVOCATION_CHANNEL,
      SESSION_ENDED + session.idHash,
    ]);
    this.heard(SESSION_ENDED + session.idHash);
  }

  /** A revocation, here or from another replica: a token id, `session:<hash>` or `idtoken:<hash>`. */
  private heard(payload: string): void {
    let key: string;
    if (payload.startsWith(SESSION_ENDED)) key = sessionKey(payload.slice(SESSION_ENDED.length));
    else if (payload.startsWith(ID_TOKEN_REVOKED)) {
      const idTokenHash = payload.slice(ID_TOKEN_REVOKED.length);
      this.revokedIdTokens.heard(idTokenHash);
      key = idTokenKey(idTokenHash);
    } else {
      this.tokenAuthenticator.revoked(payload);
      key = tokenKey(payload);
    }
    const cut = this.openStreams.closeAll(key);
    if (cut > 0) this.ctx.logger.info({ credential: key, streams: cut }, 'credential ended: open streams closed');
  }

  /** A JSON request to the API server as `identity` (impersonated), for /kgw/v1/me. */
  async kubeAs(
    identity: Identity,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    const upstream = this.upstream;
    if (!upstream) throw new Error('no Kubernetes upstream');
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: OutgoingHttpHeaders = { accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const answer = await exchangeWithUpstream(upstream, {
      method,
      path,
      headers: withImpersonation(withGatewayCredential(upstream, headers), identity),
      body: payload,
      timeoutMs: 5000,
      timeoutError: () => new Error('timed out'),
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body);
    } catch {
      parsed = undefined;
    }
    return { status: answer.statusCode, body: parsed };
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.revocations.stop();
  }
}
