// Cluster: namespaces → pods, deployments, services, with status, kept current by watches
// through the gateway (not polling). Each list that RBAC refuses says which permission is missing.
import { useState, type FormEvent } from 'react';
import { age, type KubeObject, type Me } from '../api';
import { DataTable, Listing, PageTitle } from '../components';
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
          <Listing
            what="namespaces"
            items={namespaces.items}
            loading={namespaces.loading}
            // Once listed, a dropped watch keeps the names on screen while it reconnects.
            error={namespaces.items.length === 0 ? namespaces.error : null}
            denied={{ verb: 'list', resource: 'namespaces' }}
            empty="No namespaces to list."
          >
            {(items) => (
              <ul>
                {items.map((ns) => (
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
            )}
          </Listing>
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
      <Listing
        what="pods"
        items={pods.items}
        loading={pods.loading}
        error={pods.error}
        denied={{ verb: 'list', resource: 'pods', namespace }}
        empty={`No pods in ${namespace}. Create one with kubectl, or pick another namespace.`}
      >
        {(items) => (
          <DataTable
            label={`Pods in ${namespace}`}
            testId="pods"
            rows={items}
            rowKey={(pod) => pod.metadata.uid ?? pod.metadata.name}
            rowAttributes={(pod) => ({ 'data-pod': pod.metadata.name })}
            columns={[
              {
                header: 'Name',
                cell: (pod) => (
                  <Link href={uiPath(`cluster/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod.metadata.name)}`)}>
                    {pod.metadata.name}
                  </Link>
                ),
              },
              {
                header: 'Status',
                cell: (pod) => {
                  const phase = podStatus(pod).phase;
                  return <span className={`phase phase-${phase.toLowerCase()}`}>{phase}</span>;
                },
              },
              { header: 'Ready', cell: (pod) => podStatus(pod).ready },
              { header: 'Restarts', cell: (pod) => podStatus(pod).restarts },
              { header: 'Age', cell: (pod) => age(pod.metadata.creationTimestamp) },
            ]}
          />
        )}
      </Listing>
    </section>
  );
}

function Deployments({ namespace }: { namespace: string }) {
  const list = useWatchedList(`/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments`);
  const status = (d: KubeObject) =>
    (d.status ?? {}) as { readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number };
  return (
    <section aria-labelledby="deploy-h">
      <h2 id="deploy-h">Deployments</h2>
      <Listing
        what="deployments"
        items={list.items}
        loading={list.loading}
        error={list.error}
        denied={{ verb: 'list', resource: 'deployments', group: 'apps', namespace }}
        empty={`No deployments in ${namespace}.`}
      >
        {(items) => (
          <DataTable
            label={`Deployments in ${namespace}`}
            testId="deployments"
            rows={items}
            rowKey={(d) => d.metadata.uid ?? d.metadata.name}
            columns={[
              { header: 'Name', cell: (d) => d.metadata.name },
              {
                header: 'Ready',
                cell: (d) => `${status(d).readyReplicas ?? 0}/${(d.spec?.replicas as number | undefined) ?? 1}`,
              },
              { header: 'Up to date', cell: (d) => status(d).updatedReplicas ?? 0 },
              { header: 'Available', cell: (d) => status(d).availableReplicas ?? 0 },
              { header: 'Age', cell: (d) => age(d.metadata.creationTimestamp) },
            ]}
          />
        )}
      </Listing>
    </section>
  );
}

interface ServiceSpec {
  type?: string;
  clusterIP?: string;
  ports?: Array<{ port: number; name?: string; protocol?: string }>;
}

function Services({ namespace }: { namespace: string }) {
  const list = useWatchedList(`/api/v1/namespaces/${encodeURIComponent(namespace)}/services`);
  const spec = (svc: KubeObject) => (svc.spec ?? {}) as ServiceSpec;
  return (
    <section aria-labelledby="svc-h">
      <h2 id="svc-h">Services</h2>
      <Listing
        what="services"
        items={list.items}
        loading={list.loading}
        error={list.error}
        denied={{ verb: 'list', resource: 'services', namespace }}
        empty={`No services in ${namespace}.`}
      >
        {(items) => (
          <DataTable
            label={`Services in ${namespace}`}
            testId="services"
            rows={items}
            rowKey={(svc) => svc.metadata.uid ?? svc.metadata.name}
            columns={[
              { header: 'Name', cell: (svc) => svc.metadata.name },
              { header: 'Type', cell: (svc) => spec(svc).type ?? 'ClusterIP' },
              { header: 'Cluster IP', cell: (svc) => spec(svc).clusterIP ?? '' },
              {
                header: 'Ports',
                cell: (svc) => (spec(svc).ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).join(', '),
              },
              {
                header: 'Open',
                cell: (svc) =>
                  (spec(svc).ports ?? []).map((p) => (
                    <a
                      key={p.port}
                      className="proxy-link"
                      href={`/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(svc.metadata.name)}:${p.name ?? p.port}/proxy/`}
                      target="_blank"
                      rel="noopener noreferrer"
                    >
                      proxy :{p.port}
                      <span className="visually-hidden"> (service {svc.metadata.name}, opens in a new tab)</span>
                    </a>
                  )),
              },
            ]}
          />
        )}
      </Listing>
    </section>
  );
}
