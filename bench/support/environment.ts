// The things a bench talks to, each started once per run (BenchContext.shared) and each in its own
// process, so that the proxy under test, its upstream and the load generator do not share a core:
//   fixedUpstream  — bench/servers/fixed-upstream.ts (fixtures + SubjectAccessReview allowed)
//   simulator      — bench/servers/sim.ts (the demo cluster plus the bench's pods)
//   postgres       — embedded Postgres for the gateways (they need a database to boot)
//   gateway        — dist/apps/gateway/src/main.js, as deployed (static token auth, SAR cache, audit)
//   unauditedGateway — the same with a discarding audit sink (bench/servers/gateway-unaudited.ts)
//   kubectlProxy   — the real `kubectl proxy`, the anchor
import { writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { EmbeddedPostgres } from '@kgw/db';
import { createPki } from '@kgw/kube-sim';
import type { BenchContext } from './context';
import { BENCH_TOKEN, BENCH_USER } from './fixtures';
import { freePort, waitForHttp, type Child } from './processes';

/** The gateway's own credential at the fixed upstream (which checks only that there is one). */
const FIXED_UPSTREAM_TOKEN = 'fixed-upstream-admin-token';

export interface UpstreamInfo {
  name: 'fixed' | 'sim';
  url: string;
  caPem: string;
  /** Admin credential: kubectl proxy uses it, and the "direct" target. */
  adminToken: string;
  /** kubectl proxy's kubeconfig (admin). */
  adminKubeconfig: string;
  /** The gateway's kubeconfig (its own service-account credential). */
  gatewayKubeconfig: string;
  child: Child;
}

export interface SimInfo extends UpstreamInfo {
  /** Loopback address and port of the sink listener behind pod bench/pf port 9. */
  sinkHost: string;
  sinkPort: number;
  /** The echo listener behind bench/pf port 7 (the raw anchor of time to first byte). */
  echoHost: string;
  echoPort: number;
  /** Where the iperf3 server behind bench/pf's iperf3 port must listen (the pod IP and port). */
  iperf3Host: string;
  iperf3Port: number;
}

export function distPath(ctx: BenchContext, ...parts: string[]): string {
  return join(ctx.root, 'dist', ...parts);
}

export function kubeconfigFile(
  path: string,
  server: string,
  caPem: string,
  token: string,
  user = 'bench',
): string {
  writeFileSync(
    path,
    toYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'bench',
          cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
        },
      ],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: 'bench', context: { cluster: 'bench', user, namespace: 'default' } }],
      'current-context': 'bench',
    }),
    { mode: 0o600 },
  );
  return path;
}

export function fixedUpstream(ctx: BenchContext): Promise<UpstreamInfo> {
  return ctx.shared('fixed-upstream', async () => {
    ctx.log('starting the fixed-response upstream');
    const child = ctx.processes.spawn('fixed-upstream', process.execPath, [
      distPath(ctx, 'bench', 'servers', 'fixed-upstream.js'),
      ctx.workDir,
    ]);
    const ready = await child.firstJsonLine<{ url: string; caFile: string }>();
    const caPem = readFileSync(ready.caFile, 'utf8');
    const kubeconfig = kubeconfigFile(
      join(ctx.workDir, 'fixed-admin.kubeconfig'),
      ready.url,
      caPem,
      FIXED_UPSTREAM_TOKEN,
    );
    return {
      value: {
        name: 'fixed',
        url: ready.url,
        caPem,
        adminToken: FIXED_UPSTREAM_TOKEN,
        adminKubeconfig: kubeconfig,
        gatewayKubeconfig: kubeconfig,
        child,
      },
      stop: () => child.stop(),
    };
  });
}

export function simulator(ctx: BenchContext): Promise<SimInfo> {
  return ctx.shared('simulator', async () => {
    ctx.log('starting the simulator (demo scenario + 50 pods in namespace bench + pod bench/pf)');
    const child = ctx.processes.spawn('kube-sim', process.execPath, [
      distPath(ctx, 'bench', 'servers', 'sim.js'),
      ctx.workDir,
    ]);
    const ready = await child.firstJsonLine<{
      url: string;
      caPem: string;
      adminKubeconfig: string;
      gatewayKubeconfig: string;
      sinkHost: string;
      sinkPort: number;
      echoHost: string;
      echoPort: number;
      iperf3Host: string;
      iperf3Port: number;
    }>();
    const admin = /token: (\S+)/.exec(readFileSync(ready.adminKubeconfig, 'utf8'));
    if (!admin) throw new Error('the simulator admin kubeconfig has no token');
    return {
      value: { name: 'sim', ...ready, adminToken: admin[1].replace(/^"|"$/g, ''), child },
      stop: () => child.stop(),
    };
  });
}

export function upstreamNamed(ctx: BenchContext, name: 'fixed' | 'sim'): Promise<UpstreamInfo> {
  return name === 'fixed' ? fixedUpstream(ctx) : simulator(ctx);
}

export function postgres(ctx: BenchContext): Promise<string> {
  return ctx.shared('postgres', async () => {
    ctx.log('starting embedded Postgres for the gateways');
    const server = new EmbeddedPostgres({ dataDir: join(ctx.workDir, 'pg') });
    const url = await server.start();
    return { value: url, stop: () => server.stop() };
  });
}

/** Gateway TLS material (a CA and a serving certificate for 127.0.0.1), made once. */
export function gatewayTls(ctx: BenchContext): Promise<{ certFile: string; keyFile: string; caPem: string }> {
  return ctx.shared('gateway-tls', async () => {
    const pki = await createPki(['localhost'], ['127.0.0.1']);
    const certFile = join(ctx.workDir, 'gateway-tls.crt');
    const keyFile = join(ctx.workDir, 'gateway-tls.key');
    writeFileSync(certFile, pki.serving.certPem);
    writeFileSync(keyFile, pki.serving.keyPem, { mode: 0o600 });
    return { value: { certFile, keyFile, caPem: pki.ca.certPem }, stop: async () => undefined };
  });
}

export interface GatewayInfo {
  url: string;
  /** The CA to trust for https URLs. */
  caPem?: string;
  /** Authorization header value for the bench caller. */
  authorization: string;
  child: Child;
}

export interface GatewayOptions {
  upstream: 'fixed' | 'sim';
  tls: boolean;
  /** Extra node flags (e.g. --cpu-prof) — such a gateway is not shared. */
  nodeFlags?: string[];
  /** Extra KGW_* settings. */
  env?: Record<string, string>;
  /** Distinguishes otherwise identical gateways (a profiled one, say). */
  tag?: string;
  /** Another build's dist/apps/gateway/src/main.js (a baseline to compare an optimisation with). */
  main?: string;
}

/** Starts the gateway as its own process, configured the production way for one upstream. */
export async function startGateway(ctx: BenchContext, options: GatewayOptions): Promise<GatewayInfo> {
  const upstream = await upstreamNamed(ctx, options.upstream);
  const databaseUrl = await postgres(ctx);
  const tokenFile = join(ctx.workDir, 'tokens.csv');
  writeFileSync(tokenFile, `${BENCH_TOKEN},${BENCH_USER},,"bench"\n`, { mode: 0o600 });
  const tls = options.tls ? await gatewayTls(ctx) : undefined;
  const port = await freePort();
  const name = `kgw-${options.upstream}-${options.tls ? 'https' : 'http'}${options.tag ? `-${options.tag}` : ''}`;
  ctx.log(`starting gateway ${name} on port ${port}`);
  const child = ctx.processes.spawn(
    name,
    process.execPath,
    [...(options.nodeFlags ?? []), options.main ?? distPath(ctx, 'apps', 'gateway', 'src', 'main.js')],
    {
      cwd: ctx.workDir,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: ctx.workDir,
        KGW_HTTP_HOST: '127.0.0.1',
        KGW_HTTP_PORT: String(port),
        DATABASE_URL: databaseUrl,
        KGW_KUBE_MODE: 'kubeconfig',
        KGW_KUBECONFIG: upstream.gatewayKubeconfig,
        KGW_AUTH_TOKEN_FILE: tokenFile,
        KGW_LOG_LEVEL: 'warn',
        KGW_LOG_FORMAT: 'json',
        KGW_HTTP_SHUTDOWN_GRACE_MS: '1000',
        // One bench token sends thousands of requests a second: the rate limits stay on (their
        // cost is part of the hot path measured) but far above what the load reaches.
        KGW_LIMITS_USER_RATE: '10000000',
        KGW_LIMITS_TOKEN_RATE: '10000000',
        ...(tls ? { KGW_HTTP_TLS_CERT_FILE: tls.certFile, KGW_HTTP_TLS_KEY_FILE: tls.keyFile } : {}),
        // Settings for every gateway of the run (e.g. KGW_KUBE_HTTP2=off: A/B the HTTP/1.1 path).
        ...settingsFrom('KGW_BENCH_GATEWAY_ENV'),
        ...options.env,
      },
    },
  );
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/kgw/healthz`, {
      ca: tls?.caPem,
      expectStatus: 200,
      timeoutMs: 90_000,
      alive: () => child.running,
    });
  } catch (err) {
    await child.stop();
    throw new Error(`${(err as Error).message}\n${child.tail()}`);
  }
  return { url, caPem: tls?.caPem, authorization: `Bearer ${BENCH_TOKEN}`, child };
}

/** `NAME=value,…` from the environment variable `variable` (none when it is unset). */
function settingsFrom(variable: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of (process.env[variable] ?? '').split(',').filter(Boolean)) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new Error(`${variable}: "${pair}" is not NAME=value`);
    env[pair.slice(0, equals).trim()] = pair.slice(equals + 1);
  }
  return env;
}

/**
 * KGW_BENCH_BASELINE_GATEWAY=<other checkout>/dist/apps/gateway/src/main.js adds a `kgw-http-baseline`
 * target: the same load against that build in the same run, to A/B an optimisation on a machine
 * whose absolute numbers drift. KGW_BENCH_BASELINE_ENV='KGW_KUBE_HTTP2=off,…' gives the baseline
 * other settings (with this build when no other is named): A/B a setting. One process, like
 * kgw-http-single.
 */
export function baselineGateway(
  ctx: BenchContext,
  upstream: 'fixed' | 'sim',
): Promise<GatewayInfo> | undefined {
  const main = process.env.KGW_BENCH_BASELINE_GATEWAY;
  const settings = process.env.KGW_BENCH_BASELINE_ENV;
  if (!main && !settings) return undefined;
  const env = { KGW_HTTP_WORKERS: '1', ...settingsFrom('KGW_BENCH_BASELINE_ENV') };
  return ctx.shared(`gateway-${upstream}-http-baseline`, async () => {
    const info = await startGateway(ctx, { upstream, tls: false, main, env, tag: 'baseline' });
    return { value: info, stop: () => info.child.stop() };
  });
}

/**
 * The same gateway with a discarding audit sink (bench/servers/gateway-unaudited.ts), plain HTTP,
 * one per upstream: next to `gateway(ctx, upstream, false, 1)` it isolates the audit trail's cost.
 */
export function unauditedGateway(ctx: BenchContext, upstream: 'fixed' | 'sim'): Promise<GatewayInfo> {
  return ctx.shared(`gateway-${upstream}-http-unaudited`, async () => {
    const info = await startGateway(ctx, {
      upstream,
      tls: false,
      main: distPath(ctx, 'bench', 'servers', 'gateway-unaudited.js'),
      tag: 'unaudited',
    });
    return { value: info, stop: () => info.child.stop() };
  });
}

/** A shared gateway (one per upstream × transport × worker count; 0 workers = one per CPU). */
export function gateway(
  ctx: BenchContext,
  upstream: 'fixed' | 'sim',
  tls: boolean,
  workers: number,
): Promise<GatewayInfo> {
  return ctx.shared(`gateway-${upstream}-${tls ? 'https' : 'http'}-${workers}w`, async () => {
    const info = await startGateway(ctx, {
      upstream,
      tls,
      tag: workers === 1 ? undefined : `${workers || 'auto'}w`,
      env: { KGW_HTTP_WORKERS: String(workers) },
    });
    return { value: info, stop: () => info.child.stop() };
  });
}

export interface KubectlProxyInfo {
  url: string;
  child: Child;
}

/** Environment for kubectl: a fresh HOME (no cache, no user config) and the given kubeconfig. */
export function kubectlEnv(ctx: BenchContext, kubeconfig: string, extra: Record<string, string> = {}) {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: join(ctx.workDir, 'kubectl-home'),
    KUBECONFIG: kubeconfig,
    ...extra,
  };
}

/** The anchor: `kubectl proxy` (plain HTTP on 127.0.0.1, no auth, its kubeconfig's credential upstream). */
export function kubectlProxy(ctx: BenchContext, upstream: 'fixed' | 'sim'): Promise<KubectlProxyInfo> {
  return ctx.shared(`kubectl-proxy-${upstream}`, async () => {
    const info = await upstreamNamed(ctx, upstream);
    ctx.log(`starting kubectl proxy → ${upstream}`);
    const child = ctx.processes.spawn(
      `kubectl-proxy-${upstream}`,
      'kubectl',
      ['proxy', '--port=0', '--address=127.0.0.1'],
      { env: kubectlEnv(ctx, info.adminKubeconfig) },
    );
    const match = await child.waitFor(/Starting to serve on 127\.0\.0\.1:(\d+)/);
    const url = `http://127.0.0.1:${match[1]}`;
    await waitForHttp(`${url}/version`, { expectStatus: 200, alive: () => child.running });
    return { value: { url, child }, stop: () => child.stop() };
  });
}

/** The Node.js floor: bench/servers/minimal-proxy.ts in front of the upstream (plain HTTP, no auth). */
export function minimalNodeProxy(
  ctx: BenchContext,
  upstream: 'fixed' | 'sim',
): Promise<{ url: string; child: Child }> {
  return ctx.shared(`node-minimal-${upstream}`, async () => {
    const info = await upstreamNamed(ctx, upstream);
    const caFile = join(ctx.workDir, `${upstream}-ca-for-minimal.crt`);
    writeFileSync(caFile, info.caPem);
    ctx.log(`starting the minimal Node proxy → ${upstream}`);
    const child = ctx.processes.spawn(`node-minimal-${upstream}`, process.execPath, [
      distPath(ctx, 'bench', 'servers', 'minimal-proxy.js'),
      info.url,
      caFile,
      info.adminToken,
    ]);
    const { url } = await child.firstJsonLine<{ url: string }>();
    return { value: { url, child }, stop: () => child.stop() };
  });
}
