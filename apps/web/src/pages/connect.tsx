// Connect: everything to reach this gateway from a terminal, filled in for this gateway and a
// chosen pod — a kubeconfig (its credential chosen explicitly: the kgw CLI's login through the
// exec plugin, or a new personal token in the file), the kgw CLI download with its checksum
// check, `kgw login` / `kgw forward` lines, and curl lines.
import { useEffect, useState } from 'react';
import { api, ApiError, type KubeList, type Me } from '../api';
import { CopyButton, ErrorNotice, PageTitle } from '../components';

type Credential = 'exec' | 'token';

/** What /kgw/cli/ says about the single-file CLI. */
interface CliManifest {
  version: string;
  sha256: string;
  url: string;
  install: string[];
}

interface KubeconfigAnswer {
  context: string;
  kubeconfig: string;
  token?: { name: string; expiresAt: string; notice?: string };
}

/** The file name the CA is saved under; every line below that needs it names this file. */
const CA_FILE = 'kgw-ca.crt';
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function CommandLine({ label, text, id }: { label: string; text: string; id: string }) {
  return (
    <div className="command" data-testid={id}>
      <span className="label" id={id}>
        {label}
      </span>
      <pre aria-labelledby={id} tabIndex={0}>
        <code>{text}</code>
      </pre>
      <CopyButton text={text} label="Copy" />
    </div>
  );
}

function saveFile(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

/** The gateway's CA when users need one (null: its certificate is trusted as it is). */
function useGatewayCa(): string | null | undefined {
  const [ca, setCa] = useState<string | null | undefined>(undefined);
  useEffect(() => {
    const abort = new AbortController();
    fetch('/kgw/v1/kubeconfig/ca.crt', { credentials: 'same-origin', signal: abort.signal })
      .then(async (res) => setCa(res.ok ? await res.text() : null))
      .catch(() => undefined);
    return () => abort.abort();
  }, []);
  return ca;
}

function useCliManifest(): { manifest?: CliManifest; error?: unknown } {
  const [state, setState] = useState<{ manifest?: CliManifest; error?: unknown }>({});
  useEffect(() => {
    const abort = new AbortController();
    api<CliManifest>('/kgw/cli/', { signal: abort.signal }).then(
      (manifest) => setState({ manifest }),
      (error: unknown) => {
        if (!abort.signal.aborted) setState({ error });
      },
    );
    return () => abort.abort();
  }, []);
  return state;
}

/** Pods in the namespace and their first container port, to fill in a forward; empty when not allowed. */
function usePods(namespace: string): Map<string, number | undefined> {
  const [pods, setPods] = useState(new Map<string, number | undefined>());
  useEffect(() => {
    if (!NAME.test(namespace)) return;
    const abort = new AbortController();
    api<KubeList>(`/api/v1/namespaces/${namespace}/pods?limit=200`, { signal: abort.signal }).then(
      (list) => {
        const ports = new Map<string, number | undefined>();
        for (const pod of list.items) {
          const containers = (pod.spec?.containers ?? []) as Array<{
            ports?: Array<{ containerPort?: number }>;
          }>;
          ports.set(pod.metadata.name, containers.flatMap((c) => c.ports ?? [])[0]?.containerPort);
        }
        setPods(ports);
      },
      () => setPods(new Map()),
    );
    return () => abort.abort();
  }, [namespace]);
  return pods;
}

export function ConnectPage({ me, query }: { me: Me; query: URLSearchParams }) {
  const origin = location.origin;
  const [namespace, setNamespace] = useState(
    query.get('namespace') ?? me.kubernetes.serviceAccount?.split(':')[2] ?? 'default',
  );
  const [pod, setPod] = useState(query.get('pod') ?? 'nginx');
  const [credential, setCredential] = useState<Credential>(
    query.get('credential') === 'token' ? 'token' : 'exec',
  );
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [made, setMade] = useState<{ file: string; answer: KubeconfigAnswer } | null>(null);
  const ca = useGatewayCa();
  const cli = useCliManifest();
  const pods = usePods(namespace);

  // The page's address follows the choices, so a link to it opens the same lines.
  useEffect(() => {
    const q = new URLSearchParams({ namespace, pod });
    if (credential === 'token') q.set('credential', 'token');
    history.replaceState(null, '', `${location.pathname}?${q.toString()}`);
  }, [namespace, pod, credential]);

  const nsValid = NAME.test(namespace);
  const podName = NAME.test(pod) ? pod : 'POD';
  const remotePort = pods.get(pod) ?? 80;
  const cacert = ca ? ` --cacert ${CA_FILE}` : '';

  const download = async (): Promise<void> => {
    setBusy(true);
    try {
      const answer =
        credential === 'token'
          ? await api<KubeconfigAnswer>('/kgw/v1/kubeconfig', {
              method: 'POST',
              body: { credential: 'token', namespace },
            })
          : await api<KubeconfigAnswer>(`/kgw/v1/kubeconfig?namespace=${encodeURIComponent(namespace)}`);
      const file = `kubeconfig-${answer.context}`;
      saveFile(file, answer.kubeconfig, 'application/yaml');
      setMade({ file, answer });
      setError(null);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <PageTitle title="Connect">Connect</PageTitle>
      <p className="muted">
        Use this gateway from your terminal. Everything below goes through kgw: your identity, RBAC and the
        audit trail apply as here.
      </p>

      <section aria-labelledby="kc-h" className="card">
        <h2 id="kc-h">kubectl</h2>
        <p>
          A kubeconfig whose server is this gateway{ca ? ', with the CA that signed its certificate' : ''}.
        </p>
        <fieldset className="choices">
          <legend>Credential in the kubeconfig</legend>
          <label className="check">
            <input
              type="radio"
              name="kc-credential"
              value="exec"
              checked={credential === 'exec'}
              onChange={() => setCredential('exec')}
              aria-describedby="kc-exec-help"
            />{' '}
            Your kgw CLI login (exec plugin)
          </label>
          <p className="help small" id="kc-exec-help">
            No secret in the file: kubectl runs <code>kgw credential</code>, which uses your{' '}
            <code>kgw login</code>. Needs the kgw CLI below.
          </p>
          <label className="check">
            <input
              type="radio"
              name="kc-credential"
              value="token"
              checked={credential === 'token'}
              onChange={() => setCredential('token')}
              aria-describedby="kc-token-help"
            />{' '}
            A new personal token in the file
          </label>
          <p className="help small" id="kc-token-help">
            Works without the CLI. The token (30 days at most) is listed on the Tokens page; made from this
            browser session, it ends when the session does (logging out revokes it). Keep the file secret.
          </p>
        </fieldset>
        <div className="inline">
          <label htmlFor="kc-ns">Default namespace</label>
          <input id="kc-ns" value={namespace} onChange={(e) => setNamespace(e.target.value.trim())} />
          <button type="button" onClick={() => void download()} disabled={busy || !nsValid}>
            {busy
              ? 'Preparing…'
              : credential === 'token'
                ? 'Create a token and download the kubeconfig'
                : 'Download the kubeconfig'}
          </button>
        </div>
        {!nsValid && <p className="field-error">A namespace is a lowercase name (letters, digits and -).</p>}
        {made && (
          <div className="notice success" role="status">
            <p>
              Saved as <code>{made.file}</code>
              {made.answer.token ? (
                <>
                  {' '}
                  with the new token “{made.answer.token.name}”
                  {made.answer.token.notice ? ` — ${made.answer.token.notice.replace(/\.$/, '')}` : ''}.
                </>
              ) : (
                '.'
              )}
            </p>
            {!made.answer.token && (
              <CommandLine
                id="cmd-login-first"
                label="Once, before kubectl can use it"
                text={`kgw login ${origin}${ca ? ` --ca ${CA_FILE}` : ''}`}
              />
            )}
            <CommandLine id="cmd-kubectl" label="Then" text={`kubectl --kubeconfig ${made.file} get pods`} />
          </div>
        )}
        {error != null && <ErrorNotice error={error} />}
      </section>

      <section aria-labelledby="cli-h" className="card">
        <h2 id="cli-h">The kgw CLI</h2>
        {cli.error != null &&
          (cli.error instanceof ApiError && cli.error.status === 503 ? (
            <p className="notice error">
              The gateway has no CLI download built (an operator runs npm run build).
            </p>
          ) : (
            <ErrorNotice error={cli.error} />
          ))}
        {cli.manifest && (
          <>
            <p>
              One file that needs Node.js 20.19 or later:{' '}
              <a href={cli.manifest.url}>kgw {cli.manifest.version}</a> (SHA-256{' '}
              <code className="hash">{cli.manifest.sha256}</code>).
            </p>
            {ca && (
              <p>
                The gateway's certificate is signed by a private CA: save{' '}
                <a href="/kgw/v1/kubeconfig/ca.crt" download={CA_FILE} data-testid="ca-link">
                  {CA_FILE}
                </a>{' '}
                in the directory where you run these.
              </p>
            )}
            <CommandLine
              id="cmd-install"
              label="Download, check and install"
              text={cli.manifest.install.map((line) => line.replace(/^curl /, `curl${cacert} `)).join('\n')}
            />
          </>
        )}
        <CommandLine
          id="cmd-login"
          label="Log in from a terminal (approve in this browser)"
          text={`kgw login ${origin}${ca ? ` --ca ${CA_FILE}` : ''}`}
        />
        <div className="inline">
          <label htmlFor="fw-ns">Namespace</label>
          <input id="fw-ns" value={namespace} onChange={(e) => setNamespace(e.target.value.trim())} />
          <label htmlFor="fw-pod">Pod</label>
          <input id="fw-pod" value={pod} onChange={(e) => setPod(e.target.value.trim())} list="fw-pods" />
          <datalist id="fw-pods">
            {[...pods.keys()].map((name) => (
              <option key={name} value={name} />
            ))}
          </datalist>
        </div>
        <CommandLine
          id="cmd-forward"
          label={`Forward local port 8080 to port ${remotePort} of pod ${podName}`}
          text={`kgw forward -n ${nsValid ? namespace : 'NAMESPACE'} pod/${podName} 8080:${remotePort}`}
        />
        <p className="muted small">
          Then <code>curl http://127.0.0.1:8080/</code> reaches the pod while it runs; it shows on the
          Forwards page.
        </p>
      </section>

      <section aria-labelledby="curl-h" className="card">
        <h2 id="curl-h">curl</h2>
        <p>
          With a token from the Tokens page in <code>KGW_TOKEN</code>:
        </p>
        <CommandLine
          id="cmd-curl"
          label={`List pods in ${namespace}`}
          text={`curl${cacert} -H "Authorization: Bearer $KGW_TOKEN" ${origin}/api/v1/namespaces/${namespace}/pods`}
        />
        <CommandLine
          id="cmd-proxy"
          label={`Open pod ${podName} through the pod proxy`}
          text={`curl${cacert} -H "Authorization: Bearer $KGW_TOKEN" ${origin}/api/v1/namespaces/${namespace}/pods/${podName}/proxy/`}
        />
      </section>
    </>
  );
}
