// /kgw/auth/device*: the CLI's device login (RFC 8628): the CLI asks for a code, the user approves
// it in a signed-in browser, the CLI polls for its token.
//
// Guards: CLI tokens coming to exist. Trusts: the browser session (with its CSRF token) for
// approvals. Refuses: approvals without a session and CSRF token; unknown or expired codes
// (counted towards the per-address limiter). Codes and tokens are never logged.
import { Body, Controller, Get, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { GatewayError } from '../errors/gateway-error';
import { AuthServices } from '../auth/auth-services';
import { DEVICE_GRANT_TYPE, POLL_INTERVAL_SECONDS, normalizeUserCode } from '../auth/cli-login-grants';
import { issueCliToken } from './cli-token-grant';
import { LoginChecks } from './login-checks';
import { escapeHtml, oauthError, page, wantsJson } from './login-page';

@Controller('kgw/auth')
export class DeviceLoginController {
  constructor(
    private readonly authn: AuthServices,
    private readonly checks: LoginChecks,
  ) {}

  @Post('device')
  async startDevice(
    @Req() req: Request,
    @Res() res: Response,
    @Body() body: Record<string, unknown> | undefined,
  ): Promise<void> {
    this.checks.limitStart(req, res);
    const clientName =
      typeof body?.client_name === 'string' && body.client_name.trim()
        ? body.client_name.trim().slice(0, 100)
        : 'kgw CLI';
    const grant = await this.authn.grants.startDevice(clientName);
    if (!grant)
      throw new GatewayError(
        'too_many_requests',
        'Too many CLI logins are waiting for approval; retry later.',
      );
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
    // No throttle: a device code is 256 random bits; unknown codes still count as failures.
    if (body?.grant_type !== undefined && body.grant_type !== DEVICE_GRANT_TYPE)
      return oauthError(res, 400, 'unsupported_grant_type', 'only the device code grant is served here');
    const deviceCode = typeof body?.device_code === 'string' ? body.device_code : '';
    const poll = await this.authn.grants.pollDevice(deviceCode);
    await issueCliToken(this.authn, req, res, poll, deviceCode);
  }

  /** The approval page for a user code; logging in first when there is no session. */
  @Get('device')
  async devicePage(
    @Req() req: Request,
    @Res() res: Response,
    @Query('user_code') rawCode: unknown,
  ): Promise<void> {
    const session = await this.checks.currentSession(req);
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
    this.checks.throttle(req, res);
    const session = await this.checks.currentSession(req);
    if (!session) throw new GatewayError('unauthenticated', 'Log in in the browser to approve a CLI login.');
    if (!this.checks.csrfOk(req, session, body))
      throw new GatewayError('forbidden', 'Missing or wrong CSRF token.');
    const userCode = normalizeUserCode(typeof body?.user_code === 'string' ? body.user_code : '');
    const approve = body?.decision === 'approve';
    const caller = await this.checks.sessionCaller(req);
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
}
