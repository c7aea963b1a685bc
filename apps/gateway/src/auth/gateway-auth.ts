// Who is calling, for both doors of the gateway: the Kubernetes paths (the proxy chain) and
// the gateway's own /kgw/v1 routes. One authenticator chain, one identity mapper, one policy,
// and the list of gateway admins (who may read everyone's audit records, for instance).
import type { IncomingMessage } from 'node:http';
import type { AuthenticatedCaller, AuthenticatedRequest } from '../identity/caller';
import type { Authenticator } from './authenticator';
import type { CredentialTransport } from './credential-transport';

import type { GatewayPolicy } from './gateway-policy';
import type { IdentityMapper } from '../identity/identity-mapper';
import type { GatewayMetrics } from '../metrics/gateway-metrics';

export interface GatewayAuthOptions {
  authenticator: Authenticator;
  identityMapper: IdentityMapper;
  policy: GatewayPolicy;
  adminUsers: readonly string[];
  adminGroups: readonly string[];
  /** Refuses credentials that arrived over plain HTTP from another host (absent: none refused). */
  transport?: CredentialTransport;
  /** Counts every attempt by credential kind and result (kgw_authentication_attempts_total). */
  metrics?: Pick<GatewayMetrics, 'authenticationAttempt'>;
}

/**
 * Why a caller was turned away, with what the audit needs: no credential at all vs a credential
 * that was rejected, too many failures from the address, or an identity the mapper refused.
 */
export type CallerRefusal =
  | { ok: false; refusal: 'no-credential'; status: 401; message: string }
  | { ok: false; refusal: 'rejected'; status: 401; message: string }
  | { ok: false; refusal: 'throttled'; status: 429; message: string; retryAfterSeconds: number }
  | { ok: false; refusal: 'plain-http'; status: 403; message: string }
  | { ok: false; refusal: 'unmapped'; status: 403; message: string; caller: AuthenticatedCaller };

export type GatewayAuthResult = ({ ok: true } & AuthenticatedRequest) | CallerRefusal;

export class GatewayAuth {
  readonly authenticator: Authenticator;
  readonly identityMapper: IdentityMapper;
  readonly policy: GatewayPolicy;
  private readonly adminUsers: ReadonlySet<string>;
  private readonly adminGroups: ReadonlySet<string>;
  private readonly metrics: GatewayAuthOptions['metrics'];
  private readonly transport: CredentialTransport | undefined;

  constructor(options: GatewayAuthOptions) {
    this.metrics = options.metrics;
    this.transport = options.transport;
    this.authenticator = options.authenticator;
    this.identityMapper = options.identityMapper;
    this.policy = options.policy;
    this.adminUsers = new Set(options.adminUsers);
    this.adminGroups = new Set(options.adminGroups);
  }

  /** Gateway admins are named by the credential's own user and groups, before any mapping. */
  isAdmin(caller: AuthenticatedCaller): boolean {
    return this.adminUsers.has(caller.name) || caller.groups.some((group) => this.adminGroups.has(group));
  }

  /**
   * Who is calling: authenticate, then map to a Kubernetes identity. The one way both doors learn
   * it — the proxy chain (Kubernetes paths) and KgwAuthGuard (/kgw/v1 routes).
   */
  async authenticate(req: IncomingMessage): Promise<GatewayAuthResult> {
    const result = await this.identify(req);
    if (this.metrics)
      this.metrics.authenticationAttempt(
        result.ok || result.refusal === 'unmapped' ? result.caller.method : credentialKind(req),
        result.ok ? 'success' : result.refusal,
      );
    return result;
  }

  private async identify(req: IncomingMessage): Promise<GatewayAuthResult> {
    // Before any credential is looked at: one that came in clear is refused whatever it is.
    const inClear = this.transport?.refusal(req);
    if (inClear !== undefined) return { ok: false, refusal: 'plain-http', status: 403, message: inClear };
    const result = await this.authenticator.authenticate(req);
    if (result.outcome === 'no-credential')
      return { ok: false, refusal: 'no-credential', status: 401, message: 'Authentication required.' };
    if (result.outcome === 'rejected')
      return { ok: false, refusal: 'rejected', status: 401, message: result.message };
    if (result.outcome === 'throttled') {
      return {
        ok: false,
        refusal: 'throttled',
        status: 429,
        message: 'Too many failed authentication attempts from this address; retry later.',
        retryAfterSeconds: result.retryAfterSeconds,
      };
    }
    const mapped = this.identityMapper.map(result.caller);
    if (!mapped.ok)
      return { ok: false, refusal: 'unmapped', status: 403, message: mapped.message, caller: result.caller };
    return { ok: true, caller: result.caller, identity: mapped.identity, admin: this.isAdmin(result.caller) };
  }
}

/**
 * The kind of credential a request that did not authenticate carried, as a bounded label: never
 * the credential itself.
 */
function credentialKind(req: IncomingMessage): string {
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const token = /^bearer\s+(\S+)/i.exec(authorization)?.[1];
    if (token === undefined) return 'other';
    if (token.startsWith('kgw_')) return 'pat';
    return token.split('.').length === 3 ? 'jwt' : 'bearer';
  }
  return req.headers.cookie !== undefined ? 'session' : 'none';
}
