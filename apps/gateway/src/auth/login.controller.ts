// /kgw/auth/*: browser login and logout, and the two CLI logins (device flow, loopback + PKCE).
//
// Guards: the doors through which sessions and CLI tokens come to exist. Trusts: OidcLogin's
// verified tokens, the browser session (with its CSRF token) for approvals. Refuses: a
// callback without its login transaction; identities the mapper refuses (no session is made
// for them); approvals without a session and CSRF token; return URLs off this gateway
// (return-to.ts). Failed logins count towards the per-address limiter and are audited. Codes,
// states and tokens are never logged (the request logger strips query strings here).
import { Body, Controller, Get, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { GatewayError } from '../errors/gateway-error';
import { GatewayAuth } from './gateway-auth';
import { AuthServices } from './auth-services';
import type { AuthenticatedCaller } from './authenticator';
import {
  CSRF_HEADER,
  LOGIN_COOKIE,
  SESSION_COOKIE,
  cookieValue,
  sameSecret,
  setCookieHeader,
  type SessionRecord,
} from './browser-sessions';
import {
  DEVICE_GRANT_TYPE,
  POLL_INTERVAL_SECONDS,
  isLoopbackRedirect,
  normalizeUserCode,
  type GrantPoll,
} from './cli-login-grants';
import { callerFromClaims } from './oidc-claims';
import { DEFAULT_RETURN_TO, safeReturnTo } from './return-to';

const CALLBACK_PATH = '/kgw/auth/callback';
const LOGGED_OUT_PATH = '/kgw/auth/logged-out';

@Controller('kgw/auth')
export class LoginController {
  constructor(
    private readonly authn: AuthServices,
    private readonly auth: GatewayAuth,
  ) {}

  @Get('login')
  async login(
    @Req() req: Request,
    @Res() res: Response,
    @Query('returnTo') returnTo: unknown,
  ): Promise<void> {
    const login = this.requireLogin();
    this.throttle(req, res);
    const state: Record<string, unknown> = {};
    const outcome = await login.run(req, res, state, this.authn.url() + CALLBACK_PATH);
    if (outcome.kind !== 'redirect')
      throw new GatewayError('not_ready', 'the OpenID provider cannot be reached');
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
    const login = this.requireLogin();
    this.throttle(req, res);
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
      setCookieHeader(SESSION_COOKIE, cookie, {
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
    const session = await this.currentSession(req);
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
    const session = await this.currentSession(req);
    const clear = setCookieHeader(SESSION_COOKIE, '', {
      secure: this.authn.secureRequest(req),
      maxAgeSeconds: 0,
    });
    if (!session) {
      res.setHeader('Set-Cookie', clear);
      return void res.redirect(303, LOGGED_OUT_PATH);
    }
    if (!this.csrfOk(req, session, body)) throw new GatewayError('forbidden', 'Missing or wrong CSRF token.');
    await this.authn.sessions.delete(session.idHash);
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

  @Get('logged-out')
  loggedOut(@Res() res: Response): void {
    page(
      res,
      200,
      'Logged out',
      `<p>You are logged out of kgw.</p><p><a href="/kgw/auth/login">Log in again</a></p>`,
    );
  }

  // ---- CLI login: device flow --------------------------------------------------------------

  @Post('device')
  async startDevice(
    @Req() req: Request,
    @Res() res: Response,
    @Body() body: Record<string, unknown> | undefined,
  ): Promise<void> {
    this.throttle(req, res);
    const clientName =
      typeof body?.client_name === 'string' && body.client_name.trim()
        ? body.client_name.trim().slice(0, 100)
        : 'kgw CLI';
    const grant = await this.authn.grants.startDevice(clientName);
    const verification = `${this.authn.url()}/kgw/auth/device`;
    res.setHeader('Cache-Control', 'no-store');
    res.status(200).json({
      device_code: grant.deviceCode,
      user_code: grant.userCode,
      verification_uri: verification,
      verification_uri_complete: `${verification}?user_code=${encodeURIComponent(grant.userCode)}`,
      expires_in: grant.expiresIn,
      interval: POLL_INTERVAL_SECONDS,
    });
  }

  @Post('device/token')
  async pollDevice(
    @Req() req: Request,
    @Res() res: Response,
    @Body() body: Record<string, unknown> | undefined,
  ): Promise<void> {
    this.throttle(req, res);
    if (body?.grant_type !== undefined && body.grant_type !== DEVICE_GRANT_TYPE)
      return oauthError(res, 400, 'unsupported_grant_type', 'only the device code grant is served here');
    const deviceCode = typeof body?.device_code === 'string' ? body.device_code : '';
    const poll = await this.authn.grants.pollDevice(deviceCode);
    await this.issueCliToken(req, res, poll, deviceCode);
  }

  /** The approval page for a user code; logging in first when there is no session. */
  @Get('device')
  async devicePage(
    @Req() req: Request,
    @Res() res: Response,
    @Query('user_code') rawCode: unknown,
  ): Promise<void> {
    const session = await this.currentSession(req);
    const here = `/kgw/auth/device${typeof rawCode === 'string' ? `?user_code=${encodeURIComponent(rawCode)}` : ''}`;
    if (!session) return void res.redirect(302, `/kgw/auth/login?returnTo=${encodeURIComponent(here)}`);
    const userCode = typeof rawCode === 'string' ? normalizeUserCode(rawCode) : '';
    const pending = userCode ? await this.authn.grants.pendingByUserCode(userCode) : undefined;
    const csrf = `<input type="hidden" name="csrf" value="${escapeHtml(session.csrfToken)}">`;
    if (!pending) {
      page(
        res,
        200,
        'Approve a CLI login',
        `${userCode ? '<p role="alert">That code is unknown or has expired.</p>' : ''}
<form method="get" action="/kgw/auth/device"><label>Code shown by the CLI <input name="user_code" autofocus></label><button type="submit">Continue</button></form>`,
      );
      return;
    }
    page(
      res,
      200,
      'Approve a CLI login',
      `<p><b>${escapeHtml(pending.clientName)}</b> asks to act as <b>${escapeHtml(session.caller.name)}</b> with code <b>${escapeHtml(userCode)}</b>.</p>
<p>Approve only if you started this login yourself.</p>
<form method="post" action="/kgw/auth/device/approve">${csrf}<input type="hidden" name="user_code" value="${escapeHtml(userCode)}">
<button name="decision" value="approve" type="submit">Approve</button> <button name="decision" value="deny" type="submit">Deny</button></form>`,
    );
  }

  @Post('device/approve')
  async approveDevice(
    @Req() req: Request,
    @Res() res: Response,
    @Body() body: Record<string, unknown> | undefined,
  ): Promise<void> {
    this.throttle(req, res);
    const session = await this.currentSession(req);
    if (!session) throw new GatewayError('unauthenticated', 'Log in in the browser to approve a CLI login.');
    if (!this.csrfOk(req, session, body)) throw new GatewayError('forbidden', 'Missing or wrong CSRF token.');
    const userCode = normalizeUserCode(typeof body?.user_code === 'string' ? body.user_code : '');
    const approve = body?.decision === 'approve';
    const caller = await this.sessionCaller(req);
    const decided = userCode ? await this.authn.grants.decideDevice(userCode, caller, approve) : false;
    if (!decided) {
      this.authn.limiter.recordFailure(this.authn.clientAddress(req));
      throw new GatewayError('bad_request', 'That code is unknown or has expired.');
    }
    this.authn.authAudit.record(req, {
      kind: 'login',
      decision: approve ? 'allow' : 'deny',
      code: 200,
      reason: approve ? 'device login approved' : 'device login denied',
      authUser: caller.name,
      authMethod: 'session',
    });
    if (wantsJson(req)) return void res.status(200).json({ approved: approve });
    page(
      res,
      200,
      approve ? 'CLI login approved' : 'CLI login denied',
      `<p>${approve ? 'You can return to your terminal.' : 'The CLI login was denied.'}</p>`,
    );
  }

  // ---- CLI login: loopback redirect + PKCE -------------------------------------------------

  @Get('cli')
  async loopbackPage(
    @Req() req: Request,
    @Res() res: Response,
    @Query() query: Record<string, unknown>,
  ): Promise<void> {
    const params = loopbackParams(query);
    if (!params)
      throw new GatewayError(
        'bad_request',
        'redirect_uri must be http://127.0.0.1:<port>/..., with an S256 code_challenge and a state',
      );
    const session = await this.currentSession(req);
    if (!session)
      return void res.redirect(302, `/kgw/auth/login?returnTo=${encodeURIComponent(req.originalUrl)}`);
    const hidden = Object.entries({ ...params, csrf: session.csrfToken })
      .map(([k, v]) => `<input type="hidden" name="${k}" value="${escapeHtml(v)}">`)
      .join('');
    page(
      res,
      200,
      'Approve a CLI login',
      `<p><b>${escapeHtml(params.client_name)}</b> on this computer asks to act as <b>${escapeHtml(session.caller.name)}</b>.</p>
<form method="post" action="/kgw/auth/cli/approve">${hidden}<button name="decision" value="approve" type="submit">Approve</button> <button name="decision" value="deny" type="submit">Deny</button></form>`,
    );
  }

  @Post('cli/approve')
  async approveLoopback(
    @Req() req: Request,
    @Res() res: Response,
    @Body() body: Record<string, unknown> | undefined,
  ): Promise<void> {
    const params = loopbackParams(body ?? {});
    if (!params) throw new GatewayError('bad_request', 'malformed loopback login');
    const session = await this.currentSession(req);
    if (!session) throw new GatewayError('unauthenticated', 'Log in in the browser to approve a CLI login.');
    if (!this.csrfOk(req, session, body)) throw new GatewayError('forbidden', 'Missing or wrong CSRF token.');
    const target = new URL(params.redirect_uri);
    target.searchParams.set('state', params.state);
    if (body?.decision !== 'approve') {
      target.searchParams.set('error', 'access_denied');
      return void res.redirect(303, target.href);
    }
    const caller = await this.sessionCaller(req);
    const code = await this.authn.grants.approveLoopback(
      caller,
      params.redirect_uri,
      params.code_challenge,
      params.client_name,
    );
    this.authn.authAudit.record(req, {
      kind: 'login',
      decision: 'allow',
      code: 303,
      reason: 'loopback login approved',
      authUser: caller.name,
      authMethod: 'session',
    });
    target.searchParams.set('code', code);
    res.redirect(303, target.href);
  }

  @Post('cli/token')
  async redeemLoopback(
    @Req() req: Request,
    @Res() res: Response,
    @Body() body: Record<string, unknown> | undefined,
  ): Promise<void> {
    this.throttle(req, res);
    const code = typeof body?.code === 'string' ? body.code : '';
    const verifier = typeof body?.code_verifier === 'string' ? body.code_verifier : '';
    const redirectUri = typeof body?.redirect_uri === 'string' ? body.redirect_uri : '';
    const poll = await this.authn.grants.redeemLoopback(code, verifier, redirectUri);
    await this.issueCliToken(req, res, poll, code);
  }

  // ---- helpers -----------------------------------------------------------------------------

  private async issueCliToken(req: Request, res: Response, poll: GrantPoll, code: string): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    switch (poll.outcome) {
      case 'pending':
        return oauthError(res, 400, 'authorization_pending', 'waiting for approval in the browser');
      case 'slow_down':
        return oauthError(res, 400, 'slow_down', `poll at most every ${POLL_INTERVAL_SECONDS} s`);
      case 'denied':
        this.authn.authAudit.record(req, {
          kind: 'login',
          decision: 'deny',
          code: 400,
          reason: 'CLI login denied',
        });
        return oauthError(res, 400, 'access_denied', 'the login was denied');
      case 'expired':
        return oauthError(res, 400, 'expired_token', 'the login expired or was already used; start again');
      case 'unknown':
        this.authn.limiter.recordFailure(this.authn.clientAddress(req));
        return oauthError(res, 400, 'invalid_grant', 'unknown code');
      case 'approved': {
        const expiresAt = new Date(Date.now() + this.authn.cliTokenLifetimeMs);
        const { token, info } = await this.authn.tokens.create({
          owner: { name: poll.approver.name, uid: poll.approver.uid, groups: poll.approver.groups },
          name: `${poll.clientName} login`,
          scopes: { readOnly: false, namespaces: [], forward: true },
          expiresAt,
          createdVia: poll.approver.method,
        });
        await this.authn.grants.recordToken(code, info.id);
        this.authn.authAudit.record(req, {
          kind: 'token',
          decision: 'allow',
          code: 200,
          reason: `token created by ${poll.approver.method}`,
          authUser: info.owner.name,
          authMethod: poll.approver.method,
          tokenId: info.id,
        });
        res.status(200).json({
          access_token: token,
          token_type: 'Bearer',
          expires_in: Math.floor((expiresAt.getTime() - Date.now()) / 1000),
          token_id: info.id,
          user: info.owner.name,
        });
        return;
      }
    }
  }

  private requireLogin(): NonNullable<AuthServices['login']> {
    if (!this.authn.login)
      throw new GatewayError('not_found', 'No OpenID provider is configured for browser login.');
    return this.authn.login;
  }

  /** Over the failed-authentication limit: 429 with Retry-After, before any work. */
  private throttle(req: Request, res: Response): void {
    const retryAfter = this.authn.limiter.retryAfterSeconds(this.authn.clientAddress(req));
    if (retryAfter > 0) {
      res.setHeader('Retry-After', String(retryAfter));
      throw new GatewayError(
        'too_many_requests',
        'Too many failed authentication attempts from this address; retry later.',
      );
    }
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

  private async currentSession(req: Request): Promise<SessionRecord | undefined> {
    const cookie = cookieValue(req, SESSION_COOKIE);
    return cookie ? this.authn.sessions.find(cookie) : undefined;
  }

  /** The session's caller, refreshed if due (the session authenticator does that). */
  private async sessionCaller(req: Request): Promise<AuthenticatedCaller> {
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
  private csrfOk(req: Request, session: SessionRecord, body: Record<string, unknown> | undefined): boolean {
    const header = req.headers[CSRF_HEADER];
    const given =
      typeof header === 'string' ? header : typeof body?.csrf === 'string' ? body.csrf : undefined;
    return given !== undefined && sameSecret(given, session.csrfToken);
  }
}

function loopbackParams(
  query: Record<string, unknown>,
): { redirect_uri: string; code_challenge: string; state: string; client_name: string } | undefined {
  const { redirect_uri, code_challenge, code_challenge_method, state, client_name } = query;
  if (typeof redirect_uri !== 'string' || !isLoopbackRedirect(redirect_uri)) return undefined;
  if (typeof code_challenge !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(code_challenge)) return undefined;
  if (code_challenge_method !== undefined && code_challenge_method !== 'S256') return undefined;
  if (typeof state !== 'string' || state.length < 16 || state.length > 200) return undefined;
  return {
    redirect_uri,
    code_challenge,
    state,
    client_name: typeof client_name === 'string' && client_name ? client_name.slice(0, 100) : 'kgw CLI',
  };
}

function wantsJson(req: Request): boolean {
  return (
    (req.headers.accept ?? '').includes('application/json') &&
    !(req.headers.accept ?? '').includes('text/html')
  );
}

function oauthError(res: Response, status: number, error: string, description: string): void {
  res.status(status).json({ error, error_description: description });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res: Response, status: number, title: string, body: string): void {
  res.status(status);
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  // No scripts, no framing: these pages hold CSRF tokens and approval buttons (clickjacking).
  res.setHeader(
    'Content-Security-Policy',
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://127.0.0.1:*; frame-ancestors 'none'",
  );
  res.setHeader('X-Frame-Options', 'DENY');
  res.send(`<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)} · kgw</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}<p><small><a href="${DEFAULT_RETURN_TO}">kgw</a></small></p></body></html>`);
}
