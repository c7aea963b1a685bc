// /kgw/auth/login, callback, logout: the browser's OpenID login (authorization code + PKCE) and logout.
//
// Guards: the door through which browser sessions come to exist. Trusts: OidcLogin's verified
// tokens. Refuses: a callback without its login transaction; identities the mapper refuses (no
// session is made for them); logout without the session's CSRF token; return URLs off this
// gateway (return-to.ts); a refresh or logout without the session's CSRF token. Failed logins
// count towards the per-address limiter and are audited.
// Codes and states are never logged (the request logger strips query strings).
import { Body, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { GatewayError } from '../errors/gateway-error';
import { GatewayAuth } from '../auth/gateway-auth';
import { AuthServices } from '../auth/auth-services';
import type { AuthenticatedCaller } from '../identity/caller';
import { LOGIN_COOKIE, cookieValue, sessionTimes, setCookieHeader } from '../auth/browser-sessions';
import { LoginChecks } from './login-checks';
import { escapeHtml, page, wantsJson } from './login-page';
import { callerFromClaims } from '../auth/oidc-claims';
import { safeReturnTo } from '../auth/return-to';

const CALLBACK_PATH = '/kgw/auth/callback';
const LOGGED_OUT_PATH = '/kgw/auth/logged-out';

@Controller('kgw/auth')
export class BrowserLoginController {
  constructor(
    private readonly authn: AuthServices,
    private readonly auth: GatewayAuth,
    private readonly checks: LoginChecks,
  ) {}

  @Get('login')
  async login(
    @Req() req: Request,
    @Res() res: Response,
    @Query('returnTo') returnTo: unknown,
  ): Promise<void> {
    const login = this.checks.requireLogin();
    this.checks.limitStart(req, res);
    const down = await login.unreachable();
    if (down) return this.providerDown(req, res, login.issuer, down);
    const state: Record<string, unknown> = {};
    const outcome = await login
      .run(req, res, state, this.authn.url() + CALLBACK_PATH)
      .catch((err: Error) => ({ kind: 'error' as const, error: err }));
    if (outcome.kind !== 'redirect')
      return this.providerDown(
        req,
        res,
        login.issuer,
        outcome.kind === 'error' ? outcome.error.message : 'no authorization URL',
      );
    const transaction = await this.authn.sessions.beginLogin(state, safeReturnTo(returnTo));
    res.setHeader(
      'Set-Cookie',
      setCookieHeader(LOGIN_COOKIE, transaction, {
        secure: this.authn.secureRequest(req),
        maxAgeSeconds: 600,
        path: '/kgw/auth',
      }),
    );
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, outcome.url);
  }

  @Get('callback')
  async callback(@Req() req: Request, @Res() res: Response): Promise<void> {
    // No throttle here: the answer is bound to this browser's single-use login transaction (whose
    // creation is limited); a failed callback still counts towards the address's failures.
    const login = this.checks.requireLogin();
    const clearLogin = setCookieHeader(LOGIN_COOKIE, '', {
      secure: this.authn.secureRequest(req),
      maxAgeSeconds: 0,
      path: '/kgw/auth',
    });
    const transactionCookie = cookieValue(req, LOGIN_COOKIE);
    const transaction = transactionCookie
      ? await this.authn.sessions.takeLogin(transactionCookie)
      : undefined;
    // Only a callback that carries an answer: without one the strategy would start a new login.
    const answered = typeof req.query.code === 'string' || typeof req.query.error === 'string';
    if (!transaction || !answered) {
      return this.loginFailed(
        req,
        res,
        clearLogin,
        'no login in progress in this browser (expired or already used)',
      );
    }
    const outcome = await login.run(req, res, transaction.state, this.authn.url() + CALLBACK_PATH);
    if (outcome.kind !== 'success') {
      const why =
        outcome.kind === 'fail'
          ? outcome.message
          : outcome.kind === 'error'
            ? `provider exchange failed: ${outcome.error.message}`
            : 'unexpected redirect';
      return this.loginFailed(req, res, clearLogin, why);
    }
    const mapped = callerFromClaims(outcome.tokens.claims, login.issuer, 'session', this.authn.claimMapping);
    if (!mapped.ok) return this.loginFailed(req, res, clearLogin, mapped.message);
    const identity = this.auth.identityMapper.map(mapped.caller);
    if (!identity.ok) return this.loginFailed(req, res, clearLogin, identity.message, mapped.caller, 403);
    const { cookie } = await this.authn.sessions.create(mapped.caller, outcome.tokens);
    this.authn.authAudit.record(req, {
      kind: 'login',
      decision: 'allow',
      code: 302,
      reason: 'browser login',
      authUser: mapped.caller.name,
      authMethod: 'session',
      kubeUser: identity.identity.username,
      kubeGroups: [...identity.identity.groups],
    });
    res.setHeader('Set-Cookie', [
      clearLogin,
      setCookieHeader(this.authn.sessionCookieName(req), cookie, {
        secure: this.authn.secureRequest(req),
        maxAgeSeconds: this.authn.sessions.lifetimeSeconds,
      }),
    ]);
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, safeReturnTo(transaction.returnTo));
  }

  /** A page with a POST form: logging out by a cross-site GET (an <img>) must not work. */
  @Get('logout')
  async logoutPage(@Req() req: Request, @Res() res: Response): Promise<void> {
    const session = await this.checks.currentSession(req);
    if (!session) return void res.redirect(302, LOGGED_OUT_PATH);
    page(
      res,
      200,
      'Log out',
      `<p>Signed in as <b>${escapeHtml(session.caller.name)}</b>.</p>
<form method="post" action="/kgw/auth/logout"><input type="hidden" name="csrf" value="${escapeHtml(session.csrfToken)}"><button type="submit">Log out</button></form>`,
    );
  }

  @Post('logout')
  async logout(
    @Req() req: Request,
    @Res() res: Response,
    @Body() body: Record<string, unknown> | undefined,
  ): Promise<void> {
    const session = await this.checks.currentSession(req);
    const clear = setCookieHeader(this.authn.sessionCookieName(req), '', {
      secure: this.authn.secureRequest(req),
      maxAgeSeconds: 0,
    });
    if (!session) {
      res.setHeader('Set-Cookie', clear);
      return void res.redirect(303, LOGGED_OUT_PATH);
    }
    if (!this.checks.csrfOk(req, session, body))
      throw new GatewayError('forbidden', 'Missing or wrong CSRF token.');
    // Everything of the session ends with it: child tokens, its ID token, its open streams.
    await this.authn.endSession(session);
    this.authn.authAudit.record(req, {
      kind: 'login',
      decision: 'allow',
      code: 303,
      reason: 'logout',
      authUser: session.caller.name,
      authMethod: 'session',
    });
    res.setHeader('Set-Cookie', clear);
    const providerLogout = await this.authn.login?.endSessionUrl(
      session.idToken,
      this.authn.url() + LOGGED_OUT_PATH,
    );
    if (wantsJson(req))
      return void res.status(200).json({ loggedOut: true, providerLogoutUrl: providerLogout ?? null });
    res.redirect(303, providerLogout ?? LOGGED_OUT_PATH);
  }

  /**
   * The web UI's silent refresh ahead of the provider token's expiry (refreshEarly): 200 with
   * the session's times when renewed (or not due yet), 401 when the provider refused and the
   * session ended, 503 when the provider could not be reached (the session goes on as last
   * verified; the page tries again).
   */
  @Post('refresh')
  @HttpCode(200)
  async refresh(
    @Req() req: Request,
    @Body() body: Record<string, unknown> | undefined,
  ): Promise<Record<string, unknown>> {
    const session = await this.checks.currentSession(req);
    if (!session) throw new GatewayError('unauthenticated', 'The session has expired; log in again.');
    if (!this.checks.csrfOk(req, session, body))
      throw new GatewayError('forbidden', 'Missing or wrong CSRF token.');
    const outcome = await this.authn.sessionAuthenticator.refreshEarly(session);
    if (outcome === 'ended')
      throw new GatewayError('unauthenticated', 'The identity provider ended the session; log in again.');
    if (outcome === 'kept')
      throw new GatewayError(
        'not_ready',
        'The identity provider cannot be reached; the session goes on for now.',
      );
    const now = (await this.checks.currentSession(req)) ?? session;
    return { refreshed: outcome === 'refreshed', ...sessionTimes(now) };
  }

  @Get('logged-out')
  loggedOut(@Res() res: Response): void {
    page(
      res,
      200,
      'Logged out',
      `<p>You are logged out of kgw.</p><p><a href="/kgw/auth/login">Log in again</a></p>`,
    );
  }

  /**
   * The OpenID provider is down: say so plainly (no redirect into a browser error page), and
   * that sessions already open are not affected (browser-sessions.ts keeps them).
   */
  private providerDown(req: Request, res: Response, issuer: string, why: string): void {
    this.authn.authAudit.record(req, {
      kind: 'login',
      decision: 'error',
      code: 503,
      reason: `login unavailable: the identity provider cannot be reached (${why})`,
      authMethod: 'session',
    });
    res.setHeader('Retry-After', '30');
    page(
      res,
      503,
      'Login unavailable',
      `<p>The identity provider (${escapeHtml(issuer)}) cannot be reached, so new logins cannot complete right now (${escapeHtml(why)}).</p>
<p>Sessions and tokens already issued keep working. Try again in a moment.</p><p><a href="/kgw/auth/login">Try again</a></p>`,
    );
  }

  private loginFailed(
    req: Request,
    res: Response,
    clearLogin: string,
    why: string,
    caller?: AuthenticatedCaller,
    status: 401 | 403 = 401,
  ): void {
    this.authn.limiter.recordFailure(this.authn.clientAddress(req));
    this.authn.authAudit.record(req, {
      kind: 'login',
      decision: status === 403 ? 'deny' : 'unauthenticated',
      code: status,
      reason: `login failed: ${why}`,
      authUser: caller?.name,
      authMethod: 'session',
    });
    res.setHeader('Set-Cookie', clearLogin);
    page(
      res,
      status,
      'Login failed',
      `<p>${escapeHtml(why)}</p><p><a href="/kgw/auth/login">Try again</a></p>`,
    );
  }
}
