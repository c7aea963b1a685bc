// Audit: everyone sees their own records, gateway admins everyone's; the API's filters, a live
// tail (Server-Sent Events from /kgw/v1/audit/stream) and export (CSV, NDJSON).
import { useEffect, useState, type FormEvent } from 'react';
import { api, UI_BASE, type Me } from '../api';
import { DataTable, Listing, PageTitle } from '../components';
import { navigate } from '../router';

interface AuditRow {
  id?: string;
  time: string;
  requestId: string;
  kind: string;
  authUser?: string;
  authMethod?: string;
  kubeUser?: string;
  clientAddress?: string;
  verb?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  path?: string;
  code?: number;
  decision?: string;
  reason?: string;
  latencyMs?: number;
}

const FILTERS = ['user', 'namespace', 'verb', 'resource', 'code', 'decision', 'kind', 'since'] as const;
const MAX_ROWS = 500;

export function AuditPage({ me, query }: { me: Me; query: URLSearchParams }) {
  const filters = new URLSearchParams();
  for (const f of FILTERS) {
    const v = query.get(f);
    if (v) filters.set(f, v);
  }
  const filterKey = filters.toString();
  const [rows, setRows] = useState<AuditRow[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tail, setTail] = useState(query.get('tail') === '1');
  const [tailState, setTailState] = useState<'off' | 'connecting' | 'live' | 'broken'>('off');
  const [form, setForm] = useState<Record<string, string>>(() => Object.fromEntries(filters));

  useEffect(() => {
    const abort = new AbortController();
    setRows(null);
    api<{ items: AuditRow[] }>(`/kgw/v1/audit?limit=100${filterKey ? `&${filterKey}` : ''}`, { signal: abort.signal })
      .then((r) => {
        setRows(r.items);
        setError(null);
      })
      .catch((e: unknown) => !abort.signal.aborted && setError(e));
    return () => abort.abort();
  }, [filterKey]);

  useEffect(() => {
    if (!tail) {
      setTailState('off');
      return;
    }
    setTailState('connecting');
    const source = new EventSource(`/kgw/v1/audit/stream${filterKey ? `?${filterKey}` : ''}`);
    source.onopen = () => setTailState('live');
    source.onerror = () => setTailState(source.readyState === EventSource.CLOSED ? 'broken' : 'connecting');
    source.addEventListener('audit', (event) => {
      const row = JSON.parse((event as MessageEvent<string>).data) as AuditRow;
      setRows((old) => [row, ...(old ?? []).filter((r) => r.requestId !== row.requestId)].slice(0, MAX_ROWS));
    });
    return () => source.close();
  }, [tail, filterKey]);

  const apply = (e: FormEvent): void => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const f of FILTERS) if (form[f]?.trim()) next.set(f, form[f].trim());
    if (tail) next.set('tail', '1');
    navigate(`${UI_BASE}audit${next.toString() ? `?${next.toString()}` : ''}`);
  };
  const field = (name: (typeof FILTERS)[number], label: string, placeholder: string) => (
    <div className="field">
      <label htmlFor={`au-${name}`}>{label}</label>
      <input
        id={`au-${name}`}
        value={form[name] ?? ''}
        placeholder={placeholder}
        onChange={(e) => setForm((f) => ({ ...f, [name]: e.target.value }))}
      />
    </div>
  );

  return (
    <>
      <PageTitle title="Audit">Audit</PageTitle>
      <p className="muted">
        {me.admin
          ? 'You are a gateway admin: you see everyone’s records.'
          : 'You see your own activity; gateway admins see everyone’s.'}
      </p>
      <form className="filters" onSubmit={apply} aria-label="Audit filters">
        {me.admin && field('user', 'User', 'anyone')}
        {field('namespace', 'Namespace', 'any')}
        {field('verb', 'Verb', 'any')}
        {field('resource', 'Resource', 'pods or pods/exec')}
        {field('code', 'Status', '403 or 4xx')}
        {field('decision', 'Decision', 'allow, deny…')}
        {field('kind', 'Kind', 'request, login, token…')}
        {field('since', 'Since', '1h or 2026-01-01T00:00Z')}
        <div className="actions">
          <button type="submit">Apply filters</button>
        </div>
      </form>
      <div className="toolbar">
        <label className="check">
          <input type="checkbox" checked={tail} onChange={(e) => setTail(e.target.checked)} /> Live tail
        </label>
        <span role="status" aria-live="polite" className="muted" data-testid="tail-state">
          {tailState === 'live' ? 'Live: new records appear on top' : tailState === 'connecting' ? 'Connecting…' : tailState === 'broken' ? 'The live tail stopped; untick and tick to retry.' : ''}
        </span>
        <a className="button secondary" href={`/kgw/v1/audit?format=csv${filterKey ? `&${filterKey}` : ''}`} download="kgw-audit.csv">
          Export CSV
        </a>
        <a className="button secondary" href={`/kgw/v1/audit?format=ndjson${filterKey ? `&${filterKey}` : ''}`} download="kgw-audit.ndjson">
          Export NDJSON
        </a>
      </div>
      <Listing
        what="audit records"
        items={rows}
        error={error}
        empty="No records match. Widen the filters, or turn on the live tail and wait for activity."
      >
        {(items) => (
          <DataTable
            label="Audit records"
            testId="audit"
            className="audit"
            rows={items}
            rowKey={(r) => r.requestId}
            rowAttributes={(r) => ({
              'data-request-id': r.requestId,
              className: r.decision === 'deny' ? 'denied' : undefined,
            })}
            columns={[
              { header: 'Time', cell: (r) => new Date(r.time).toLocaleTimeString() },
              {
                header: 'User',
                cell: (r) => (
                  <>
                    {r.authUser ?? '—'}
                    {r.kubeUser && r.kubeUser !== r.authUser && <div className="muted small">as {r.kubeUser}</div>}
                  </>
                ),
              },
              {
                header: 'Request',
                cell: (r) => (
                  <code className="small">
                    {r.kind === 'request' ? `${r.verb ?? ''} ${r.path ?? ''}` : `${r.kind}${r.path ? ` ${r.path}` : ''}`}
                  </code>
                ),
              },
              { header: 'Status', cell: (r) => `${r.code ?? ''} ${r.decision ?? ''}` },
              { header: 'Reason', cell: (r) => r.reason },
              { header: 'From', cell: (r) => r.clientAddress },
            ]}
          />
        )}
      </Listing>
    </>
  );
}
