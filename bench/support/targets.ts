// The HTTP proxies the bench loads, by name, shared by the modules that load them (proxy,
// audit-overhead): kubectl proxy, kgw over HTTPS and over plain HTTP, kgw with a discarding audit
// sink, a baseline build of kgw (opt-in), nginx (when installed), a minimal Node.js proxy, and the
// upstream itself. Each is started on first use (BenchContext.shared) and reused afterwards.
import type { BenchContext } from './context';
import {
  baselineGateway,
  gateway,
  kubectlProxy,
  minimalNodeProxy,
  unauditedGateway,
  upstreamNamed,
  type GatewayInfo,
} from './environment';
import { PROXY_PATHS, type ProxyScenarioName } from './fixtures';
import {
  fetchOnce,
  findH2load,
  ownDescendantsNamed,
  runLoad,
  withDescendants,
  type LoadOptions,
  type LoadResult,
  type LoadTarget,
} from './load';
import { findNginx, nginxProxy } from './nginx';
import type { Child } from './processes';

export type UpstreamName = 'fixed' | 'sim';

/** What `prepare` gives: a base URL + headers to load, and the process serving it (for its log). */
type Prepared = Omit<LoadTarget, 'url'> & { base: string; child?: Child };

export interface Target {
  name: string;
  transport: 'http' | 'https';
  /**
   * How this target is loaded when not the run's HTTP/1.1 generator: h2load with HTTP/2 streams
   * multiplexed on fewer connections (the same number of requests in flight).
   */
  load?: Pick<LoadOptions, 'loadGenerator' | 'streamsPerConnection'>;
  /** Starts (or reuses) the target; throws Skip when it cannot run here. */
  prepare(ctx: BenchContext, upstream: UpstreamName): Promise<Prepared>;
}

export class Skip extends Error {
  /** A quiet skip prints no line (an optional target nobody asked for). */
  constructor(
    message: string,
    readonly quiet = false,
  ) {
    super(message);
  }
}

/** A kgw process as a load target: its own CPU, and its Postgres's apart (the audit trail). */
function kgwTarget(gw: GatewayInfo): Prepared {
  return {
    base: gw.url,
    child: gw.child,
    caPem: gw.caPem,
    headers: { authorization: gw.authorization },
    // The primary and its workers (KGW_HTTP_WORKERS).
    pids: withDescendants(gw.child.process.pid!),
    helperPids: () => ownDescendantsNamed('postgres'),
  };
}

/** In the order the proxy module runs them. */
export const TARGETS: readonly Target[] = [
  {
    name: 'kubectl-proxy',
    transport: 'http',
    async prepare(ctx, upstream) {
      const proxy = await kubectlProxy(ctx, upstream);
      return { base: proxy.url, pids: withDescendants(proxy.child.process.pid!) };
    },
  },
  {
    name: 'kgw-https',
    transport: 'https',
    async prepare(ctx, upstream) {
      return kgwTarget(await gateway(ctx, upstream, true, ctx.options.kgwWorkers));
    },
  },
  {
    // kubectl's own way in: HTTP/2 over TLS, requests multiplexed (h2load, 8 streams a connection).
    name: 'kgw-https-h2',
    transport: 'https',
    load: { loadGenerator: 'h2load', streamsPerConnection: 8 },
    async prepare(ctx, upstream) {
      if (!findH2load())
        throw new Skip(
          'h2load is not installed (apt-get install -y nghttp2-client adds the HTTP/2 client targets)',
        );
      return kgwTarget(await gateway(ctx, upstream, true, ctx.options.kgwWorkers));
    },
  },
  {
    name: 'kgw-http',
    transport: 'http',
    async prepare(ctx, upstream) {
      return kgwTarget(await gateway(ctx, upstream, false, ctx.options.kgwWorkers));
    },
  },
  {
    // One process, next to kgw-http-unaudited (also one process): the pair isolates the audit.
    name: 'kgw-http-single',
    transport: 'http',
    async prepare(ctx, upstream) {
      return kgwTarget(await gateway(ctx, upstream, false, 1));
    },
  },
  {
    // The same gateway with a discarding audit sink: the difference to kgw-http is the audit
    // trail's cost on the proxy path (issue 8; the audit-overhead module measures it in rounds).
    name: 'kgw-http-unaudited',
    transport: 'http',
    async prepare(ctx, upstream) {
      return kgwTarget(await unauditedGateway(ctx, upstream));
    },
  },
  {
    name: 'kgw-http-baseline',
    transport: 'http',
    async prepare(ctx, upstream) {
      const gw = await baselineGateway(ctx, upstream);
      if (!gw) throw new Skip('KGW_BENCH_BASELINE_GATEWAY is not set', true);
      return kgwTarget(gw);
    },
  },
  {
    name: 'nginx',
    transport: 'http',
    async prepare(ctx, upstream) {
      const binary = findNginx();
      if (!binary)
        throw new Skip('nginx is not installed (apt-get install -y nginx-light to add this anchor)');
      const nginx = await nginxProxy(ctx, binary, await upstreamNamed(ctx, upstream));
      return { base: nginx.url, pids: withDescendants(nginx.child.process.pid!) };
    },
  },
  {
    name: 'node-minimal',
    transport: 'http',
    async prepare(ctx, upstream) {
      const proxy = await minimalNodeProxy(ctx, upstream);
      return { base: proxy.url, pids: [proxy.child.process.pid!] };
    },
  },
  {
    name: 'direct',
    transport: 'https',
    async prepare(ctx, upstream) {
      const info = await upstreamNamed(ctx, upstream);
      return {
        base: info.url,
        caPem: info.caPem,
        headers: { authorization: `Bearer ${info.adminToken}` },
        pids: [info.child.process.pid!],
      };
    },
  },
];

export function targetNamed(name: string): Target {
  const target = TARGETS.find((t) => t.name === name);
  if (!target) throw new Error(`no bench target "${name}"`);
  return target;
}

/** Each request's body must be what the bench asked for, or the numbers mean nothing. */
const EXPECTED_KIND: Record<ProxyScenarioName, string> = {
  'get-pod': '"kind":"Pod"',
  'list-50-pods': '"kind":"PodList"',
};

/** A target ready to load for one scenario. */
export interface PreparedLoad {
  load: LoadTarget;
  /** Bytes of the checked response body. */
  responseBytes: number;
  /** The process serving it, when the bench started one (its log explains a crash). */
  child?: Child;
}

/**
 * Starts (or reuses) the target and checks it answers the scenario's request with 200 and the
 * right `kind` before anyone loads it. Throws Skip as `prepare` does.
 */
export async function loadTargetFor(
  ctx: BenchContext,
  target: Target,
  upstream: UpstreamName,
  scenario: ProxyScenarioName,
): Promise<PreparedLoad> {
  const path = PROXY_PATHS[scenario];
  const { base, child, ...prepared } = await target.prepare(ctx, upstream);
  const load: LoadTarget = { ...prepared, url: base + path };
  const check = await fetchOnce(load);
  if (check.status !== 200 || !check.body.includes(EXPECTED_KIND[scenario])) {
    throw new Error(
      `${target.name} → ${upstream} ${path}: expected 200 with ${EXPECTED_KIND[scenario]}, got ${check.status}: ${check.body.slice(0, 300)}`,
    );
  }
  return { load, responseBytes: Buffer.byteLength(check.body), child };
}

/**
 * The load options for a target: the run's connections and times, and for a multiplexing target
 * (h2load) as many requests in flight over connections/streams connections.
 */
export function loadOptionsFor(target: Target, base: LoadOptions): LoadOptions {
  const streams = target.load?.streamsPerConnection ?? 1;
  return { ...base, ...target.load, connections: Math.max(1, Math.round(base.connections / streams)) };
}

/** runLoad, and when it fails because the target's process died, an error that says so, with its log. */
export async function loadTargetOnce(
  name: string,
  prepared: PreparedLoad,
  options: LoadOptions,
): Promise<LoadResult> {
  try {
    return await runLoad(prepared.load, options);
  } catch (err) {
    const child = prepared.child;
    if (!child || child.running) throw err;
    const status = child.process.exitCode ?? child.process.signalCode;
    throw new Error(
      `${name} exited (${status}) during the load: ${err instanceof Error ? err.message : String(err)}\n${child.tail()}`,
    );
  }
}
