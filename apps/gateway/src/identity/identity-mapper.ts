// Turns an authenticated caller into the one Kubernetes identity the gateway will impersonate.
//
// Guards: what the API server is told about who is asking. Trusts: the authenticator's result
// and the operator's mapping rules. Refuses (403, never a pass-through): identities an identity
// provider must never produce — usernames starting `system:`, and `system:` groups such as
// `system:masters` — unless a rule maps them explicitly; empty names; names the impersonation
// headers could not carry faithfully. Every mapped identity carries extra `kgw.io/auth-method`
// (and `kgw.io/token-id` for personal tokens) so the API server's audit log shows how the
// caller got in.
import type { Identity } from '@kgw/kube';
import type { AuthenticatedCaller } from '../auth/authenticator';

export interface MappedIdentity extends Identity {
  /** Set when the caller is mapped to a service account: `system:serviceaccount:<ns>:<name>`. */
  serviceAccount?: string;
}

export type MappingResult = { ok: true; identity: MappedIdentity } | { ok: false; message: string };

/** Groups the API server adds itself; an identity must not bring them. */
const RESERVED_PREFIX = 'system:';

/** Maps a caller (by name, or by one of its groups) to a service account, impersonated as such. */
export interface ServiceAccountRule {
  user?: string;
  group?: string;
  /** `namespace/name` */
  serviceAccount: string;
}

export interface IdentityMappingRules {
  usernamePrefix?: string;
  groupsPrefix?: string;
  serviceAccounts?: ServiceAccountRule[];
}

export class IdentityMapper {
  constructor(private readonly rules: IdentityMappingRules = {}) {}

  map(caller: AuthenticatedCaller): MappingResult {
    const rule = this.rules.serviceAccounts?.find(
      (r) =>
        (r.user !== undefined && r.user === caller.name) ||
        (r.group !== undefined && caller.groups.includes(r.group)),
    );
    if (rule) return this.mapToServiceAccount(caller, rule.serviceAccount);
    const username = `${this.rules.usernamePrefix ?? ''}${caller.name}`;
    if (!caller.name.trim()) return { ok: false, message: 'the credential names no user' };
    if (username.startsWith(RESERVED_PREFIX)) {
      return {
        ok: false,
        message: `the username "${username}" is reserved for Kubernetes itself and no mapping rule allows it`,
      };
    }
    const groups: string[] = [];
    for (const group of caller.groups) {
      const mapped = `${this.rules.groupsPrefix ?? ''}${group}`;
      if (mapped.startsWith(RESERVED_PREFIX)) {
        return {
          ok: false,
          message: `the group "${mapped}" is reserved for Kubernetes itself and no mapping rule allows it`,
        };
      }
      if (!groups.includes(mapped)) groups.push(mapped);
    }
    return { ok: true, identity: { username, uid: caller.uid, groups, extra: extraFor(caller) } };
  }

  /** An explicit rule is the one way to a `system:` name: the service account's own identity. */
  private mapToServiceAccount(caller: AuthenticatedCaller, serviceAccount: string): MappingResult {
    const [namespace, name, ...rest] = serviceAccount.split('/');
    if (!namespace || !name || rest.length > 0)
      return { ok: false, message: `mapping rule names "${serviceAccount}", not namespace/name` };
    const username = `system:serviceaccount:${namespace}:${name}`;
    const extra = extraFor(caller);
    // Who really called, for the API server's audit log.
    extra['kgw.io/user'] = [caller.name];
    return {
      ok: true,
      identity: {
        username,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`],
        extra,
        serviceAccount: username,
      },
    };
  }
}

function extraFor(caller: AuthenticatedCaller): Record<string, string[]> {
  const extra: Record<string, string[]> = { 'kgw.io/auth-method': [caller.method] };
  if (caller.tokenId) extra['kgw.io/token-id'] = [caller.tokenId];
  return extra;
}
