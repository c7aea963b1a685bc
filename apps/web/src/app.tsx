// The shell: who is signed in, the navigation, the session's life (a silent refresh of the
// provider's tokens ahead of their expiry, a keep-alive, the signed-out state, logout), and the
// pages.
import { useCallback, useEffect, useRef, useState } from 'react';
import {
  api,
  ApiError,
  loginUrl,
  onSignedOut,
  requestHeaders,
  setCsrfToken,
  type Me,
  type SessionTimes,
} from './api';
import { Link, uiPath, useLocation } from './router';
import { WhoAmIPage } from './pages/whoami';
import { CanIPage } from './pages/can-i';
import { ClusterPage } from './pages/cluster';
import { PodPage } from './pages/pod';
import { TokensPage } from './pages/tokens';
import { AuditPage } from './pages/audit';
import { ConnectPage } from './pages/connect';
import { ForwardsPage } from './pages/forwards';
import { ErrorNotice } from './components';

/** How often the page checks the session is still there (and the user's rights still these). */
const KEEPALIVE_MS = 60_000;
/** After a refresh the provider could not answer: try again this much later. */
const REFRESH_RETRY_MS = 30_000;

/**
 * When to renew the provider's tokens: ahead of their expiry by a quarter of the time left, at
 * most a minute and at least a second — so the session is renewed while the page is open, not
 * found expired by the next request. Planned on the gateway's clock (serverTime).
 */
function refreshDelay(times: SessionTimes): number {
  const left = Date.parse(times.refreshAt) - Date.parse(times.serverTime);
  const lead = Math.min(60_000, Math.max(1000, left / 4));
  return Math.max(0, left - lead);
}

type Session = { state: 'loading' } | { state: 'in'; me: Me } | { state: 'out' } | { state: 'error'; error: unknown };

const NAV: Array<{ path: string; label: string }> = [
  { path: 'whoami', label: 'Who am I' },
  { path: 'can-i', label: "Why can't I?" },
  { path: 'cluster', label: 'Cluster' },
  { path: 'tokens', label: 'Tokens' },
  { path: 'audit', label: 'Audit' },
  { path: 'forwards', label: 'Forwards' },
  { path: 'connect', label: 'Connect' },
];

export function App() {
  const [session, setSession] = useState<Session>({ state: 'loading' });
  const { path, query } = useLocation();

  const refreshTimer = useRef<number | undefined>(undefined);

  /** Silent refresh: renews the provider's tokens through the gateway before they expire. */
  const planRefresh = useCallback((times: SessionTimes | null, delay?: number): void => {
    window.clearTimeout(refreshTimer.current);
    if (!times) return;
    refreshTimer.current = window.setTimeout(() => {
      api<SessionTimes>('/kgw/auth/refresh', { method: 'POST' }).then(
        (next) => planRefresh(next),
        (error: unknown) => {
          // 401: the provider refused, the session is over — api() has told the app already.
          if (!(error instanceof ApiError && error.status === 401)) planRefresh(times, REFRESH_RETRY_MS);
        },
      );
    }, delay ?? refreshDelay(times));
  }, []);

  const load = useCallback(async (first: boolean): Promise<void> => {
    try {
      const me = await api<Me>('/kgw/v1/me?namespace=default');
      setCsrfToken(me.csrfToken);
      setSession({ state: 'in', me });
      planRefresh(me.session);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        // Arriving without a session: straight to the provider, back to this very page after.
        if (first) location.assign(loginUrl());
        else setSession({ state: 'out' });
        return;
      }
      if (first) setSession({ state: 'error', error });
    }
  }, []);

  useEffect(() => {
    void load(true);
    const off = onSignedOut(() => setSession({ state: 'out' }));
    const timer = window.setInterval(() => void load(false), KEEPALIVE_MS);
    const onVisible = (): void => {
      if (document.visibilityState === 'visible') void load(false);
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      off();
      window.clearInterval(timer);
      window.clearTimeout(refreshTimer.current);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [load]);

  useEffect(() => {
    if (session.state === 'out') window.clearTimeout(refreshTimer.current);
  }, [session.state]);

  if (session.state === 'loading')
    return (
      <main id="main" className="centered">
        <p role="status">Signing in…</p>
      </main>
    );
  if (session.state === 'error')
    return (
      <main id="main" className="centered">
        <h1>kgw</h1>
        <ErrorNotice error={session.error} />
        <p>
          <a href={location.href}>Reload</a>
        </p>
      </main>
    );
  if (session.state === 'out') return <SignedOut />;

  const me = session.me;
  const section = path.split('/')[0] || 'whoami';
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link href={uiPath('whoami')} className="brand" aria-label="kgw home">
          kgw
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.path}>
                <Link href={uiPath(item.path)} aria-current={section === item.path ? 'page' : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="account">
          <span className="user" title={`Kubernetes user ${me.kubernetes.username}`}>
            {me.user.name}
            {me.admin && <span className="badge">admin</span>}
          </span>
          <LogoutButton />
        </div>
      </header>
      <main id="main">{page(path, query, me)}</main>
    </>
  );
}

function page(path: string, query: URLSearchParams, me: Me) {
  const parts = path.split('/').map(decodeURIComponent);
  switch (parts[0]) {
    case '':
    case 'whoami':
      return <WhoAmIPage me={me} />;
    case 'can-i':
      return <CanIPage query={query} />;
    case 'cluster':
      if (parts[2] === 'pods' && parts[3])
        return <PodPage namespace={parts[1]} name={parts[3]} tab={parts[4] ?? 'overview'} query={query} me={me} />;
      return <ClusterPage namespace={parts[1]} me={me} />;
    case 'tokens':
      return <TokensPage />;
    case 'audit':
      return <AuditPage me={me} query={query} />;
    case 'forwards':
      return <ForwardsPage me={me} />;
    case 'connect':
      return <ConnectPage me={me} query={query} />;
    default:
      return (
        <>
          <h1>Page not found</h1>
          <p>
            There is no page at this address. <Link href={uiPath('whoami')}>Go to Who am I</Link>.
          </p>
        </>
      );
  }
}

function SignedOut() {
  useEffect(() => {
    document.title = 'Signed out · kgw';
  }, []);
  return (
    <main id="main" className="centered">
      <h1>Signed out</h1>
      <p role="alert">
        Your kgw session has ended (it expired, the identity provider refused to renew it, or you logged out
        elsewhere).
      </p>
      <p>
        <a className="button" href={loginUrl()}>
          Sign in again
        </a>
      </p>
    </main>
  );
}

function LogoutButton() {
  const [busy, setBusy] = useState(false);
  const logout = async (): Promise<void> => {
    setBusy(true);
    try {
      const res = await fetch('/kgw/auth/logout', {
        method: 'POST',
        credentials: 'same-origin',
        headers: requestHeaders('POST'),
      });
      const body = (await res.json().catch(() => ({}))) as { providerLogoutUrl?: string | null };
      setCsrfToken(null);
      // Ends the provider's session too (RP-initiated logout), which comes back to logged-out.
      location.assign(body.providerLogoutUrl ?? '/kgw/auth/logged-out');
    } catch {
      setBusy(false);
    }
  };
  return (
    <button type="button" className="secondary" onClick={() => void logout()} disabled={busy}>
      {busy ? 'Logging out…' : 'Log out'}
    </button>
  );
}
