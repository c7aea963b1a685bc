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
import { Caller, KgwAuthGuard } from './kgw-auth.guard';
import {
  describeDuration,
  TokenRequestError,
  tokenView,
  type CreateTokenRequest,
} from '../auth/personal-tokens';

const KNOWN_SCOPES = new Set(['read-only', 'forward']);

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
    const { caller } = who;
    if (caller.scopes?.readOnly)
      throw new GatewayError('forbidden', 'A read-only token cannot create tokens.');
    const scopes = Array.isArray(body?.scopes) ? body.scopes : [];
    const unknown = scopes.filter((s) => typeof s !== 'string' || !KNOWN_SCOPES.has(s));
    if (unknown.length > 0)
      throw new GatewayError(
        'bad_request',
        `Unknown scopes: ${unknown.map(String).join(', ')} (known: read-only, forward).`,
      );
    const namespaces = body?.namespaces ?? [];
    if (!Array.isArray(namespaces) || namespaces.some((n) => typeof n !== 'string'))
      throw new GatewayError('bad_request', 'namespaces must be a list of namespace names.');
    const now = new Date();
    let expiresAt: Date | undefined;
    if (body?.expiresAt !== undefined) {
      expiresAt = typeof body.expiresAt === 'string' ? new Date(body.expiresAt) : new Date(NaN);
      if (Number.isNaN(expiresAt.getTime()))
        throw new GatewayError('bad_request', 'expiresAt must be an ISO 8601 time.');
    } else if (body?.expiresInDays !== undefined) {
      const days = Number(body.expiresInDays);
      if (!Number.isFinite(days) || days <= 0)
        throw new GatewayError('bad_request', 'expiresInDays must be a positive number.');
      expiresAt = new Date(now.getTime() + days * 86_400_000);
    }
    try {
      const { token, info, expiryLimitedByParent } = await this.authn.tokens.create(
        {
          owner: { name: caller.name, uid: caller.uid, groups: caller.groups },
          name: typeof body?.name === 'string' ? body.name : '',
          scopes: {
            readOnly: scopes.includes('read-only'),
            forward: scopes.includes('forward'),
            namespaces: namespaces as string[],
          },
          expiresAt,
          createdVia: caller.method,
          parent: parentOf(caller),
        },
        now,
      );
      this.authn.authAudit.record(req, {
        kind: 'token',
        decision: 'allow',
        code: 201,
        reason: 'token created',
        authUser: caller.name,
        authMethod: caller.method,
        tokenId: info.id,
        kubeUser: who.identity.username,
        kubeGroups: [...who.identity.groups],
      });
      const view: Record<string, unknown> = { ...tokenView(info), token };
      // Say so when the caller got less than asked or the default: its parent ends sooner.
      if (expiryLimitedByParent)
        view.notice =
          `Expires at ${info.expiresAt.toISOString()} (in ${describeDuration(info.expiresAt.getTime() - now.getTime())}), ` +
          (caller.method === 'pat'
            ? 'with the token that created it: a token cannot create a token that outlives it.'
            : 'with the browser session that created it: logging out or the session ending revokes it.');
      return view;
    } catch (err) {
      if (err instanceof TokenRequestError) throw new GatewayError('bad_request', err.message);
      throw err;
    }
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

/**
 * The credential minting a token, which the token ends with: a personal token (its scopes and
 * expiry bound the child's) or a browser session (logout revokes the child). A bearer JWT or the
 * static token file cannot be revoked by the gateway, so their tokens stand alone.
 */
function parentOf(caller: AuthenticatedRequest['caller']): CreateTokenRequest['parent'] {
  if (caller.method === 'pat')
    return { scopes: caller.scopes, expiresAt: caller.expiresAt, tokenId: caller.tokenId };
  if (caller.method === 'session' && caller.sessionId)
    return { expiresAt: caller.expiresAt, sessionId: caller.sessionId };
  return undefined;
}
