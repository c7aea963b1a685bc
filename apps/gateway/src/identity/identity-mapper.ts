// Turns an authenticated caller into the one Kubernetes identity the gateway will impersonate.
//
// Guards: what the API server is told about who is asking. Trusts: the authenticator's result
// and the operator's mapping rules. Refuses (403, never a pass-through): identities an identity
// provider must never produce — usernames starting `system:`, and `system:` groups such as
// `system:masters` — unless a rule maps them explicitly; empty names; names the impersonation
// headers could not carry faithfully. Every mapped identity carries extra `kgw.io/auth-method`
// (and `kgw.io/token-id` for personal tokens) so the API server's audit log shows how the
// caller got in.
import { ImpersonationError, impersonationHeaders } from '@kgw/kube';
import type { AuthenticatedCaller, MappedIdentity } from './caller';

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

/**
 * A mapping rule from config (KGW_IDENTITY_RULES). It matches on the credential's own user,
 * groups and claims (before prefixes); every matching rule adds its groups, and the first
 * matching rule that names a service account maps the caller to it.
 */
export interface MappingRule {
  match: { user?: string; group?: string; claim?: { name: string; value: string } };
  addGroups?: string[];
  /** `namespace/name` */
  serviceAccount?: string;
  /**
   * How the service account is used upstream: impersonated by the gateway (default), or by a
   * short-lived token of its own from the TokenRequest API (no impersonation rights needed for it).
   */
  serviceAccountMode?: ServiceAccountMode;
}

export type ServiceAccountMode = 'impersonate' | 'token-request';

export interface IdentityMappingRules {
  usernamePrefix?: string;
  groupsPrefix?: string;
  serviceAccounts?: ServiceAccountRule[];
  rules?: MappingRule[];
}

export class MappingRuleError extends Error {
  override name = 'MappingRuleError';
}

/** Validates KGW_IDENTITY_RULES at boot, naming every bad rule at once. */
export function parseMappingRules(value: unknown): MappingRule[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new MappingRuleError('KGW_IDENTITY_RULES must be a JSON array of rules');
  const problems: string[] = [];
  const rules: MappingRule[] = [];
  value.forEach((raw: unknown, index) => {
    const where = `KGW_IDENTITY_RULES[${index}]`;
    if (typeof raw !== 'object' || raw === null) return problems.push(`${where}: must be an object`);
    const rule = raw as Record<string, unknown>;
    const match = rule.match as Record<string, unknown> | undefined;
    if (typeof match !== 'object' || match === null) return problems.push(`${where}: needs a "match" object`);
    const claim = match.claim as Record<string, unknown> | undefined;
    const valid =
      (match.user === undefined || typeof match.user === 'string') &&
      (match.group === undefined || typeof match.group === 'string') &&
      (claim === undefined || (typeof claim.name === 'string' && typeof claim.value === 'string'));
    if (!valid)
      return problems.push(`${where}: match.user and match.group are strings, match.claim is {name, value}`);
    if (match.user === undefined && match.group === undefined && claim === undefined)
      return problems.push(`${where}: match names no user, group or claim (a rule must not match everyone)`);
    const addGroups = rule.addGroups;
    if (
      addGroups !== undefined &&
      (!Array.isArray(addGroups) || addGroups.some((g) => typeof g !== 'string' || !g))
    )
      return problems.push(`${where}: addGroups must be a list of group names`);
    const sa = rule.serviceAccount;
    if (
      sa !== undefined &&
      (typeof sa !== 'string' || !/^[a-z0-9][-a-z0-9.]*\/[a-z0-9][-a-z0-9.]*$/.test(sa))
    )
      return problems.push(`${where}: serviceAccount must be namespace/name`);
    const mode = rule.serviceAccountMode;
    if (mode !== undefined && mode !== 'impersonate' && mode !== 'token-request')
      return problems.push(
        `${where}: serviceAccountMode ${JSON.stringify(mode)} is not supported (impersonate or token-request)`,
      );
    if (mode !== undefined && sa === undefined)
      return problems.push(`${where}: serviceAccountMode needs a serviceAccount`);
    if (addGroups === undefined && sa === undefined)
      return problems.push(`${where}: a rule must add groups or name a service account`);
    rules.push({
      match: {
        user: match.user as string | undefined,
        group: match.group as string | undefined,
        claim: claim ? { name: claim.name as string, value: claim.value as string } : undefined,
      },
      addGroups: addGroups as string[] | undefined,
      serviceAccount: sa,
      serviceAccountMode: mode,
    });
  });
  if (problems.length > 0) throw new MappingRuleError(problems.join('\n'));
  return rules;
}

/** Every condition of the rule holds for the caller (absent conditions hold). */
function ruleMatches(rule: MappingRule, caller: AuthenticatedCaller): boolean {
  const { user, group, claim } = rule.match;
  if (user !== undefined && user !== caller.name) return false;
  if (group !== undefined && !caller.groups.includes(group)) return false;
  if (claim !== undefined) {
    const value = caller.claims?.[claim.name];
    const values = Array.isArray(value) ? value : [value];
    if (
      !values.some(
        (v) =>
          (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') &&
          String(v) === claim.value,
      )
    )
      return false;
  }
  return true;
}

export class IdentityMapper {
  constructor(private readonly rules: IdentityMappingRules = {}) {}

  /**
   * The caller's Kubernetes identity, or a refusal. An identity the impersonation headers
   * cannot carry faithfully (control characters, leading/trailing whitespace — an IdP may put
   * anything in a claim) is refused here, as a 403, rather than found out by the header writer
   * in the middle of a request: the same rule, checked once, before anything is forwarded.
   */
  map(caller: AuthenticatedCaller): MappingResult {
    const result = this.mapUnchecked(caller);
    if (!result.ok) return result;
    try {
      impersonationHeaders(result.identity);
    } catch (err) {
      if (!(err instanceof ImpersonationError)) throw err;
      return { ok: false, message: `the identity cannot be passed to Kubernetes: ${err.message}` };
    }
    return result;
  }

  private mapUnchecked(caller: AuthenticatedCaller): MappingResult {
    const rule = this.rules.serviceAccounts?.find(
      (r) =>
        (r.user !== undefined && r.user === caller.name) ||
        (r.group !== undefined && caller.groups.includes(r.group)),
    );
    if (rule) return this.mapToServiceAccount(caller, rule.serviceAccount);
    const matching = (this.rules.rules ?? []).filter((r) => ruleMatches(r, caller));
    const toServiceAccount = matching.find((r) => r.serviceAccount !== undefined);
    if (toServiceAccount)
      return this.mapToServiceAccount(
        caller,
        toServiceAccount.serviceAccount!,
        toServiceAccount.serviceAccountMode ?? 'impersonate',
      );
    // A reserved group a rule matches on explicitly is consumed by that rule, not forwarded.
    const consumed = new Set(matching.map((r) => r.match.group).filter((g): g is string => g !== undefined));
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
      if (consumed.has(group) && group.startsWith(RESERVED_PREFIX)) continue;
      const mapped = `${this.rules.groupsPrefix ?? ''}${group}`;
      if (mapped.startsWith(RESERVED_PREFIX)) {
        return {
          ok: false,
          message: `the group "${mapped}" is reserved for Kubernetes itself and no mapping rule allows it`,
        };
      }
      if (!groups.includes(mapped)) groups.push(mapped);
    }
    // Groups an operator's rule adds are taken as written (no prefix, reserved names allowed):
    // config, not the identity provider, speaks here.
    for (const rule of matching) {
      for (const group of rule.addGroups ?? []) if (!groups.includes(group)) groups.push(group);
    }
    return { ok: true, identity: { username, uid: caller.uid, groups, extra: extraFor(caller) } };
  }

  /** An explicit rule is the one way to a `system:` name: the service account's own identity. */
  private mapToServiceAccount(
    caller: AuthenticatedCaller,
    serviceAccount: string,
    mode: ServiceAccountMode = 'impersonate',
  ): MappingResult {
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
        ...(mode === 'token-request' ? { tokenRequest: { namespace, name } } : {}),
      },
    };
  }
}

function extraFor(caller: AuthenticatedCaller): Record<string, string[]> {
  const extra: Record<string, string[]> = { 'kgw.io/auth-method': [caller.method] };
  if (caller.tokenId) extra['kgw.io/token-id'] = [caller.tokenId];
  return extra;
}
