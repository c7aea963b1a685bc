// Minting a personal token from a request body ({name, scopes, namespaces, expiresAt |
// expiresInDays}), for POST /kgw/v1/tokens and for the token-based kubeconfig (POST
// /kgw/v1/kubeconfig). The limits are personal-tokens.ts's: a token never outlives or outgrows
// the credential that made it; a read-only token makes none.
import type { Request } from 'express';
import { GatewayError } from '../errors/gateway-error';
import type { AuthServices } from '../auth/auth-services';
import type { AuthenticatedRequest } from '../identity/caller';
import {
  describeDuration,
  TokenRequestError,
  tokenView,
  type CreateTokenRequest,
} from '../auth/personal-tokens';

const KNOWN_SCOPES = new Set(['read-only', 'forward']);

/** The new token (shown once) and its public view (with a notice when its expiry was cut). */
export async function issuePersonalToken(
  authn: AuthServices,
  req: Request,
  who: AuthenticatedRequest,
  body: Record<string, unknown> | undefined,
): Promise<{ token: string; view: Record<string, unknown> }> {
  const { caller } = who;
  if (caller.scopes?.readOnly) throw new GatewayError('forbidden', 'A read-only token cannot create tokens.');
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
    const { token, info, expiryLimitedByParent } = await authn.tokens.create(
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
    authn.authAudit.record(req, {
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
    const view: Record<string, unknown> = tokenView(info);
    // Say so when the caller got less than asked or the default: its parent ends sooner.
    if (expiryLimitedByParent)
      view.notice =
        `Expires at ${info.expiresAt.toISOString()} (in ${describeDuration(info.expiresAt.getTime() - now.getTime())}), ` +
        (caller.method === 'pat'
          ? 'with the token that created it: a token cannot create a token that outlives it.'
          : 'with the browser session that created it: logging out or the session ending revokes it.');
    return { token, view };
  } catch (err) {
    if (err instanceof TokenRequestError) throw new GatewayError('bad_request', err.message);
    throw err;
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
