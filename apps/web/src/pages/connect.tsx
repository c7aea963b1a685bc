// Connect: everything to reach this gateway from a terminal — a kubeconfig (with a token made
// for it), the `kgw login` line, and a curl line — filled in for this gateway and a chosen pod.
import { useState } from 'react';
import { api, type Me } from '../api';
import { CopyButton, ErrorNotice, PageTitle } from '../components';
import type { TokenView } from './tokens';

function kubeconfigYaml(server: string, user: string, token: string, namespace: string): string {
  // Plain YAML by hand: four fixed levels, every value quoted as a JSON string (valid YAML).
  const q = JSON.stringify;
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: kgw',
    '    cluster:',
    `      server: ${q(server)}`,
    'users:',
    `  - name: ${q(user)}`,
    '    user:',
    `      token: ${q(token)}`,
    'contexts:',
    '  - name: kgw',
    '    context:',
    '      cluster: kgw',
    `      user: ${q(user)}`,
    `      namespace: ${q(namespace)}`,
    'current-context: kgw',
    '',
  ].join('\n');
}

function CommandLine({ label, text, id }: { label: string; text: string; id: string }) {
  return (
    <div className="command">
      <span className="label" id={id}>
        {label}
      </span>
      <pre aria-labelledby={id} tabIndex={0}>
        <code>{text}</code>
      </pre>
      <CopyButton text={text} label={`Copy`} />
    </div>
  );
}

export function ConnectPage({ me, query }: { me: Me; query: URLSearchParams }) {
  const origin = location.origin;
  const namespace = query.get('namespace') ?? me.kubernetes.serviceAccount?.split(':')[2] ?? 'default';
  const pod = query.get('pod') ?? 'nginx';
  const [error, setError] = useState<unknown>(null);
  const [made, setMade] = useState<string | null>(null);

  const downloadKubeconfig = async (): Promise<void> => {
    try {
      const t = await api<TokenView & { token: string }>('/kgw/v1/tokens', {
        method: 'POST',
        body: { name: `kubeconfig ${new Date().toISOString().slice(0, 10)}`, expiresInDays: 30 },
      });
      const yaml = kubeconfigYaml(origin, me.user.name, t.token, namespace);
      const url = URL.createObjectURL(new Blob([yaml], { type: 'application/yaml' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `kubeconfig-kgw-${me.user.name}`;
      document.body.append(a);
      a.click();
      a.remove();
      URL.revokeObjectURL(url);
      setMade(t.name);
      setError(null);
    } catch (e) {
      setError(e);
    }
  };

  return (
    <>
      <PageTitle title="Connect">Connect</PageTitle>
      <p className="muted">
        Use this gateway from your terminal. Everything below goes through kgw: your identity, RBAC and the audit
        trail apply as here.
      </p>
      <section aria-labelledby="kc-h" className="card">
        <h2 id="kc-h">kubectl</h2>
        <p>
          Download a kubeconfig whose server is this gateway. It carries a new personal token (30 days, revocable
          on the Tokens page).
        </p>
        <button type="button" onClick={() => void downloadKubeconfig()}>
          Create a token and download a kubeconfig
        </button>
        {made && (
          <p role="status">
            Downloaded. Token “{made}” was created for it. Then: <code>kubectl --kubeconfig kubeconfig-kgw-{me.user.name} get pods</code>
          </p>
        )}
        {error != null && <ErrorNotice error={error} />}
      </section>
      <section aria-labelledby="cli-h" className="card">
        <h2 id="cli-h">The kgw CLI</h2>
        <CommandLine id="cmd-login" label="Log in from a terminal (approve in this browser)" text={`kgw login ${origin}`} />
        <p className="muted small">
          Add <code>--ca FILE</code> when the gateway's certificate is not signed by a CA your system trusts.
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
          text={`curl -H "Authorization: Bearer $KGW_TOKEN" ${origin}/api/v1/namespaces/${namespace}/pods`}
        />
        <CommandLine
          id="cmd-proxy"
          label={`Open pod ${pod} through the pod proxy`}
          text={`curl -H "Authorization: Bearer $KGW_TOKEN" ${origin}/api/v1/namespaces/${namespace}/pods/${pod}/proxy/`}
        />
      </section>
    </>
  );
}
