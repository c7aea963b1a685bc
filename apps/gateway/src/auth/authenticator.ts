import type { IncomingMessage } from 'node:http';

/** Who proved themselves to the gateway, before identity mapping. */
export interface AuthenticatedCaller {
  /** The authenticated name as the credential states it (token file user, OIDC subject...). */
  name: string;
  uid?: string;
  groups: string[];
  /** How: `static-token`, later `session`, `pat`, `jwt`. */
  method: string;
  /** For personal tokens: the token's id (never the token). */
  tokenId?: string;
  /** Extra claims a mapping rule may match on. */
  claims?: Record<string, unknown>;
  /** For OIDC callers (session, jwt): the issuer that vouched for them. */
  issuer?: string;
  /** What the credential may be used for (personal tokens); absent = anything RBAC allows. */
  scopes?: TokenScopes;
  /** When the credential stops working (personal tokens); a token it mints may not outlive it. */
  expiresAt?: Date;
  /** For sessions: the hash of the session id (never the cookie itself). */
  sessionId?: string;
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

export type AuthenticationResult =
  | { outcome: 'authenticated'; caller: AuthenticatedCaller }
  /** No credential of this authenticator's kind was presented. */
  | { outcome: 'no-credential' }
  /** A credential was presented and is wrong (unknown, expired...). The message is safe to show. */
  | {
      outcome: 'rejected';
      message: string;
      /** A valid credential used wrongly (a CSRF failure): not counted as a guess by the limiter. */
      notAGuess?: true;
    }
  /** Too many failed authentications from this client address: answer 429 with Retry-After. */
  | { outcome: 'throttled'; retryAfterSeconds: number };

/** Reads only credential headers (Authorization, Cookie); never any other request header. */
export interface Authenticator {
  authenticate(req: IncomingMessage): Promise<AuthenticationResult> | AuthenticationResult;
}

/** Tries each authenticator in turn; the first that recognises a credential decides. */
export class AuthenticatorChain implements Authenticator {
  constructor(private readonly authenticators: Authenticator[]) {}

  async authenticate(req: IncomingMessage): Promise<AuthenticationResult> {
    for (const authenticator of this.authenticators) {
      const result = await authenticator.authenticate(req);
      if (result.outcome !== 'no-credential') return result;
    }
    return { outcome: 'no-credential' };
  }
}

/** The bearer token of an Authorization header, or undefined when there is none. */
export function bearerTokenOf(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}
