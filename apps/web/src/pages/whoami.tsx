// Who am I: the OIDC identity, the Kubernetes identity the gateway maps it to, and per namespace
// the rules the API server reports (SelfSubjectRulesReview, asked by the gateway as the user).
import { useEffect, useState, type FormEvent } from 'react';
import { api, rulesIn, type Me, type NamespaceAccess } from '../api';
import { ErrorNotice, Listing, PageTitle, Row } from '../components';
import { RulesTable } from './rules';

export function WhoAmIPage({ me }: { me: Me }) {
  const [access, setAccess] = useState<NamespaceAccess[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [extra, setExtra] = useState('');
  useEffect(() => {
    const abort = new AbortController();
    api<Me>('/kgw/v1/me', { signal: abort.signal })
      .then((full) => setAccess(full.access))
      .catch((e: unknown) => !abort.signal.aborted && setError(e));
    return () => abort.abort();
  }, []);

  const addNamespace = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    const ns = extra.trim();
    if (!ns) return;
    try {
      const rules = await rulesIn(ns);
      setAccess((a) => [rules, ...(a ?? []).filter((x) => x.namespace !== ns)]);
      setExtra('');
    } catch (err) {
      setError(err);
    }
  };

  const k = me.kubernetes;
  return (
    <>
      <PageTitle title="Who am I">Who am I</PageTitle>
      <div className="cards">
        <section className="card" aria-labelledby="oidc-h">
          <h2 id="oidc-h">Signed in as</h2>
          <dl>
            <Row term="User" testId="oidc-user">{me.user.name}</Row>
            <Row term="Groups" testId="oidc-groups">
              {me.user.groups.length ? me.user.groups.join(', ') : <em>none</em>}
            </Row>
            <Row term="Signed in with">
              {me.user.method === 'session' ? 'browser session (OpenID Connect)' : me.user.method}
            </Row>
            {me.user.issuer && <Row term="Issuer">{me.user.issuer}</Row>}
            {Object.entries(me.user.claims).map(([name, value]) => (
              <Row key={name} term={name}>
                {String(value)}
              </Row>
            ))}
            <Row term="Gateway admin">{me.admin ? 'yes (sees everyone’s audit records)' : 'no'}</Row>
          </dl>
        </section>
        <section className="card" aria-labelledby="kube-h">
          <h2 id="kube-h">In Kubernetes</h2>
          <dl>
            <Row term="User" testId="kube-user">
              <code>{k.username}</code>
            </Row>
            <Row term="Groups" testId="kube-groups">
              {k.groups.map((g) => (
                <code key={g} className="chip">
                  {g}
                </code>
              ))}
            </Row>
            <Row term="Service account" testId="kube-sa">
              {k.serviceAccount ? <code>{k.serviceAccount}</code> : <em>none (impersonated user)</em>}
            </Row>
            {Object.entries(k.extra).map(([name, values]) => (
              <Row key={name} term={name}>
                {values.join(', ')}
              </Row>
            ))}
          </dl>
        </section>
      </div>

      <section aria-labelledby="rules-h">
        <h2 id="rules-h">What you may do, per namespace</h2>
        <p className="muted">
          The API server's own answer (SelfSubjectRulesReview) for your Kubernetes identity. Cluster-wide rules
          show up in every namespace.
        </p>
        <form className="inline" onSubmit={(e) => void addNamespace(e)}>
          <label htmlFor="ns-extra">Show another namespace</label>
          <input id="ns-extra" value={extra} onChange={(e) => setExtra(e.target.value)} placeholder="team-a" />
          <button type="submit">Show rules</button>
        </form>
        <Listing what="your rules" items={access} error={error} empty="No namespace to show: type one above.">
          {(list) =>
            list.map((ns) => (
              <details
                key={ns.namespace}
                open={list.length <= 3 || ns.namespace === 'default'}
                className="ns-rules"
                data-namespace={ns.namespace}
              >
                <summary>
                  Namespace <strong>{ns.namespace}</strong>
                  {ns.resourceRules && ` — ${ns.resourceRules.length} rule${ns.resourceRules.length === 1 ? '' : 's'}`}
                  {ns.incomplete && ' (incomplete)'}
                </summary>
                {ns.error ? (
                  <ErrorNotice error={new Error(ns.error)} />
                ) : (
                  <RulesTable rules={ns.resourceRules ?? []} label={`Your rules in ${ns.namespace}`} />
                )}
              </details>
            ))
          }
        </Listing>
      </section>
    </>
  );
}
