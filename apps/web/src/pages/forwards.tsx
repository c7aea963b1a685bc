// Forwards: the open `kgw forward` tunnels of the signed-in user (an admin: everyone's) and the
// streams each carries right now, from /kgw/v1/forwards, asked again every few seconds while
// the page is visible (a tunnel is no Kubernetes object to watch).
import { useCallback, useEffect, useState } from 'react';
import { age, api, type Me } from '../api';
import { DataTable, Listing, PageTitle } from '../components';
import { Link, uiPath } from '../router';

const REFRESH_MS = 3000;

interface TargetView {
  namespace: string;
  kind: string;
  name: string;
  port: number | string;
  protocol: string;
  ok: boolean;
  description?: string;
  message?: string;
}
interface StreamView {
  id: number;
  target: string;
  namespace: string;
  pod: string;
  podPort: number;
  openedAt: string;
}
interface TunnelView {
  id: string;
  instance: string;
  user: string;
  authMethod: string;
  tokenId: string | null;
  kubeUser: string;
  clientAddress: string | null;
  userAgent: string | null;
  startedAt: string;
  connected: boolean;
  targets: TargetView[];
  streams: StreamView[];
  streamsOpened: number;
  bytesIn: number;
  bytesOut: number;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

const targetText = (t: TargetView): string =>
  `${t.namespace}/${t.kind}/${t.name}:${t.port}${t.protocol === 'udp' ? '/udp' : ''}`;

export function ForwardsPage({ me }: { me: Me }) {
  const [items, setItems] = useState<TunnelView[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [checkedAt, setCheckedAt] = useState<Date | null>(null);

  const load = useCallback(async (signal?: AbortSignal): Promise<void> => {
    try {
      setItems((await api<{ items: TunnelView[] }>('/kgw/v1/forwards', { signal })).items);
      setError(null);
      setCheckedAt(new Date());
    } catch (e) {
      if (!signal?.aborted) setError(e);
    }
  }, []);

  useEffect(() => {
    const abort = new AbortController();
    void load(abort.signal);
    const timer = window.setInterval(() => {
      if (document.visibilityState === 'visible') void load(abort.signal);
    }, REFRESH_MS);
    return () => {
      abort.abort();
      window.clearInterval(timer);
    };
  }, [load]);

  const streams = (items ?? []).flatMap((t) => t.streams.map((s) => ({ tunnel: t, stream: s })));

  return (
    <>
      <PageTitle title="Forwards">Forwards</PageTitle>
      <p className="muted">
        {me.admin ? "Everyone's" : 'Your'} open <code>kgw forward</code> tunnels on this gateway and the
        connections they carry now. Each is audited with its bytes when it ends.
      </p>
      <p className="live" aria-live="polite">
        <span className={`dot${checkedAt && error == null ? ' on' : ''}`} aria-hidden="true" />{' '}
        {checkedAt
          ? `Checked every ${REFRESH_MS / 1000} s; last at ${checkedAt.toLocaleTimeString()}`
          : 'Checking…'}
      </p>
      <Listing
        what="tunnels"
        items={items}
        error={error}
        empty={
          <>
            No open tunnels. Start one from a terminal, e.g. <code>kgw forward pod/nginx 8080:80</code> — the{' '}
            <Link href={uiPath('connect')}>Connect</Link> page has the lines for this gateway.
          </>
        }
      >
        {(tunnels) => (
          <>
            <h2>Tunnels</h2>
            <DataTable
              label="Open tunnels"
              testId="tunnels"
              rows={tunnels}
              rowKey={(t) => t.id}
              rowAttributes={(t) => ({ 'data-tunnel': t.id })}
              columns={[
                ...(me.admin ? [{ header: 'User', cell: (t: TunnelView) => t.user }] : []),
                {
                  header: 'Targets',
                  cell: (t) => (
                    <ul className="plain">
                      {t.targets.map((target, i) => (
                        <li key={i}>
                          <code className="nowrap">{targetText(target)}</code>
                          {!target.ok && <span className="field-error"> — {target.message}</span>}
                        </li>
                      ))}
                    </ul>
                  ),
                },
                {
                  header: 'State',
                  cell: (t) =>
                    t.connected ? (
                      'connected'
                    ) : (
                      <span title="the client's WebSocket dropped">waiting for the client to resume</span>
                    ),
                },
                { header: 'Open for', cell: (t) => <time dateTime={t.startedAt}>{age(t.startedAt)}</time> },
                { header: 'Streams now / total', cell: (t) => `${t.streams.length} / ${t.streamsOpened}` },
                {
                  header: 'Bytes in / out (ended streams)',
                  cell: (t) => `${bytes(t.bytesIn)} / ${bytes(t.bytesOut)}`,
                },
                {
                  header: 'From',
                  cell: (t) => (
                    <>
                      {t.clientAddress ?? 'unknown'}
                      <div className="muted small">
                        {t.authMethod === 'pat' ? `token ${t.tokenId ?? ''}` : t.authMethod}
                        {t.userAgent ? ` · ${t.userAgent}` : ''}
                      </div>
                    </>
                  ),
                },
                { header: 'Gateway', cell: (t) => <code>{t.instance}</code> },
              ]}
            />
            <h2>Open streams</h2>
            {streams.length === 0 ? (
              <p className="empty">No connection is open through these tunnels right now.</p>
            ) : (
              <DataTable
                label="Open streams"
                testId="streams"
                rows={streams}
                rowKey={({ tunnel, stream }) => `${tunnel.id}/${stream.id}`}
                rowAttributes={({ stream }) => ({ 'data-pod': stream.pod })}
                columns={[
                  ...(me.admin
                    ? [{ header: 'User', cell: (r: { tunnel: TunnelView }) => r.tunnel.user }]
                    : []),
                  {
                    header: 'Target',
                    cell: ({ stream }) => <code className="nowrap">{`${stream.namespace}/${stream.target}`}</code>,
                  },
                  {
                    header: 'Pod',
                    cell: ({ stream }) => (
                      <Link href={uiPath(`cluster/${stream.namespace}/pods/${stream.pod}`)}>
                        {stream.pod}:{stream.podPort}
                      </Link>
                    ),
                  },
                  {
                    header: 'Open for',
                    cell: ({ stream }) => <time dateTime={stream.openedAt}>{age(stream.openedAt)}</time>,
                  },
                ]}
              />
            )}
          </>
        )}
      </Listing>
    </>
  );
}
