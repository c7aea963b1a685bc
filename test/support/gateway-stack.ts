// The whole stack in one process for end-to-end suites: embedded Postgres, the cluster
// simulator (with pod streams), and the gateway configured the production way — a kubeconfig
// holding the gateway's service-account token, a static token file for callers, HTTPS with a
// certificate signed by a test CA — plus kubeconfigs for kubectl pointing at the gateway.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parse as fromYaml, stringify as toYaml } from 'yaml';
import { loadConfig } from '@kgw/config';
import { createPki, PodStreams, startSimulator, type RunningSimulator } from '@kgw/kube-sim';
import { startGateway, type RunningGateway } from '../../apps/gateway/src/gateway';
import {
  startDevOidcProvider,
  type RunningDevOidcProvider,
} from '../../apps/gateway/src/dev-oidc/dev-oidc-provider';
import { FaultProxy } from './fault-proxy';
import { KubectlRunner } from './kubectl';
import { startTestPostgres, type TestPostgres } from './postgres';

/** Callers known to the gateway's static token file: token → identity. */
export const CALLERS = {
  alice: { token: 'tok-alice-0123456789', user: 'alice', groups: ['kgw:admins'] },
  bob: { token: 'tok-bob-0123456789', user: 'bob', groups: ['team-a'] },
  carol: { token: 'tok-carol-0123456789', user: 'carol', groups: ['viewers'] },
  // Identities an identity provider must never produce: the mapper refuses them.
  mallory: { token: 'tok-mallory-0123456789', user: 'system:admin', groups: [] as string[] },
  trudy: { token: 'tok-trudy-0123456789', user: 'trudy', groups: ['system:masters'] },
} as const;

export type CallerName = keyof typeof CALLERS;

/** Users of the built-in OpenID provider when a stack asks for it (`oidc: true`). */
export const OIDC_USERS = {
  alice: { password: 'alice-pw-1', groups: ['kgw:admins'] },
  bob: { password: 'bob-pw-1', groups: ['team-a'] },
  carol: { password: 'carol-pw-1', groups: ['viewers'] },
  // An identity provider that hands out system:masters must not make a cluster admin.
  trudy: { password: 'trudy-pw-1', groups: ['system:masters'] },
  // Mapped to the service account team-b/deployer by a rule on the group.
  erin: { password: 'erin-pw-1', groups: ['deployers'] },
} as const;

export const OIDC_CLIENT = { id: 'kgw', secret: 'kgw-client-secret-for-tests' };

export interface GatewayStack {
  sim: RunningSimulator;
  /** The simulator's pod streams (its recentStreams say which wire and user a stream used). */
  simStreams: PodStreams;
  /** The built-in OpenID provider, when started (`oidc: true`). */
  oidc?: RunningDevOidcProvider;
  /** The gateway's environment, to start another replica on the same database. */
  env: Record<string, string>;
  /** The stack's Postgres: tests may stop and restart it (it keeps its port). */
  pg: TestPostgres;
  gateway: RunningGateway;
  /** Between the gateway and the simulator, when asked for (`upstreamFaults: true`). */
  upstreamFaults?: FaultProxy;
  /** https://127.0.0.1:<port> */
  url: string;
  caPem: string;
  dir: string;
  /** Every line the gateway logged (JSON). */
  logLines(): string[];
  kubeconfig(caller: CallerName): string;
  /** Real kubectl as `caller` against the gateway (fresh HOME, processes killed on stop()). */
  kubectl(caller: CallerName): KubectlRunner;
  /** Real kubectl with a kubeconfig holding `token` (a personal token, a JWT), named `name`. */
  kubectlWithToken(name: string, token: string): KubectlRunner;
  /** fetch() against the gateway over HTTPS, trusting the test CA. */
  request(
    caller: CallerName | undefined,
    path: string,
    init?: { method?: string; headers?: Record<string, string>; body?: string },
  ): Promise<HttpResult>;
  stop(): Promise<void>;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface GatewayStackOptions {
  /** Extra gateway environment (KGW_*). */
  env?: Record<string, string>;
  /** Start the built-in OpenID provider with OIDC_USERS and point the gateway at it. */
  oidc?: boolean;
  /** ID and access token lifetime at the built-in provider (default one hour): short, refreshes come soon. */
  oidcTokenTtlSeconds?: number;
  /** false: the simulator offers only HTTP/1.1 by ALPN (default: h2 and http/1.1, as kube-apiserver). */
  simHttp2?: boolean;
  /** Put a FaultProxy between the gateway and the simulator (stack.upstreamFaults). */
  upstreamFaults?: boolean;
}

export async function startGatewayStack(options: GatewayStackOptions = {}): Promise<GatewayStack> {
  const dir = mkdtempSync(join(tmpdir(), 'kgw-stack-'));
  chmodSync(dir, 0o755);
  let pg: TestPostgres | undefined;
  let sim: RunningSimulator | undefined;
  let simStreams: PodStreams | undefined;
  let oidc: RunningDevOidcProvider | undefined;
  let upstreamFaults: FaultProxy | undefined;
  try {
    if (options.oidc) {
      oidc = await startDevOidcProvider({
        users: Object.entries(OIDC_USERS).map(([name, u]) => ({
          name,
          password: u.password,
          groups: [...u.groups],
        })),
        clients: [{ clientId: OIDC_CLIENT.id, clientSecret: OIDC_CLIENT.secret }, { clientId: 'other-app' }],
        idTokenTtlSeconds: options.oidcTokenTtlSeconds,
      });
    }
    pg = await startTestPostgres();
    sim = await startSimulator({
      scenario: 'demo',
      streams: (streamOptions) => (simStreams = new PodStreams(streamOptions)),
      http2: options.simHttp2,
    });
    const simKubeconfigs = await sim.writeKubeconfigs(join(dir, 'sim'));
    let gatewayKubeconfig = simKubeconfigs.kgw;
    if (options.upstreamFaults) {
      upstreamFaults = await FaultProxy.start({ host: sim.host, port: sim.port });
      // The same kubeconfig, its server the proxy (the simulator's certificate is for 127.0.0.1).
      const kubeconfig = fromYaml(readFileSync(gatewayKubeconfig, 'utf8')) as {
        clusters: Array<{ cluster: { server: string } }>;
      };
      for (const { cluster } of kubeconfig.clusters) cluster.server = `https://${upstreamFaults.hostPort}`;
      gatewayKubeconfig = join(dir, 'kubeconfig-gateway-via-faults');
      writeFileSync(gatewayKubeconfig, toYaml(kubeconfig));
    }

    const pki = await createPki(['localhost'], ['127.0.0.1']);
    writeFileSync(join(dir, 'tls.crt'), pki.serving.certPem);
    writeFileSync(join(dir, 'tls.key'), pki.serving.keyPem);
    writeFileSync(join(dir, 'ca.crt'), pki.ca.certPem);
    writeFileSync(
      join(dir, 'tokens.csv'),
      Object.values(CALLERS)
        .map((c) => `${c.token},${c.user},,"${c.groups.join(',')}"`)
        .join('\n'),
    );

    const lines: string[] = [];
    const capture = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const env: Record<string, string> = {
      KGW_HTTP_PORT: '0',
      DATABASE_URL: pg.url,
      KGW_KUBE_MODE: 'kubeconfig',
      KGW_KUBECONFIG: gatewayKubeconfig,
      KGW_AUTH_TOKEN_FILE: join(dir, 'tokens.csv'),
      KGW_HTTP_TLS_CERT_FILE: join(dir, 'tls.crt'),
      KGW_HTTP_TLS_KEY_FILE: join(dir, 'tls.key'),
      // Users need the test CA: kubeconfigs from /kgw/v1/kubeconfig carry it.
      KGW_HTTP_TLS_CA_FILE: join(dir, 'ca.crt'),
      KGW_HTTP_SHUTDOWN_GRACE_MS: '2000',
      KGW_LOG_LEVEL: 'debug',
      // Each stack spools into its own directory: a spool belongs to one database.
      KGW_AUDIT_SPOOL_DIR: join(dir, 'audit-spool'),
      // Suites log in far more often than people do, all from 127.0.0.1.
      KGW_AUTH_LOGIN_START_LIMIT: '1000',
      ...(oidc
        ? {
            KGW_OIDC_ISSUER_URL: oidc.issuer,
            KGW_OIDC_CLIENT_ID: OIDC_CLIENT.id,
            KGW_OIDC_CLIENT_SECRET: OIDC_CLIENT.secret,
            // One issuer whose user names the suites' RBAC uses plainly (alice, bob...); the
            // default `<issuer>#sub` is the security suite's own row.
            KGW_OIDC_USERNAME_PREFIX: '-',
          }
        : {}),
      ...options.env,
    };
    const config = loadConfig(env);
    const gateway = await startGateway(config, {
      logDestination: capture,
    });
    const url = gateway.url;

    const writeKubeconfig = (name: string, token: string): string => {
      const path = join(dir, `kubeconfig-${name}`);
      writeFileSync(
        path,
        toYaml({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [
            {
              name: 'kgw',
              cluster: {
                server: url,
                'certificate-authority-data': Buffer.from(pki.ca.certPem).toString('base64'),
              },
            },
          ],
          users: [{ name, user: { token } }],
          contexts: [{ name: 'kgw', context: { cluster: 'kgw', user: name, namespace: 'default' } }],
          'current-context': 'kgw',
        }),
      );
      return path;
    };
    const kubeconfigs = {} as Record<CallerName, string>;
    for (const [name, caller] of Object.entries(CALLERS) as Array<[CallerName, (typeof CALLERS)[CallerName]]>)
      kubeconfigs[name] = writeKubeconfig(name, caller.token);
    const tokenRunners: KubectlRunner[] = [];
    const runners = new Map<CallerName, KubectlRunner>();
    const runningSim = sim;
    const runningPg = pg;

    const runningOidc = oidc;
    const runningFaults = upstreamFaults;
    return {
      sim: runningSim,
      upstreamFaults: runningFaults,
      simStreams: simStreams!,
      oidc: runningOidc,
      env,
      pg: runningPg,
      gateway,
      url,
      caPem: pki.ca.certPem,
      dir,
      logLines: () => [...lines],
      kubeconfig: (caller) => kubeconfigs[caller],
      kubectl(caller) {
        let runner = runners.get(caller);
        if (!runner) runners.set(caller, (runner = new KubectlRunner(kubeconfigs[caller])));
        return runner;
      },
      kubectlWithToken(name, token) {
        const runner = new KubectlRunner(writeKubeconfig(`token-${name}`, token));
        tokenRunners.push(runner);
        return runner;
      },
      request: (caller, path, init = {}) =>
        httpsRequest(url, pki.ca.certPem, caller ? CALLERS[caller].token : undefined, path, init),
      async stop() {
        for (const runner of [...runners.values(), ...tokenRunners]) await runner.cleanup();
        await gateway.close();
        await runningFaults?.stop();
        await runningSim.stop();
        await runningOidc?.stop();
        await runningPg.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await upstreamFaults?.stop();
    await sim?.stop();
    await oidc?.stop();
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** One HTTPS request to `base` trusting `caPem`, with `token` as a bearer when given. */
export async function httpsRequest(
  base: string,
  caPem: string,
  token: string | undefined,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string },
): Promise<HttpResult> {
  const { request } = await import('node:https');
  const url = new URL(base);
  return new Promise((done, fail) => {
    const req = request(
      {
        hostname: url.hostname,
        port: url.port,
        path,
        method: init.method ?? 'GET',
        ca: caPem,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', fail);
    req.end(init.body);
  });
}
