// /kgw/v1/tokens: create, list and revoke personal access tokens (session or token auth).
//
// Guards: PAT issuance and revocation. Trusts: KgwAuthGuard's caller (a session's state-changing
// requests carry the CSRF token, checked by the session authenticator). Refuses: read-only
// tokens creating tokens or revoking any token but themselves; a token minting a wider or
// longer-lived token (personal-tokens.ts); revoking someone else's token unless a gateway admin.
// The token is in the creation response only; lists and audit records carry its id.
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { GatewayError } from '../errors/gateway-error';
import { AuthServices } from '../auth/auth-services';
import type { AuthenticatedRequest } from '../identity/caller';
import { tokenView } from '../auth/personal-tokens';
import { Caller, KgwAuthGuard } from './kgw-auth.guard';
import { issuePersonalToken } from './token-issuance';

@Controller('kgw/v1/tokens')
@UseGuards(KgwAuthGuard)
export class TokensController {
  constructor(private readonly authn: AuthServices) {}

  @Get()
  async list(@Caller() who: AuthenticatedRequest): Promise<{ items: Array<Record<string, unknown>> }> {
    const items = await this.authn.tokens.list(who.caller.name);
    return { items: items.map(tokenView) };
  }

  @Post()
  @HttpCode(201)
  async create(
    @Req() req: Request,
    @Caller() who: AuthenticatedRequest,
    @Body() body: Record<string, unknown> | undefined,
  ): Promise<Record<string, unknown>> {
    const { token, view } = await issuePersonalToken(this.authn, req, who, body);
    return { ...view, token };
  }

  @Delete(':id')
  async revoke(
    @Req() req: Request,
    @Caller() who: AuthenticatedRequest,
    @Param('id') id: string,
  ): Promise<Record<string, unknown>> {
    const { caller } = who;
    if (caller.scopes?.readOnly && caller.tokenId !== id)
      throw new GatewayError('forbidden', 'A read-only token can only revoke itself.');
    // Admins may revoke anyone's token (a leaked token must be stoppable by someone on call).
    const revoked = await this.authn.revoke(id, who.admin ? undefined : caller.name);
    if (!revoked) throw new GatewayError('not_found', 'No such active token of yours.');
    const { info, revokedIds } = revoked;
    this.authn.authAudit.record(req, {
      kind: 'token',
      decision: 'allow',
      code: 200,
      reason:
        info.owner.name === caller.name ? 'token revoked' : `token of ${info.owner.name} revoked by an admin`,
      authUser: caller.name,
      authMethod: caller.method,
      tokenId: info.id,
    });
    // The tokens it minted (and theirs) went with it.
    const children = revokedIds.filter((revokedId) => revokedId !== info.id);
    return { ...tokenView(info), revokedWithIt: children };
  }
}
