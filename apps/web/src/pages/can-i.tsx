// Why can't I? Pick a verb, resource and namespace (or arrive here from a forbidden message, or
// paste one): the API server's SelfSubjectAccessReview answer with its reason, and the rules
// you do have that come closest.
import { useEffect, useState, type FormEvent } from 'react';
import {
  accessReview,
  describeAccess,
  parseForbidden,
  rulesIn,
  UI_BASE,
  type AccessQuestion,
  type AccessReviewStatus,
  type ResourceRule,
} from '../api';
import { ErrorNotice, Loading, PageTitle } from '../components';
import { navigate } from '../router';
import { closestRules, RulesTable } from './rules';

const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
const RESOURCES: Array<{ value: string; label: string }> = [
  { value: 'pods', label: 'pods' },
  { value: 'pods/log', label: 'pods/log (logs)' },
  { value: 'pods/exec', label: 'pods/exec (terminal)' },
  { value: 'pods/portforward', label: 'pods/portforward' },
  { value: 'pods/proxy', label: 'pods/proxy' },
  { value: 'services', label: 'services' },
  { value: 'services/proxy', label: 'services/proxy' },
  { value: 'deployments.apps', label: 'deployments (apps)' },
  { value: 'configmaps', label: 'configmaps' },
  { value: 'secrets', label: 'secrets' },
  { value: 'namespaces', label: 'namespaces' },
  { value: 'events', label: 'events' },
  { value: 'rolebindings.rbac.authorization.k8s.io', label: 'rolebindings (rbac)' },
];

/** "deployments.apps/scale" → resource deployments, group apps, subresource scale. */
function splitResource(value: string): Pick<AccessQuestion, 'resource' | 'group' | 'subresource'> {
  const [head, subresource] = value.split('/');
  const dot = head.indexOf('.');
  return {
    resource: dot < 0 ? head : head.slice(0, dot),
    group: dot < 0 ? '' : head.slice(dot + 1),
    subresource: subresource || undefined,
  };
}

function joinResource(q: { resource: string; group?: string; subresource?: string }): string {
  return `${q.resource}${q.group ? `.${q.group}` : ''}${q.subresource ? `/${q.subresource}` : ''}`;
}

function questionOf(query: URLSearchParams): AccessQuestion | null {
  const verb = query.get('verb');
  const resource = query.get('resource');
  if (!verb || !resource) return null;
  return {
    verb,
    resource,
    group: query.get('group') ?? '',
    subresource: query.get('subresource') ?? undefined,
    namespace: query.get('namespace') ?? undefined,
    name: query.get('name') ?? undefined,
  };
}

function urlOf(q: AccessQuestion): string {
  const p = new URLSearchParams({ verb: q.verb, resource: q.resource });
  if (q.group) p.set('group', q.group);
  if (q.subresource) p.set('subresource', q.subresource);
  if (q.namespace) p.set('namespace', q.namespace);
  if (q.name) p.set('name', q.name);
  return `${UI_BASE}can-i?${p.toString()}`;
}

export function CanIPage({ query }: { query: URLSearchParams }) {
  const asked = questionOf(query);
  const [verb, setVerb] = useState(asked?.verb ?? 'delete');
  const [resource, setResource] = useState(asked ? joinResource(asked) : 'pods');
  const [namespace, setNamespace] = useState(asked?.namespace ?? 'default');
  const [name, setName] = useState(asked?.name ?? '');
  const [pasted, setPasted] = useState('');
  const [pasteError, setPasteError] = useState('');

  useEffect(() => {
    if (!asked) return;
    setVerb(asked.verb);
    setResource(joinResource(asked));
    setNamespace(asked.namespace ?? '');
    setName(asked.name ?? '');
    // The form follows the URL (back/forward, links from forbidden messages).
  }, [query.toString()]);

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    navigate(
      urlOf({
        verb: verb.trim(),
        ...splitResource(resource.trim()),
        namespace: namespace.trim() || undefined,
        name: name.trim() || undefined,
      }),
    );
  };
  const fromMessage = (e: FormEvent): void => {
    e.preventDefault();
    const refused = parseForbidden(pasted);
    if (!refused) {
      setPasteError('That does not look like a Kubernetes "forbidden" message (… cannot VERB resource "…" …).');
      return;
    }
    setPasteError('');
    navigate(urlOf(refused));
  };

  return (
    <>
      <PageTitle title="Why can't I?">Why can't I?</PageTitle>
      <p className="muted">
        Ask the API server whether your Kubernetes identity may do something, and why not. It answers with a
        SelfSubjectAccessReview; the gateway asks it as you.
      </p>
      <form className="grid-form" onSubmit={submit} aria-label="Access question">
        <label htmlFor="ci-verb">Verb</label>
        <input id="ci-verb" list="ci-verbs" value={verb} onChange={(e) => setVerb(e.target.value)} required />
        <datalist id="ci-verbs">
          {VERBS.map((v) => (
            <option key={v} value={v} />
          ))}
        </datalist>
        <label htmlFor="ci-resource">Resource</label>
        <input
          id="ci-resource"
          list="ci-resources"
          value={resource}
          onChange={(e) => setResource(e.target.value)}
          required
          aria-describedby="ci-resource-help"
        />
        <datalist id="ci-resources">
          {RESOURCES.map((r) => (
            <option key={r.value} value={r.value}>
              {r.label}
            </option>
          ))}
        </datalist>
        <span id="ci-resource-help" className="help">
          resource[.group][/subresource], e.g. pods, pods/exec, deployments.apps
        </span>
        <label htmlFor="ci-namespace">Namespace</label>
        <input
          id="ci-namespace"
          value={namespace}
          onChange={(e) => setNamespace(e.target.value)}
          placeholder="empty: cluster-wide"
        />
        <label htmlFor="ci-name">Name (optional)</label>
        <input id="ci-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="any" />
        <div className="actions">
          <button type="submit">Check</button>
        </div>
      </form>
      <details className="paste">
        <summary>Or paste a forbidden message</summary>
        <form onSubmit={fromMessage} className="stack">
          <label htmlFor="ci-paste">Error message from kubectl or the API</label>
          <textarea
            id="ci-paste"
            rows={3}
            value={pasted}
            onChange={(e) => setPasted(e.target.value)}
            placeholder={'pods "nginx" is forbidden: User "carol" cannot delete resource "pods" in API group "" in the namespace "default"'}
          />
          {pasteError && (
            <p className="field-error" role="alert">
              {pasteError}
            </p>
          )}
          <div>
            <button type="submit">Explain</button>
          </div>
        </form>
      </details>
      {asked && <Answer key={urlOf(asked)} question={asked} />}
    </>
  );
}

function Answer({ question }: { question: AccessQuestion }) {
  const [status, setStatus] = useState<AccessReviewStatus | null>(null);
  const [rules, setRules] = useState<ResourceRule[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const abort = new AbortController();
    Promise.all([
      accessReview(question, abort.signal),
      rulesIn(question.namespace ?? 'default', abort.signal).catch(() => null),
    ])
      .then(([s, r]) => {
        setStatus(s);
        setRules(r?.resourceRules ?? null);
      })
      .catch((e: unknown) => !abort.signal.aborted && setError(e));
    return () => abort.abort();
  }, [question]);

  if (error != null) return <ErrorNotice error={error} />;
  if (!status) return <Loading what="the API server's answer" />;
  const what = describeAccess(question);
  const closest = rules ? closestRules(rules, question) : [];
  return (
    <section aria-labelledby="answer-h" className={`answer ${status.allowed ? 'allowed' : 'denied'}`} data-testid="can-i-answer">
      <h2 id="answer-h">
        {status.allowed ? 'Yes' : 'No'} — you {status.allowed ? 'may' : 'may not'} <code>{what}</code>
      </h2>
      <p data-testid="can-i-reason">
        <strong>Reason:</strong>{' '}
        {status.reason ||
          (status.allowed
            ? 'allowed (the API server gave no reason).'
            : 'no RBAC rule grants it: nothing binds a role with this verb on this resource to your user or groups.')}
        {status.evaluationError && <> (evaluation error: {status.evaluationError})</>}
      </p>
      {!status.allowed && (
        <p>
          To get it, a cluster admin can bind a Role or ClusterRole that allows <code>{what}</code> to your user or
          one of your groups.
        </p>
      )}
      {rules && (
        <>
          <h3>The closest rules you do have{question.namespace ? ` in ${question.namespace}` : ''}</h3>
          {closest.length > 0 ? (
            <RulesTable rules={closest} label="The closest rules you have" />
          ) : (
            <p className="empty">None of your rules is about this resource or this verb.</p>
          )}
        </>
      )}
    </section>
  );
}
