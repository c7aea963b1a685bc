// What the login routes share: the failed-authentication throttle, the limit on starting logins,
// the browser session and its CSRF token, and the configured OpenID login. Guards: approvals (a
// session and its CSRF token); user codes (low entropy: callers over the failed-authentication
// limit are refused before any work); the database (each unauthenticated login start creates a
// row, so starts are limited per client address).
import { Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { GatewayError } from '../errors/gateway-error';
import { GatewayAuth } from '../auth/gateway-auth';
import { AuthServices } from '../auth/auth-services';
import type { AuthenticatedCaller } from '../identity/caller';
import {
  CSRF_HEADER,
  cookieValue,
  sameSecret,
  type SessionRecord,
} from '../auth/browser-sessions';

@Injectable()
export class LoginChecks {
  constructor(
    private readonly authn: AuthServices,
    private readonly auth: GatewayAuth,
  ) {}

  requireLogin(): NonNullable<AuthServices['login']> {
    if (!this.authn.login)
      throw new GatewayError('not_found', 'No OpenID provider is configured for browser login.');
    return this.authn.login;
  }

  /**
   * Over the failed-authentication limit: 429 with Retry-After, before any work. Only for
   * low-entropy secrets (user codes): a 256-bit code or a valid session is never refused for
   * what others at the same address did.
   */
  throttle(req: Request, res: Response): void {
    const retryAfter = this.authn.limiter.retryAfterSeconds(this.authn.clientAddress(req));
    if (retryAfter > 0) {
      res.setHeader('Retry-After', String(retryAfter));
      throw new GatewayError(
        'too_many_requests',
        'Too many failed authentication attempts from this address; retry later.',
      );
    }
  }

  /** An unauthenticated login start (it creates a row): at most KGW_AUTH_LOGIN_START_LIMIT a minute per address. */
  limitStart(req: Request, res: Response): void {
    const address = this.authn.clientAddress(req);
    const retryAfter = this.authn.loginStarts.retryAfterSeconds(address);
    if (retryAfter > 0) {
      res.setHeader('Retry-After', String(retryAfter));
      throw new GatewayError('too_many_requests', 'Too many logins started from this address; retry later.');
    }
    this.authn.loginStarts.recordFailure(address);
  }

  async currentSession(req: Request): Promise<SessionRecord | undefined> {
    const cookie = cookieValue(req, this.authn.sessionCookieName(req));
    return cookie ? this.authn.sessions.find(cookie) : undefined;
  }

  /** The session's caller, refreshed if due (the session authenticator does that). */
  async sessionCaller(req: Request): Promise<AuthenticatedCaller> {
    const result = await this.authn.sessionAuthenticator.authenticate(
      Object.assign(Object.create(req) as Request, { method: 'GET' }),
    );
    if (result.outcome !== 'authenticated')
      throw new GatewayError('unauthenticated', 'The session has expired; log in again.');
    const mapped = this.auth.identityMapper.map(result.caller);
    if (!mapped.ok) throw new GatewayError('forbidden', mapped.message);
    return result.caller;
  }

  /** CSRF token from the X-CSRF-Token header (scripts) or a `csrf` form field (HTML forms). */
  csrfOk(req: Request, session: SessionRecord, body: Record<string, unknown> | undefined): boolean {
    const header = req.headers[CSRF_HEADER];
    const given =
      typeof header === 'string' ? header : typeof body?.csrf === 'string' ? body.csrf : undefined;
    return given !== undefined && sameSecret(given, session.csrfToken);
  }
}
