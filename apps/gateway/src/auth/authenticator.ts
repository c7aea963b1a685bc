import type { IncomingMessage } from 'node:http';
import type { AuthenticatedCaller } from '../identity/caller';

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
