// The answer to a CLI login's token request (device flow poll, loopback code redemption): an
// OAuth error while the grant is not approved, else a new personal token, shown once and audited.
import type { Request, Response } from 'express';
import type { AuthServices } from '../auth/auth-services';
import { POLL_INTERVAL_SECONDS, type GrantPoll } from '../auth/cli-login-grants';
import { oauthError } from './login-page';

export async function issueCliToken(
  authn: AuthServices,
  req: Request,
  res: Response,
  poll: GrantPoll,
  code: string,
): Promise<void> {
  res.setHeader('Cache-Control', 'no-store');
  switch (poll.outcome) {
    case 'pending':
      return oauthError(res, 400, 'authorization_pending', 'waiting for approval in the browser');
    case 'slow_down':
      return oauthError(res, 400, 'slow_down', `poll at most every ${POLL_INTERVAL_SECONDS} s`);
    case 'denied':
      authn.authAudit.record(req, {
        kind: 'login',
        decision: 'deny',
        code: 400,
        reason: 'CLI login denied',
      });
      return oauthError(res, 400, 'access_denied', 'the login was denied');
    case 'expired':
      return oauthError(res, 400, 'expired_token', 'the login expired or was already used; start again');
    case 'unknown':
      authn.limiter.recordFailure(authn.clientAddress(req));
      return oauthError(res, 400, 'invalid_grant', 'unknown code');
    case 'approved': {
      const expiresAt = new Date(Date.now() + authn.cliTokenLifetimeMs);
      const { token, info } = await authn.tokens.create({
        owner: { name: poll.approver.name, uid: poll.approver.uid, groups: poll.approver.groups },
        name: `${poll.clientName} login`,
        scopes: { readOnly: false, namespaces: [], forward: true },
        expiresAt,
        createdVia: poll.approver.method,
      });
      await authn.grants.recordToken(code, info.id);
      authn.authAudit.record(req, {
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
