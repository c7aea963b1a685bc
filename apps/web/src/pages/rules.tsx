// RBAC rules as a table, and the ranking "Why can't I?" uses to show the closest ones.
import type { AccessQuestion, ResourceRule } from '../api';
import { DataTable, Empty } from '../components';

export function RulesTable({ rules, label }: { rules: ResourceRule[]; label: string }) {
  if (rules.length === 0) return <Empty>No rules here: you may do nothing in this namespace.</Empty>;
  return (
    <DataTable
      label={label}
      rows={rules}
      rowKey={(_r, i) => String(i)}
      columns={[
        { header: 'Verbs', cell: (r) => r.verbs.join(', ') },
        { header: 'Resources', cell: (r) => (r.resources ?? []).join(', ') || '—' },
        { header: 'API groups', cell: (r) => (r.apiGroups ?? []).map((g) => (g === '' ? 'core' : g)).join(', ') || '—' },
        { header: 'Names', cell: (r) => (r.resourceNames ?? []).join(', ') || 'any' },
      ]}
    />
  );
}

const matches = (list: string[] | undefined, value: string): boolean =>
  (list ?? []).some((x) => x === '*' || x === value);

/**
 * The rules nearest to a refused request: same resource first (you may do other things with it),
 * then same verb on other resources, then same API group. At most `limit`.
 */
export function closestRules(rules: ResourceRule[], q: AccessQuestion, limit = 6): ResourceRule[] {
  const resource = q.subresource ? `${q.resource}/${q.subresource}` : q.resource;
  const scored = rules.map((rule) => {
    let score = 0;
    if (matches(rule.resources, resource)) score += 4;
    else if (matches(rule.resources, q.resource)) score += 3;
    if (matches(rule.verbs, q.verb)) score += 2;
    if (matches(rule.apiGroups, q.group ?? '')) score += 1;
    return { rule, score };
  });
  return scored
    .filter((s) => s.score >= 2)
    .sort((a, b) => b.score - a.score)
    .slice(0, limit)
    .map((s) => s.rule);
}
