// Who is calling, as every layer sees it: the caller a credential proved (before mapping) and,
// once mapped, the Kubernetes identity it acts as. Here, below auth/ and audit/, so both can
// name a caller without importing each other.
import type { Identity } from '@kgw/kube';

/** Who proved themselves to the gateway, before identity mapping. */
export interface AuthenticatedCaller {
  /** The authenticated name as the credential states it (token file user, OIDC subject...). */
  name: string;
  uid?: string;
  groups: string[];
  /** How: `static-token`, `session`, `pat` or `jwt` (`device-login`/`loopback-login` for CLI grants). */
  method: string;
  /** For personal tokens: the token's id (never the token). */
  tokenId?: string;
  /** Extra claims a mapping rule may match on. */
  claims?: Record<string, unknown>;
  /** For OIDC callers (session, jwt): the issuer that vouched for them. */
  issuer?: string;
  /** What the credential may be used for (personal tokens); absent = anything RBAC allows. */
  scopes?: TokenScopes;
  /**
   * When the credential stops working (a personal token's expiry, a session's end, a JWT's `exp`):
   * its open exchanges are cut then (auth/open-streams.ts), and a token it mints may not outlive it.
   */
  expiresAt?: Date;
  /** For sessions: the hash of the session id (never the cookie itself). */
  sessionId?: string;
  /** For bearer JWTs: the SHA-256 of the token (never the token), by which logout revokes it. */
  idTokenHash?: string;
}

/** The gateway's own narrowing of a personal token, enforced before RBAC (gateway-policy.ts). */
export interface TokenScopes {
  /** get, list and watch only. */
  readOnly: boolean;
  /** Empty: every namespace RBAC allows; otherwise only these (and no cluster-scoped resources). */
  namespaces: string[];
  /** Tunnels and port-forwarding (`kgw forward`, pods/portforward). */
  forward: boolean;
}

/** An authenticated and mapped caller (GatewayAuth.authenticate); `admin`: a gateway admin. */
export interface AuthenticatedRequest {
  caller: AuthenticatedCaller;
  identity: MappedIdentity;
  admin: boolean;
}

/** The Kubernetes identity a caller acts as (identity-mapper.ts), as sent upstream. */
export interface MappedIdentity extends Identity {
  /** Set when the caller is mapped to a service account: `system:serviceaccount:<ns>:<name>`. */
  serviceAccount?: string;
  /**
   * Set when the rule wants the service account's own short-lived token upstream
   * (`serviceAccountMode: token-request`) instead of the gateway credential with Impersonate-*.
   */
  tokenRequest?: { namespace: string; name: string };
}
