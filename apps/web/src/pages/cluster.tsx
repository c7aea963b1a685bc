// Cluster: namespaces → pods, deployments, services, with status, kept current by watches
// through the gateway (not polling). Each list that RBAC refuses says which permission is missing.
import { useState, type FormEvent } from 'react';
import { age, type KubeObject, type Me } from '../api';
import { Empty, ErrorNotice, Loading, PageTitle } from '../components';
import { Link, navigate, uiPath } from '../router';
import { useWatchedList } from '../watch';

export function ClusterPage({ namespace, me }: { namespace?: string; me: Me }) {
  const namespaces = useWatchedList('/api/v1/namespaces');
  const current = namespace || me.kubernetes.serviceAccount?.split(':')[2] || 'default';
  const [typed, setTyped] = useState('');
  const go = (e: FormEvent): void => {
    e.preventDefault();
    if (typed.trim()) navigate(uiPath(`cluster/${encodeURIComponent(typed.trim())}`));
  };
  return (
    <>
      <PageTitle title={`Cluster · ${current}`}>
        Cluster <span className="muted">/ {current}</span>
      </PageTitle>
      <div className="cluster">
        <nav aria-label="Namespaces" className="namespaces">
          <h2>Namespaces</h2>
          {namespaces.loading && <Loading what="namespaces" />}
          {namespaces.error != null && namespaces.items.length === 0 && (
            <ErrorNotice error={namespaces.error} fallback={{ verb: 'list', resource: 'namespaces' }} />
          )}
          <ul>
            {namespaces.items.map((ns) => (
              <li key={ns.metadata.name}>
                <Link
                  href={uiPath(`cluster/${encodeURIComponent(ns.metadata.name)}`)}
                  aria-current={ns.metadata.name === current ? 'page' : undefined}
                >
                  {ns.metadata.name}
                </Link>
              </li>
            ))}
          </ul>
          <form onSubmit={go} className="stack">
            <label htmlFor="ns-go">Open a namespace by name</label>
            <div className="inline">
              <input id="ns-go" value={typed} onChange={(e) => setTyped(e.target.value)} placeholder="team-a" />
              <button type="submit">Open</button>
            </div>
          </form>
        </nav>
        <div className="resources">
          <Pods namespace={current} />
          <Deployments namespace={current} />
          <Services namespace={current} />
        </div>
      </div>
    </>
  );
}

function LiveBadge({ live }: { live: boolean }) {
  return (
    <p className="live" aria-live="polite">
      <span className={live ? 'dot on' : 'dot'} aria-hidden="true" /> {live ? 'Live: updates as the cluster changes' : 'Connecting…'}
    </p>
  );
}

function podStatus(pod: KubeObject): { phase: string; ready: string; restarts: number } {
  const status = (pod.status ?? {}) as {
    phase?: string;
    containerStatuses?: Array<{ ready?: boolean; restartCount?: number; state?: Record<string, { reason?: string }> }>;
  };
  const containers = status.containerStatuses ?? [];
  const waiting = containers.map((c) => c.state?.waiting?.reason).find(Boolean);
  const phase = pod.metadata.deletionTimestamp ? 'Terminating' : (waiting ?? status.phase ?? 'Unknown');
  const total = ((pod.spec?.containers as unknown[] | undefined) ?? []).length || containers.length;
  return {
    phase,
    ready: `${containers.filter((c) => c.ready).length}/${total}`,
    restarts: containers.reduce((n, c) => n + (c.restartCount ?? 0), 0),
  };
}

function Pods({ namespace }: { namespace: string }) {
  const pods = useWatchedList(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`);
  return (
    <section aria-labelledby="pods-h">
      <h2 id="pods-h">Pods</h2>
      {pods.error == null && <LiveBadge live={pods.live} />}
      {pods.loading && <Loading what="pods" />}
      {pods.error != null && <ErrorNotice error={pods.error} fallback={{ verb: 'list', resource: 'pods', namespace }} />}
      {!pods.loading && pods.error == null && pods.items.length === 0 && (
        <Empty>No pods in {namespace}. Create one with kubectl, or pick another namespace.</Empty>
      )}
      {pods.items.length > 0 && (
        <div className="table-wrap">
          <table data-testid="pods">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Ready</th>
                <th scope="col">Restarts</th>
                <th scope="col">Age</th>
              </tr>
            </thead>
            <tbody>
              {pods.items.map((pod) => {
                const s = podStatus(pod);
                return (
                  <tr key={pod.metadata.uid ?? pod.metadata.name} data-pod={pod.metadata.name}>
                    <td>
                      <Link href={uiPath(`cluster/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod.metadata.name)}`)}>
                        {pod.metadata.name}
                      </Link>
                    </td>
                    <td>
                      <span className={`phase phase-${s.phase.toLowerCase()}`}>{s.phase}</span>
                    </td>
                    <td>{s.ready}</td>
                    <td>{s.restarts}</td>
                    <td>{age(pod.metadata.creationTimestamp)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Deployments({ namespace }: { namespace: string }) {
  const list = useWatchedList(`/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments`);
  return (
    <section aria-labelledby="deploy-h">
      <h2 id="deploy-h">Deployments</h2>
      {list.loading && <Loading what="deployments" />}
      {list.error != null && (
        <ErrorNotice error={list.error} fallback={{ verb: 'list', resource: 'deployments', group: 'apps', namespace }} />
      )}
      {!list.loading && list.error == null && list.items.length === 0 && <Empty>No deployments in {namespace}.</Empty>}
      {list.items.length > 0 && (
        <div className="table-wrap">
          <table data-testid="deployments">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Ready</th>
                <th scope="col">Up to date</th>
                <th scope="col">Available</th>
                <th scope="col">Age</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((d) => {
                const st = (d.status ?? {}) as { readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number };
                const want = (d.spec?.replicas as number | undefined) ?? 1;
                return (
                  <tr key={d.metadata.uid ?? d.metadata.name}>
                    <td>{d.metadata.name}</td>
                    <td>
                      {st.readyReplicas ?? 0}/{want}
                    </td>
                    <td>{st.updatedReplicas ?? 0}</td>
                    <td>{st.availableReplicas ?? 0}</td>
                    <td>{age(d.metadata.creationTimestamp)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Services({ namespace }: { namespace: string }) {
  const list = useWatchedList(`/api/v1/namespaces/${encodeURIComponent(namespace)}/services`);
  return (
    <section aria-labelledby="svc-h">
      <h2 id="svc-h">Services</h2>
      {list.loading && <Loading what="services" />}
      {list.error != null && <ErrorNotice error={list.error} fallback={{ verb: 'list', resource: 'services', namespace }} />}
      {!list.loading && list.error == null && list.items.length === 0 && <Empty>No services in {namespace}.</Empty>}
      {list.items.length > 0 && (
        <div className="table-wrap">
          <table data-testid="services">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Type</th>
                <th scope="col">Cluster IP</th>
                <th scope="col">Ports</th>
                <th scope="col">Open</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((svc) => {
                const spec = (svc.spec ?? {}) as { type?: string; clusterIP?: string; ports?: Array<{ port: number; name?: string; protocol?: string }> };
                const ports = spec.ports ?? [];
                return (
                  <tr key={svc.metadata.uid ?? svc.metadata.name}>
                    <td>{svc.metadata.name}</td>
                    <td>{spec.type ?? 'ClusterIP'}</td>
                    <td>{spec.clusterIP ?? ''}</td>
                    <td>{ports.map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).join(', ')}</td>
                    <td>
                      {ports.map((p) => (
                        <a
                          key={p.port}
                          href={`/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(svc.metadata.name)}:${p.name ?? p.port}/proxy/`}
                          target="_blank"
                          rel="noopener noreferrer"
                        >
                          proxy :{p.port}
                          <span className="visually-hidden"> (service {svc.metadata.name}, opens in a new tab)</span>
                        </a>
                      ))}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
