// Demo mode: the built-in cluster simulator as the upstream, demo users with personal tokens and
// passwords at the built-in OpenID provider,
// a generated TLS certificate (kubectl sends credentials only over HTTPS), and the files that
// scripts and newcomers rely on:
//   .kgw/demo/credentials.json        { url, users: [{ name, password, token, kubeconfig, role }] }
//   .kgw/demo/kubeconfig-<name>       server = the gateway, token = the user's personal token
// Tokens, passwords and the CA persist across restarts (secrets.json, mode 0600), so a
// kubeconfig keeps working, also on a fresh database (the saved token is registered there); a
// token that was revoked or has expired is replaced by a new personal token at the next start.
// Nothing in secrets.json changes unless the start succeeds.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { stringify as toYaml } from 'yaml';
import type { GatewayConfig } from '@kgw/config';
import { loadUpstream, type Upstream, type UpstreamOptions } from '@kgw/kube';
import { createPki, PodStreams, startSimulator, type RunningSimulator } from '@kgw/kube-sim';
import type { PersonalTokens } from '../auth/personal-tokens';
import type { ServiceAccountRule } from '../identity/identity-mapper';

export interface DemoUser {
  name: string;
  /** The Kubernetes user the gateway impersonates (before mapping rules). */
  username: string;
  groups: string[];
  role: string;
  namespace: string;
  /** Set when a mapping rule turns this user into a service account. */
  serviceAccount?: string;
}

/** Who the demo users are at the gateway, and what the demo cluster's RBAC lets them do. */
export const DEMO_USERS: DemoUser[] = [
  {
    name: 'alice',
    username: 'alice',
    groups: ['kgw:admins'],
    role: 'gateway admin; cluster-admin',
    namespace: 'default',
  },
  { name: 'bob', username: 'bob', groups: ['team-a'], role: 'editor in team-a', namespace: 'team-a' },
  {
    name: 'carol',
    username: 'carol',
    groups: ['viewers'],
    role: 'read-only viewer, all namespaces',
    namespace: 'default',
  },
  {
    name: 'dave',
    username: 'dave',
    groups: ['deployers'],
    role: 'mapped to service account team-b/deployer (editor in team-b)',
    namespace: 'team-b',
    serviceAccount: 'team-b/deployer',
  },
];

export interface DemoCluster {
  simulator: RunningSimulator;
  upstream: Upstream;
  /** Makes sure every demo user's `token` is a working personal token. */
  provisionTokens(tokens: PersonalTokens): Promise<void>;
  /** Demo users with their passwords, for the built-in OpenID provider. */
  users: Array<DemoUser & { password: string }>;
  serviceAccountRules: ServiceAccountRule[];
  /** Members are gateway admins (alice). */
  adminGroups: string[];
  tls: { cert: string; key: string; alsoPlainHttp: boolean };
  caPem: string;
  announce(url: string): void;
  stop(): Promise<void>;
}

interface DemoSecrets {
  tokens: Record<string, string>;
  passwords: Record<string, string>;
}

/**
 * `upstreamOptions`: the same as a kubeconfig or in-cluster upstream gets (HTTP/2 choice, TCP
 * keepalive of the HTTP/1.1 connections — the only place that setting applies there).
 */
export async function startDemoCluster(
  config: GatewayConfig,
  logger: Logger,
  upstreamOptions: UpstreamOptions,
): Promise<DemoCluster> {
  const dir = resolve(config.demo.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const secrets = demoSecrets(dir);
  const tls = await demoTls(dir);

  const simulator = await startSimulator({ scenario: 'demo', streams: (options) => new PodStreams(options) });
  const gatewayToken = simulator.userTokens.kgw;
  if (!gatewayToken) {
    await simulator.stop();
    throw new Error('the demo scenario has no kgw-system/kgw service account for the gateway');
  }
  const upstream = loadUpstream(
    {
      mode: 'direct',
      url: simulator.url,
      caPem: simulator.caPem,
      token: gatewayToken,
    },
    upstreamOptions,
  );
  const serviceAccountRules = DEMO_USERS.filter((u) => u.serviceAccount).map((u) => ({
    user: u.username,
    serviceAccount: u.serviceAccount!,
  }));
  logger.info(
    { simulator: simulator.url, users: DEMO_USERS.map((u) => u.name) },
    'demo cluster simulator started',
  );

  return {
    simulator,
    upstream,
    users: DEMO_USERS.map((u) => ({ ...u, password: secrets.passwords[u.name] })),
    async provisionTokens(tokens: PersonalTokens) {
      for (const user of DEMO_USERS) {
        const current = secrets.tokens[user.name];
        if (current && (await tokens.findActive(current))) continue;
        // A token this database has never seen (a fresh or another data directory) is registered
        // as it is, so kubeconfigs and scripts holding it keep working; a revoked or expired one
        // is replaced.
        const adopt = current && !(await tokens.known(current)) ? current : undefined;
        const { token } = await tokens.create({
          owner: { name: user.username, groups: user.groups },
          name: 'demo',
          scopes: { readOnly: false, namespaces: [], forward: true },
          createdVia: 'demo',
          existingToken: adopt,
        });
        secrets.tokens[user.name] = token;
      }
    },
    serviceAccountRules,
    adminGroups: ['kgw:admins'],
    tls: { cert: tls.cert, key: tls.key, alsoPlainHttp: true },
    caPem: tls.ca,
    announce(url: string) {
      // Only now, with the gateway listening: a start that fails (a busy port, say) must not
      // rewrite the secrets a running demo's kubeconfigs depend on.
      saveDemoSecrets(dir, secrets);
      const files = writeDemoFiles(dir, url, tls.ca, secrets);
      const lines = [
        '',
        `  kgw demo is running at ${url}  (plain HTTP on the same port: ${url.replace(/^https:/, 'http:')})`,
        `  Demo credentials: ${files.credentials}`,
        ...DEMO_USERS.map(
          (u) =>
            `    ${u.name.padEnd(6)} ${u.role.padEnd(62)} kubectl --kubeconfig ${files.kubeconfigs[u.name]} get pods`,
        ),
        `  Browser login: ${url}/kgw/auth/login  (built-in OpenID provider; passwords in credentials.json)`,
        `  Try: curl -sk -H "Authorization: Bearer $(jq -r '.users[0].token' ${files.credentials})" ${url}/api/v1/namespaces/default/pods/nginx/proxy/`,
        '',
      ];
      process.stderr.write(`${lines.join('\n')}\n`);
    },
    async stop() {
      upstream.close();
      await simulator.stop();
    },
  };
}

/**
 * Passwords are made once and kept (mode 0600); personal tokens are added by provisionTokens.
 * Read here, written by announce() once the gateway is up.
 */
function demoSecrets(dir: string): DemoSecrets {
  const file = join(dir, 'secrets.json');
  const existing: DemoSecrets = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as DemoSecrets)
    : { tokens: {}, passwords: {} };
  for (const user of DEMO_USERS) existing.passwords[user.name] ||= randomBytes(9).toString('base64url');
  return existing;
}

function saveDemoSecrets(dir: string, secrets: DemoSecrets): void {
  writeFileSync(join(dir, 'secrets.json'), JSON.stringify(secrets, null, 2), { mode: 0o600 });
}

async function demoTls(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const tlsDir = join(dir, 'tls');
  const paths = { ca: join(tlsDir, 'ca.crt'), cert: join(tlsDir, 'tls.crt'), key: join(tlsDir, 'tls.key') };
  if (Object.values(paths).every((p) => existsSync(p))) {
    return {
      ca: readFileSync(paths.ca, 'utf8'),
      cert: readFileSync(paths.cert, 'utf8'),
      key: readFileSync(paths.key, 'utf8'),
    };
  }
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
  const pki = await createPki(['localhost'], ['127.0.0.1', '::1']);
  writeFileSync(paths.ca, pki.ca.certPem);
  writeFileSync(paths.cert, pki.serving.certPem);
  writeFileSync(paths.key, pki.serving.keyPem, { mode: 0o600 });
  return { ca: pki.ca.certPem, cert: pki.serving.certPem, key: pki.serving.keyPem };
}

function writeDemoFiles(
  dir: string,
  url: string,
  caPem: string,
  secrets: DemoSecrets,
): { credentials: string; kubeconfigs: Record<string, string> } {
  const kubeconfigs: Record<string, string> = {};
  for (const user of DEMO_USERS) {
    const path = join(dir, `kubeconfig-${user.name}`);
    const kubeconfig = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'kgw-demo',
          cluster: { server: url, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
        },
      ],
      users: [{ name: user.name, user: { token: secrets.tokens[user.name] } }],
      contexts: [
        {
          name: `kgw-demo-${user.name}`,
          context: { cluster: 'kgw-demo', user: user.name, namespace: user.namespace },
        },
      ],
      'current-context': `kgw-demo-${user.name}`,
    };
    writeFileSync(path, toYaml(kubeconfig), { mode: 0o600 });
    kubeconfigs[user.name] = path;
  }
  const credentials = join(dir, 'credentials.json');
  writeFileSync(
    credentials,
    JSON.stringify(
      {
        url,
        caFile: join(dir, 'tls', 'ca.crt'),
        users: DEMO_USERS.map((u) => ({
          name: u.name,
          password: secrets.passwords[u.name],
          token: secrets.tokens[u.name],
          kubeconfig: kubeconfigs[u.name],
          role: u.role,
        })),
      },
      null,
      2,
    ),
    { mode: 0o600 },
  );
  return { credentials, kubeconfigs };
}
