// Turns verified OIDC claims into the gateway's caller, the same way for bearer JWTs and
// browser sessions (like kube-apiserver's --oidc-username-claim / --oidc-groups-claim).
// Refuses: a missing or non-string username claim; an `email` username whose address the
// provider has not verified (anyone can type an address into a profile).
//
// Usernames are prefixed as kube-apiserver prefixes them: by default `<issuer>#<claim>` unless
// the claim is `email` (a `sub` is unique only within its issuer — two issuers' `sub: 1` are two
// people, and admin rights, token ownership and audit visibility go by name). `-` turns the
// prefix off; any other value is used as given.
import type { AuthenticatedCaller } from '../identity/caller';

export interface ClaimMapping {
  usernameClaim: string;
  groupsClaim: string;
  /** Unset or empty: `<issuer>#` unless the claim is `email`; `-`: none. */
  usernamePrefix?: string;
}

export function usernamePrefixFor(mapping: ClaimMapping, issuer: string): string {
  const configured = mapping.usernamePrefix;
  if (configured === '-') return '';
  if (configured) return configured;
  return mapping.usernameClaim === 'email' ? '' : `${issuer}#`;
}

export type ClaimsResult = { ok: true; caller: AuthenticatedCaller } | { ok: false; message: string };

export function callerFromClaims(
  claims: Record<string, unknown>,
  issuer: string,
  method: 'jwt' | 'session',
  mapping: ClaimMapping,
): ClaimsResult {
  const name = claims[mapping.usernameClaim];
  if (typeof name !== 'string' || !name) {
    return { ok: false, message: `the token has no string claim "${mapping.usernameClaim}"` };
  }
  if (mapping.usernameClaim === 'email' && claims.email_verified !== true) {
    return { ok: false, message: 'the email address is not verified by the provider' };
  }
  const rawGroups = claims[mapping.groupsClaim];
  const groups =
    typeof rawGroups === 'string'
      ? [rawGroups]
      : Array.isArray(rawGroups)
        ? rawGroups.filter((g): g is string => typeof g === 'string' && g.length > 0)
        : [];
  return {
    ok: true,
    caller: {
      name: usernamePrefixFor(mapping, issuer) + name,
      uid: typeof claims.sub === 'string' ? `${issuer}#${claims.sub}` : undefined,
      groups: [...new Set(groups)],
      method,
      claims,
      issuer,
    },
  };
}
