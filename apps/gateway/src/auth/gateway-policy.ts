// The gateway's own rules, checked after identity mapping and before the SubjectAccessReview:
// what a credential may be used for regardless of RBAC (a personal token scoped read-only or to
// some namespaces, say). RBAC can only narrow this further, never widen it.
import type { AccessAttributes } from '@kgw/kube';
import type { AuthenticatedCaller } from '../identity/caller';

export type PolicyDecision = { allowed: true } | { allowed: false; message: string };

/** What the attributes do not say about a request but a scope may depend on. */
export interface RequestShape {
  /** The request asks to upgrade the connection (WebSocket, SPDY): a stream both ways. */
  upgrade: boolean;
}

export interface GatewayPolicy {
  check(caller: AuthenticatedCaller, attributes: AccessAttributes, shape?: RequestShape): PolicyDecision;
}

/** No restrictions beyond RBAC (static tokens, sessions). */
export const ALLOW_ALL_POLICY: GatewayPolicy = { check: () => ({ allowed: true }) };

const READ_VERBS: ReadonlySet<string> = new Set(['get', 'list', 'watch']);
/** Reviews that only tell callers what they themselves may do: reads, whatever their verb. */
const SELF_REVIEWS: ReadonlySet<string> = new Set([
  'selfsubjectaccessreviews',
  'selfsubjectrulesreviews',
  'selfsubjectreviews',
]);

/**
 * Personal-token scopes. Guards: what a token can be used for even where its owner's RBAC is
 * wider. Trusts: the scopes the authenticator attached to the caller. Refuses, for a token that
 * carries scopes: with `read-only`, every verb but get/list/watch; with a namespace allow-list,
 * every namespaced request outside it and every cluster-scoped resource (a list across all
 * namespaces included) — discovery and other non-resource reads stay allowed, kubectl needs
 * them; without `forward`, port-forwarding (pods/portforward and the gateway's tunnels).
 * Read-only also means no upgraded connection of any kind: an upgrade through pods/, services/
 * or nodes/…/proxy is a two-way stream to whatever listens there (a kubelet's exec, a pod's
 * admin WebSocket), even though its verb reads `get`; writes through a proxy (POST, PUT…) are
 * refused by their verb.
 */
export class ScopedTokenPolicy implements GatewayPolicy {
  check(caller: AuthenticatedCaller, attributes: AccessAttributes, shape?: RequestShape): PolicyDecision {
    const scopes = caller.scopes;
    if (!scopes) return { allowed: true };
    if (scopes.readOnly && shape?.upgrade) {
      return {
        allowed: false,
        message: 'this token is read-only and cannot open upgraded (streaming) connections',
      };
    }
    const selfReview =
      attributes.kind === 'resource' &&
      attributes.group === 'authorization.k8s.io' &&
      SELF_REVIEWS.has(attributes.resource);
    if (scopes.readOnly && !READ_VERBS.has(attributes.verb) && !selfReview) {
      return { allowed: false, message: `this token is read-only and cannot ${attributes.verb}` };
    }
    if (attributes.kind === 'resource') {
      if (attributes.subresource === 'portforward' && !scopes.forward) {
        return { allowed: false, message: 'this token lacks the forward scope' };
      }
      if (scopes.namespaces.length > 0 && !selfReview) {
        // The namespace object itself counts as being in its namespace.
        const namespace =
          attributes.namespace ||
          (attributes.group === '' && attributes.resource === 'namespaces' ? attributes.name : '');
        if (!namespace) {
          return {
            allowed: false,
            message: `this token is limited to namespaces ${scopes.namespaces.join(', ')} and cannot reach cluster-scoped resources`,
          };
        }
        if (!scopes.namespaces.includes(namespace)) {
          return {
            allowed: false,
            message: `this token is limited to namespaces ${scopes.namespaces.join(', ')}, not "${namespace}"`,
          };
        }
      }
    } else if (scopes.readOnly && attributes.verb !== 'get') {
      return { allowed: false, message: `this token is read-only and cannot ${attributes.verb}` };
    }
    return { allowed: true };
  }

  /** For the gateway's own tunnels (`/kgw/v1/forward`), which do not pass through the chain. */
  mayForward(caller: AuthenticatedCaller): boolean {
    return !caller.scopes || caller.scopes.forward;
  }
}
