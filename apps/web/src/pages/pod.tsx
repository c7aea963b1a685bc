// A pod: containers, status and events (live), its logs (follow, container picker, download),
// a terminal when RBAC allows `create pods/exec` (and the reason when it does not), and links
// that open its proxy paths in a new tab. Each tab is its own URL.
import { lazy, Suspense, useEffect, useRef, useState } from 'react';
import { accessReview, age, streamLines, type AccessReviewStatus, type KubeObject, type Me } from '../api';
import { DataTable, ErrorNotice, Forbidden, Listing, Loading, PageTitle, Row } from '../components';
import { Link, navigate, uiPath } from '../router';
import { useWatchedList } from '../watch';

// xterm.js is most of the bundle: only a terminal tab loads it.
const Terminal = lazy(() => import('./terminal').then((m) => ({ default: m.Terminal })));

interface ContainerSpec {
  name: string;
  image?: string;
  ports?: Array<{ containerPort: number; name?: string; protocol?: string }>;
}
interface ContainerStatus {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: Record<string, { reason?: string; startedAt?: string; message?: string }>;
}

const MAX_LOG_LINES = 5000;

export function PodPage(props: { namespace: string; name: string; tab: string; query: URLSearchParams; me: Me }) {
  const { namespace, name, tab, query } = props;
  const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`;
  const watched = useWatchedList(`${base}?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`);
  const pod = watched.items[0];
  const containers = ((pod?.spec?.containers as ContainerSpec[] | undefined) ?? []).filter(Boolean);
  const container = query.get('container') ?? containers[0]?.name ?? '';
  const here = uiPath(`cluster/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`);
  const tabs = [
    { id: 'overview', label: 'Overview', href: here },
    { id: 'logs', label: 'Logs', href: `${here}/logs${container ? `?container=${encodeURIComponent(container)}` : ''}` },
    { id: 'terminal', label: 'Terminal', href: `${here}/terminal${container ? `?container=${encodeURIComponent(container)}` : ''}` },
  ];
  const pickContainer = (c: string): void => navigate(`${here}/${tab === 'overview' ? 'logs' : tab}?container=${encodeURIComponent(c)}`, true);

  return (
    <>
      <p className="crumbs">
        <Link href={uiPath(`cluster/${encodeURIComponent(namespace)}`)}>{namespace}</Link> / pods /
      </p>
      <PageTitle title={`${name} · ${tab}`}>{name}</PageTitle>
      <nav aria-label="Pod views" className="tabs">
        {tabs.map((t) => (
          <Link key={t.id} href={t.href} aria-current={tab === t.id ? 'page' : undefined}>
            {t.label}
          </Link>
        ))}
      </nav>
      <Listing
        what="the pod"
        items={watched.items}
        loading={watched.loading}
        error={watched.error}
        denied={{ verb: 'get', resource: 'pods', namespace, name }}
        empty={
          <>
            There is no pod {name} in {namespace} (any more).{' '}
            <Link href={uiPath(`cluster/${encodeURIComponent(namespace)}`)}>Back to the namespace</Link>.
          </>
        }
      />
      {pod && containers.length > 1 && tab !== 'overview' && (
        <p className="inline">
          <label htmlFor="container-pick">Container</label>
          <select id="container-pick" value={container} onChange={(e) => pickContainer(e.target.value)}>
            {containers.map((c) => (
              <option key={c.name}>{c.name}</option>
            ))}
          </select>
        </p>
      )}
      {pod && tab === 'overview' && <Overview pod={pod} containers={containers} />}
      {pod && tab === 'logs' && <Logs key={container} namespace={namespace} name={name} container={container} />}
      {pod && tab === 'terminal' && <TerminalTab key={container} namespace={namespace} name={name} container={container} />}
    </>
  );
}

function Overview({ pod, containers }: { pod: KubeObject; containers: ContainerSpec[] }) {
  const ns = pod.metadata.namespace ?? 'default';
  const name = pod.metadata.name;
  const status = (pod.status ?? {}) as { phase?: string; podIP?: string; hostIP?: string; startTime?: string; containerStatuses?: ContainerStatus[] };
  const statuses = new Map((status.containerStatuses ?? []).map((c) => [c.name, c]));
  const proxyBase = `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`;
  const events = useWatchedList(
    `/api/v1/namespaces/${encodeURIComponent(ns)}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`,
  );
  return (
    <>
      <section aria-labelledby="status-h" className="card">
        <h2 id="status-h">Status</h2>
        <dl>
          <Row term="Phase" testId="pod-phase">{status.phase ?? 'Unknown'}</Row>
          <Row term="Pod IP">{status.podIP ?? '—'}</Row>
          <Row term="Node">{(pod.spec?.nodeName as string | undefined) ?? '—'}</Row>
          <Row term="Age">{age(pod.metadata.creationTimestamp)}</Row>
          <Row term="Labels">
            {Object.entries(pod.metadata.labels ?? {}).map(([k, v]) => (
              <code key={k} className="chip">
                {k}={v}
              </code>
            ))}
          </Row>
        </dl>
      </section>
      <section aria-labelledby="containers-h">
        <h2 id="containers-h">Containers</h2>
        <DataTable
          label="Containers"
          rows={containers}
          rowKey={(c) => c.name}
          columns={[
            { header: 'Name', cell: (c) => c.name },
            { header: 'Image', cell: (c) => <code>{c.image}</code> },
            {
              header: 'State',
              cell: (c) => {
                const st = statuses.get(c.name);
                const state = st?.state ? Object.entries(st.state)[0] : undefined;
                return `${state ? `${state[0]}${state[1].reason ? ` (${state[1].reason})` : ''}` : '—'}${st?.ready ? ', ready' : ''}`;
              },
            },
            { header: 'Restarts', cell: (c) => statuses.get(c.name)?.restartCount ?? 0 },
            {
              header: 'Ports',
              cell: (c) =>
                (c.ports ?? []).map((p, i) => (
                  <a
                    key={p.containerPort}
                    className="proxy-link"
                    // The first port is the pod's default; the others are named explicitly.
                    href={i === 0 ? `${proxyBase}/proxy/` : `${proxyBase}:${p.containerPort}/proxy/`}
                    target="_blank"
                    rel="noopener noreferrer"
                  >
                    {p.name ? `${p.name} ` : ''}:{p.containerPort}
                    <span className="visually-hidden"> — open the pod proxy in a new tab</span>
                  </a>
                )),
            },
          ]}
        />
        <p className="muted">Port links open the pod through the gateway's pod proxy in a new tab.</p>
      </section>
      <section aria-labelledby="events-h">
        <h2 id="events-h">Events</h2>
        <Listing<PodEvent>
          what="events"
          items={events.items}
          loading={events.loading}
          error={events.error}
          denied={{ verb: 'list', resource: 'events', namespace: ns }}
          empty="No events for this pod."
        >
          {(items) => (
            <DataTable
              label="Events"
              rows={items}
              rowKey={(e) => e.metadata.uid ?? e.metadata.name}
              columns={[
                { header: 'Type', cell: (e) => e.type },
                { header: 'Reason', cell: (e) => e.reason },
                { header: 'Message', cell: (e) => e.message },
                { header: 'Age', cell: (e) => age(e.lastTimestamp ?? e.metadata.creationTimestamp) },
              ]}
            />
          )}
        </Listing>
      </section>
    </>
  );
}

type PodEvent = KubeObject & { type?: string; reason?: string; message?: string; lastTimestamp?: string };

function Logs({ namespace, name, container }: { namespace: string; name: string; container: string }) {
  const [lines, setLines] = useState<string[]>([]);
  const [follow, setFollow] = useState(true);
  const [state, setState] = useState<'loading' | 'following' | 'ended' | 'error'>('loading');
  const [error, setError] = useState<unknown>(null);
  const box = useRef<HTMLPreElement>(null);
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/log?container=${encodeURIComponent(container)}`;

  useEffect(() => {
    const abort = new AbortController();
    setLines([]);
    setError(null);
    setState('loading');
    let batch: string[] = [];
    let scheduled = false;
    // Many lines can arrive at once: render them per animation frame, not per line.
    const flush = (): void => {
      scheduled = false;
      const add = batch;
      batch = [];
      setLines((old) => [...old, ...add].slice(-MAX_LOG_LINES));
    };
    streamLines(
      `${path}&tailLines=1000${follow ? '&follow=true' : ''}`,
      (line) => {
        batch.push(line);
        if (!scheduled) {
          scheduled = true;
          requestAnimationFrame(flush);
        }
        setState(follow ? 'following' : 'loading');
      },
      abort.signal,
    )
      .then(() => !abort.signal.aborted && setState('ended'))
      .catch((e: unknown) => {
        if (abort.signal.aborted) return;
        setError(e);
        setState('error');
      });
    if (follow) setState('following');
    return () => abort.abort();
  }, [path, follow]);

  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);

  return (
    <section aria-labelledby="logs-h">
      <h2 id="logs-h">
        Logs <span className="muted">of {container}</span>
      </h2>
      <div className="toolbar">
        <label className="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <a className="button secondary" href={path} download={`${name}-${container}.log`}>
          Download
        </a>
        <span className="muted" role="status" aria-live="polite">
          {state === 'following' ? 'Following new lines' : state === 'ended' ? `${lines.length} lines` : state === 'loading' ? 'Loading…' : ''}
        </span>
      </div>
      {error != null && (
        <ErrorNotice error={error} fallback={{ verb: 'get', resource: 'pods', subresource: 'log', namespace, name }} />
      )}
      <pre className="logs" ref={box} tabIndex={0} aria-label={`Log of container ${container}`} data-testid="logs">
        {lines.length === 0 && state !== 'error' ? (state === 'loading' ? '' : 'No log lines yet.') : lines.join('\n')}
      </pre>
    </section>
  );
}

function TerminalTab({ namespace, name, container }: { namespace: string; name: string; container: string }) {
  const [allowed, setAllowed] = useState<AccessReviewStatus | null>(null);
  const [error, setError] = useState<unknown>(null);
  const question = { verb: 'create', resource: 'pods', subresource: 'exec', namespace, name };
  useEffect(() => {
    const abort = new AbortController();
    accessReview(question, abort.signal)
      .then(setAllowed)
      .catch((e: unknown) => !abort.signal.aborted && setError(e));
    return () => abort.abort();
  }, [namespace, name]);
  if (error != null) return <ErrorNotice error={error} />;
  if (!allowed) return <Loading what="whether you may open a terminal" />;
  if (!allowed.allowed) return <Forbidden question={question} reason={allowed.reason} />;
  return (
    <Suspense fallback={<Loading what="the terminal" />}>
      <Terminal namespace={namespace} name={name} container={container} />
    </Suspense>
  );
}
