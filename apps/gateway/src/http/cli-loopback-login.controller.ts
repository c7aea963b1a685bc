// /kgw/auth/cli*: the CLI's loopback login (RFC 8252): the browser approves, the gateway redirects
// to the CLI's listener on 127.0.0.1 with a code, the CLI redeems it with its PKCE verifier.
//
// Guards: CLI tokens coming to exist. Trusts: the browser session (with its CSRF token) for
// approvals. Refuses: redirect URIs other than http://127.0.0.1:<port>, challenges other than
// S256, approvals without a session and CSRF token. Codes and tokens are never logged.
import { Body, Controller, Get, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { GatewayError } from '../errors/gateway-error';
import { AuthServices } from '../auth/auth-services';
import { isLoopbackRedirect } from '../auth/cli-login-grants';
import { issueCliToken } from './cli-token-grant';
import { LoginChecks } from './login-checks';
import { escapeHtml, page } from './login-page';

@Controller('kgw/auth')
export class LoopbackLoginController {
  constructor(
    private readonly authn: AuthServices,
    private readonly checks: LoginChecks,
  ) {}

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
    const session = await this.checks.currentSession(req);
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
    const session = await this.checks.currentSession(req);
    if (!session) throw new GatewayError('unauthenticated', 'Log in in the browser to approve a CLI login.');
    if (!this.checks.csrfOk(req, session, body))
      throw new GatewayError('forbidden', 'Missing or wrong CSRF token.');
    const target = new URL(params.redirect_uri);
    target.searchParams.set('state', params.state);
    if (body?.decision !== 'approve') {
      target.searchParams.set('error', 'access_denied');
      return void res.redirect(303, target.href);
    }
    const caller = await this.checks.sessionCaller(req);
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
    // No throttle: the code is 256 random bits and bound to the PKCE verifier.
    const code = typeof body?.code === 'string' ? body.code : '';
    const verifier = typeof body?.code_verifier === 'string' ? body.code_verifier : '';
    const redirectUri = typeof body?.redirect_uri === 'string' ? body.redirect_uri : '';
    const poll = await this.authn.grants.redeemLoopback(code, verifier, redirectUri);
    await issueCliToken(this.authn, req, res, poll, code);
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
