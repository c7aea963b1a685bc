// RBAC rules as a table, and the ranking "Why can't I?" uses to show the closest ones.
import type { AccessQuestion, ResourceRule } from '../api';

export function RulesTable({ rules, caption }: { rules: ResourceRule[]; caption?: string }) {
  if (rules.length === 0) return <p className="empty">No rules here: you may do nothing in this namespace.</p>;
  return (
    <div className="table-wrap">
      <table>
        {caption && <caption>{caption}</caption>}
        <thead>
          <tr>
            <th scope="col">Verbs</th>
            <th scope="col">Resources</th>
            <th scope="col">API groups</th>
            <th scope="col">Names</th>
          </tr>
        </thead>
        <tbody>
          {rules.map((r, i) => (
            <tr key={i}>
              <td>{r.verbs.join(', ')}</td>
              <td>{(r.resources ?? []).join(', ') || '—'}</td>
              <td>{(r.apiGroups ?? []).map((g) => (g === '' ? 'core' : g)).join(', ') || '—'}</td>
              <td>{(r.resourceNames ?? []).join(', ') || 'any'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
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
