// RBAC authorizer: guards every request the simulator serves. It trusts only the stored Role,
// ClusterRole, RoleBinding and ClusterRoleBinding objects and the authenticated user (after
// impersonation); it refuses anything no rule allows (there is no deny rule), and lets members of
// `system:masters` through, as the API server's superuser check does. Mirrors
// pkg/apis/rbac/v1/evaluation_helpers.go and plugin/pkg/auth/authorizer/rbac.
import type { KubeObject, SimUserInfo } from './contract';
import type { ObjectStore } from './store';

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Subject {
  kind: string;
  name: string;
  namespace?: string;
  apiGroup?: string;
}

export interface RoleRef {
  apiGroup?: string;
  kind: string;
  name: string;
}

export interface AuthorizationAttributes {
  user: SimUserInfo;
  verb: string;
  isResourceRequest: boolean;
  /** For non-resource requests. */
  path?: string;
  namespace?: string;
  apiGroup?: string;
  apiVersion?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

export interface Decision {
  allowed: boolean;
  reason: string;
}

export const SUPERUSER_GROUP = 'system:masters';

export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.some((v) => v === '*' || v === verb);
}

export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return (rule.apiGroups ?? []).some((g) => g === '*' || g === group);
}

export function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    // `*/scale` matches any resource's scale subresource; `pods/*` is a literal and matches nothing more.
    if (subresource && r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource))
      return true;
  }
  return false;
}

export function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(name);
}

export function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === '*' || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.slice(0, -1))) return true;
  }
  return false;
}

export function ruleAllows(attrs: AuthorizationAttributes, rule: PolicyRule): boolean {
  if (attrs.isResourceRequest) {
    const combined = attrs.subresource
      ? `${attrs.resource ?? ''}/${attrs.subresource}`
      : (attrs.resource ?? '');
    return (
      verbMatches(rule, attrs.verb) &&
      apiGroupMatches(rule, attrs.apiGroup ?? '') &&
      resourceMatches(rule, combined, attrs.subresource ?? '') &&
      resourceNameMatches(rule, attrs.name ?? '')
    );
  }
  return verbMatches(rule, attrs.verb) && nonResourceURLMatches(rule, attrs.path ?? '');
}

export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

export function subjectMatches(subject: Subject, user: SimUserInfo, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return user.username === subject.name;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount': {
      const ns = subject.namespace || bindingNamespace;
      return Boolean(ns) && user.username === serviceAccountUsername(ns, subject.name);
    }
    default:
      return false;
  }
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `ServiceAccount "${s.namespace || bindingNamespace}/${s.name}"`;
  return `${s.kind} "${s.name}"`;
}

type RuleVisitor = (source: string, rule: PolicyRule | undefined, error: string | undefined) => boolean;

export class RbacAuthorizer {
  constructor(private readonly store: ObjectStore) {}

  private rulesOfRef(ref: RoleRef, bindingNamespace: string): { rules?: PolicyRule[]; error?: string } {
    if (ref.kind === 'ClusterRole') {
      const role = this.store.peek('clusterroles', undefined, ref.name);
      if (!role) return { error: `clusterrole.rbac.authorization.k8s.io "${ref.name}" not found` };
      return { rules: (role.rules as PolicyRule[] | undefined) ?? [] };
    }
    if (ref.kind === 'Role') {
      const role = this.store.peek('roles', bindingNamespace, ref.name);
      if (!role) return { error: `role.rbac.authorization.k8s.io "${ref.name}" not found` };
      return { rules: (role.rules as PolicyRule[] | undefined) ?? [] };
    }
    return { error: `unsupported role reference kind: "${ref.kind}"` };
  }

  /** Visits every rule granted to the user in the namespace; stops when the visitor returns false. */
  private visitRules(user: SimUserInfo, namespace: string, visit: RuleVisitor): void {
    const visitBinding = (binding: KubeObject, kind: string): boolean => {
      const ns = binding.metadata.namespace ?? '';
      const subjects = (binding.subjects as Subject[] | undefined) ?? [];
      const subject = subjects.find((s) => subjectMatches(s, user, ns));
      if (!subject) return true;
      const ref = binding.roleRef as RoleRef;
      const { rules, error } = this.rulesOfRef(ref, ns);
      if (error) return visit('', undefined, error);
      const name = kind === 'RoleBinding' ? `${ns}/${binding.metadata.name}` : binding.metadata.name;
      const source = `${kind} "${name}" of ${ref.kind} "${ref.name}" to ${describeSubject(subject, ns)}`;
      for (const rule of rules ?? []) if (!visit(source, rule, undefined)) return false;
      return true;
    };
    for (const b of this.store.peekList('clusterrolebindings'))
      if (!visitBinding(b, 'ClusterRoleBinding')) return;
    if (namespace)
      for (const b of this.store.peekList('rolebindings', namespace))
        if (!visitBinding(b, 'RoleBinding')) return;
  }

  authorize(attrs: AuthorizationAttributes): Decision {
    if (attrs.user.groups.includes(SUPERUSER_GROUP)) return { allowed: true, reason: '' };
    let allowedBy = '';
    const errors: string[] = [];
    this.visitRules(
      attrs.user,
      attrs.isResourceRequest ? (attrs.namespace ?? '') : '',
      (source, rule, error) => {
        if (error) {
          errors.push(error);
          return true;
        }
        if (rule && ruleAllows(attrs, rule)) {
          allowedBy = source;
          return false;
        }
        return true;
      },
    );
    if (allowedBy) return { allowed: true, reason: `RBAC: allowed by ${allowedBy}` };
    // The rbac authorizer names a reason only when something it needed could not be read.
    const reason =
      errors.length === 0 ? '' : errors.length === 1 ? `RBAC: ${errors[0]}` : `RBAC: [${errors.join(', ')}]`;
    return { allowed: false, reason };
  }

  /** What SelfSubjectRulesReview reports: every rule that applies in the namespace. */
  rulesFor(
    user: SimUserInfo,
    namespace: string,
  ): { resourceRules: PolicyRule[]; nonResourceRules: PolicyRule[]; errors: string[] } {
    const resourceRules: PolicyRule[] = [];
    const nonResourceRules: PolicyRule[] = [];
    const errors: string[] = [];
    this.visitRules(user, namespace, (_source, rule, error) => {
      if (error) errors.push(error);
      if (rule) {
        if (rule.nonResourceURLs?.length)
          nonResourceRules.push({ verbs: rule.verbs, nonResourceURLs: rule.nonResourceURLs });
        if (rule.resources?.length) {
          const r: PolicyRule = {
            verbs: rule.verbs,
            apiGroups: rule.apiGroups ?? [],
            resources: rule.resources,
          };
          if (rule.resourceNames?.length) r.resourceNames = rule.resourceNames;
          resourceRules.push(r);
        }
      }
      return true;
    });
    return { resourceRules, nonResourceRules, errors };
  }

  /**
   * The rules among `rules` the user does not hold in the namespace (RBAC escalation check):
   * each rule is expanded to single verb/group/resource/name tuples, and each tuple must be allowed.
   */
  missingRules(user: SimUserInfo, namespace: string, rules: PolicyRule[]): PolicyRule[] {
    const missing: PolicyRule[] = [];
    for (const rule of rules) {
      if (rule.nonResourceURLs?.length) {
        for (const verb of rule.verbs)
          for (const url of rule.nonResourceURLs) {
            if (!this.authorize({ user, verb, isResourceRequest: false, path: url }).allowed)
              missing.push({ verbs: [verb], nonResourceURLs: [url] });
          }
        continue;
      }
      const names = rule.resourceNames?.length ? rule.resourceNames : [''];
      for (const verb of rule.verbs)
        for (const group of rule.apiGroups ?? [])
          for (const res of rule.resources ?? [])
            for (const name of names) {
              const [resource, subresource = ''] = res.split('/');
              const ok = this.authorize({
                user,
                verb,
                isResourceRequest: true,
                namespace,
                apiGroup: group,
                resource,
                subresource,
                name,
              }).allowed;
              if (!ok) {
                const m: PolicyRule = { verbs: [verb], apiGroups: [group], resources: [res] };
                if (name) m.resourceNames = [name];
                missing.push(m);
              }
            }
    }
    return missing;
  }
}

/** How the escalation error prints a rule (rbac's CompactString). */
export function compactRule(rule: PolicyRule): string {
  const q = (xs: string[]): string => `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`;
  const parts: string[] = [];
  if (rule.apiGroups?.length) parts.push(`APIGroups:${q(rule.apiGroups)}`);
  if (rule.resources?.length) parts.push(`Resources:${q(rule.resources)}`);
  if (rule.nonResourceURLs?.length) parts.push(`NonResourceURLs:${q(rule.nonResourceURLs)}`);
  if (rule.resourceNames?.length) parts.push(`ResourceNames:${q(rule.resourceNames)}`);
  parts.push(`Verbs:${q(rule.verbs)}`);
  return `{${parts.join(', ')}}`;
}
