// Personal access tokens: create (name, scopes, namespaces, expiry; the token is shown once),
// list with last use and address, revoke.
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api } from '../api';
import { CopyButton, DataTable, ErrorNotice, Listing, PageTitle } from '../components';

export interface TokenView {
  id: string;
  name: string;
  owner: string;
  createdVia: string;
  scopes: string[];
  namespaces: string[];
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string | null;
  lastUsedAddress: string | null;
  revokedAt: string | null;
}

const when = (iso: string | null): string => (iso ? new Date(iso).toLocaleString() : 'never');

export function TokensPage() {
  const [items, setItems] = useState<TokenView[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<(TokenView & { token: string }) | null>(null);
  const reload = useCallback(async (): Promise<void> => {
    try {
      setItems((await api<{ items: TokenView[] }>('/kgw/v1/tokens')).items);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, []);
  useEffect(() => void reload(), [reload]);

  const revoke = async (t: TokenView): Promise<void> => {
    if (!window.confirm(`Revoke the token "${t.name}"? Anything using it stops working at once.`)) return;
    try {
      await api(`/kgw/v1/tokens/${encodeURIComponent(t.id)}`, { method: 'DELETE' });
      await reload();
    } catch (e) {
      setError(e);
    }
  };

  return (
    <>
      <PageTitle title="Tokens">Personal access tokens</PageTitle>
      <p className="muted">
        For curl, kubectl and scripts: <code>Authorization: Bearer kgw_…</code>. A token acts as you, limited by
        its scopes; it is shown once and stored only as a hash.
      </p>
      <CreateToken onCreated={(t) => {
        setCreated(t);
        void reload();
      }} />
      {created && (
        <div className="notice success" role="status" data-testid="new-token">
          <p>
            <strong>Token "{created.name}" created.</strong> Copy it now: it will not be shown again.
          </p>
          <p className="token-line">
            <code data-testid="token-value">{created.token}</code> <CopyButton text={created.token} />
          </p>
          <button type="button" className="secondary" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      )}
      <section aria-labelledby="list-h">
        <h2 id="list-h">Your tokens</h2>
        <Listing what="your tokens" items={items} error={error} empty="You have no tokens yet. Create one above.">
          {(rows) => (
            <DataTable
              label="Your tokens"
              testId="tokens"
              rows={rows}
              rowKey={(t) => t.id}
              rowAttributes={(t) => ({ 'data-token': t.name })}
              columns={[
                {
                  header: 'Name',
                  cell: (t) => (
                    <>
                      {t.name}
                      <div className="muted small">
                        {t.id} · via {t.createdVia}
                      </div>
                    </>
                  ),
                },
                {
                  header: 'Scopes',
                  cell: (t) =>
                    [...(t.scopes.length ? t.scopes : ['full']), ...t.namespaces.map((n) => `ns:${n}`)].join(', '),
                },
                { header: 'Expires', cell: (t) => when(t.expiresAt) },
                { header: 'Last used', cell: (t) => when(t.lastUsedAt) },
                { header: 'From', cell: (t) => t.lastUsedAddress ?? '—' },
                {
                  header: 'Actions',
                  hidden: true,
                  cell: (t) =>
                    t.revokedAt ? (
                      'revoked'
                    ) : (
                      <button type="button" className="danger" onClick={() => void revoke(t)}>
                        Revoke<span className="visually-hidden"> {t.name}</span>
                      </button>
                    ),
                },
              ]}
            />
          )}
        </Listing>
      </section>
    </>
  );
}

function CreateToken({ onCreated }: { onCreated: (t: TokenView & { token: string }) => void }) {
  const [name, setName] = useState('');
  const [readOnly, setReadOnly] = useState(false);
  const [forward, setForward] = useState(false);
  const [namespaces, setNamespaces] = useState('');
  const [days, setDays] = useState('30');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    try {
      const t = await api<TokenView & { token: string }>('/kgw/v1/tokens', {
        method: 'POST',
        body: {
          name: name.trim(),
          scopes: [...(readOnly ? ['read-only'] : []), ...(forward ? ['forward'] : [])],
          namespaces: namespaces.split(',').map((n) => n.trim()).filter(Boolean),
          expiresInDays: Number(days),
        },
      });
      setError(null);
      setName('');
      onCreated(t);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="create-h" className="card">
      <h2 id="create-h">Create a token</h2>
      <form className="grid-form" onSubmit={(e) => void submit(e)}>
        <label htmlFor="tk-name">Name</label>
        <input id="tk-name" value={name} onChange={(e) => setName(e.target.value)} required placeholder="ci-deploy" />
        <span className="label" id="tk-scopes-l">
          Scopes
        </span>
        <div role="group" aria-labelledby="tk-scopes-l" className="checks">
          <label className="check">
            <input type="checkbox" checked={readOnly} onChange={(e) => setReadOnly(e.target.checked)} /> read-only (get, list, watch)
          </label>
          <label className="check">
            <input type="checkbox" checked={forward} onChange={(e) => setForward(e.target.checked)} /> forward (kgw forward tunnels)
          </label>
        </div>
        <label htmlFor="tk-ns">Namespaces</label>
        <input
          id="tk-ns"
          value={namespaces}
          onChange={(e) => setNamespaces(e.target.value)}
          placeholder="all you may use (or: team-a, team-b)"
        />
        <label htmlFor="tk-days">Expires in (days)</label>
        <input id="tk-days" type="number" min="1" max="365" value={days} onChange={(e) => setDays(e.target.value)} required />
        <div className="actions">
          <button type="submit" disabled={busy}>
            {busy ? 'Creating…' : 'Create token'}
          </button>
        </div>
      </form>
      {error != null && <ErrorNotice error={error} />}
    </section>
  );
}
