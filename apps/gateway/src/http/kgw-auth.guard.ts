// Guards the gateway's own API (/kgw/v1/...): a caller must authenticate exactly as on the
// Kubernetes paths; the result is attached to the request for the route (see @Caller()).
import { createParamDecorator, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../errors/gateway-error';
import { GatewayAuth } from '../auth/gateway-auth';
import { type AuthenticatedRequest } from '../identity/caller';

const CALLER = Symbol('kgw.caller');
type WithCaller = IncomingMessage & { [CALLER]?: AuthenticatedRequest };

@Injectable()
export class KgwAuthGuard implements CanActivate {
  constructor(private readonly auth: GatewayAuth) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<WithCaller>();
    const result = await this.auth.authenticate(req);
    if (!result.ok) {
      if (result.status === 429) {
        context
          .switchToHttp()
          .getResponse<ServerResponse>()
          .setHeader('Retry-After', String(result.retryAfterSeconds));
        throw new GatewayError('too_many_requests', result.message);
      }
      throw new GatewayError(result.status === 401 ? 'unauthenticated' : 'forbidden', result.message);
    }
    req[CALLER] = { caller: result.caller, identity: result.identity, admin: result.admin };
    return true;
  }
}

/** The authenticated caller of a route behind KgwAuthGuard. */
export const Caller = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AuthenticatedRequest => {
    const caller = context.switchToHttp().getRequest<WithCaller>()[CALLER];
    if (!caller) throw new GatewayError('internal', 'route is missing KgwAuthGuard');
    return caller;
  },
);
