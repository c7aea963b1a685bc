// The gateway's own rules, checked after identity mapping and before the SubjectAccessReview:
// what a credential may be used for regardless of RBAC (a personal token scoped read-only or to
// some namespaces, say). RBAC can only narrow this further, never widen it.
import type { AccessAttributes } from '@kgw/kube';
import type { AuthenticatedCaller } from './authenticator';

export type PolicyDecision = { allowed: true } | { allowed: false; message: string };

export interface GatewayPolicy {
  check(caller: AuthenticatedCaller, attributes: AccessAttributes): PolicyDecision;
}

/** No restrictions beyond RBAC (static tokens, sessions). */
export const ALLOW_ALL_POLICY: GatewayPolicy = { check: () => ({ allowed: true }) };
