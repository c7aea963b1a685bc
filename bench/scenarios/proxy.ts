// The proxy bench (issue 6): the same HTTP load against kgw and the anchors, in one run, for each
// upstream (fixed-response server = pure proxy overhead; the simulator = a JS API server doing
// real work) and each request (one pod; a list of 50 pods). One JSON line per measurement, with
// the ratio to kubectl proxy in the same run, and a summary line per (upstream, request).
//
// Targets: kubectl proxy (plain HTTP, no auth: what people run today), kgw over HTTPS with a
// bearer token (the real deployment), kgw over plain HTTP (apples to apples with kubectl proxy),
// nginx (when installed), a minimal Node.js proxy (no auth, no audit: the floor for any Node
// proxy, bench/servers/minimal-proxy.ts), and the upstream itself (the ceiling).
import type { BenchContext, BenchLine, BenchScenario } from '../support/context';
import {
  baselineGateway,
  distPath,
  gateway,
  kubectlProxy,
  minimalNodeProxy,
  startGateway,
  upstreamNamed,
} from '../support/environment';
import { PROXY_PATHS, type ProxyScenarioName } from '../support/fixtures';
import {
  fetchOnce,
  ownDescendantsNamed,
  runLoad,
  withDescendants,
  type LoadResult,
  type LoadTarget,
} from '../support/load';
import { findNginx, nginxProxy } from '../support/nginx';

type UpstreamName = 'fixed' | 'sim';

interface Target {
  name: string;
  transport: 'http' | 'https';
  /** A base URL + headers to load, or the reason this target is skipped. */
  prepare(ctx: BenchContext, upstream: UpstreamName): Promise<Omit<LoadTarget, 'url'> & { base: string }>;
}

class Skip extends Error {
  /** A quiet skip prints no line (an optional target nobody asked for). */
  constructor(
    message: string,
    readonly quiet = false,
  ) {
    super(message);
  }
}

const TARGETS: Target[] = [
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
      const gw = await gateway(ctx, upstream, true);
      return {
        base: gw.url,
        caPem: gw.caPem,
        headers: { authorization: gw.authorization },
        pids: [gw.child.process.pid!],
        helperPids: () => ownDescendantsNamed('postgres'),
      };
    },
  },
  {
    name: 'kgw-http',
    transport: 'http',
    async prepare(ctx, upstream) {
      const gw = await gateway(ctx, upstream, false);
      return {
        base: gw.url,
        headers: { authorization: gw.authorization },
        pids: [gw.child.process.pid!],
        helperPids: () => ownDescendantsNamed('postgres'),
      };
    },
  },
  {
    // The same gateway with a discarding audit sink: the difference to kgw-http is the audit
    // trail's cost on the proxy path (issue 8 asks for its added p99).
    name: 'kgw-http-unaudited',
    transport: 'http',
    async prepare(ctx, upstream) {
      const gw = await ctx.shared(`gateway-${upstream}-http-unaudited`, async () => {
        const info = await startGateway(ctx, {
          upstream,
          tls: false,
          main: distPath(ctx, 'bench', 'servers', 'gateway-unaudited.js'),
          tag: 'unaudited',
        });
        return { value: info, stop: () => info.child.stop() };
      });
      return {
        base: gw.url,
        headers: { authorization: gw.authorization },
        pids: [gw.child.process.pid!],
        helperPids: () => ownDescendantsNamed('postgres'),
      };
    },
  },
  {
    name: 'kgw-http-baseline',
    transport: 'http',
    async prepare(ctx, upstream) {
      const gw = await baselineGateway(ctx, upstream);
      if (!gw) throw new Skip('KGW_BENCH_BASELINE_GATEWAY is not set', true);
      return {
        base: gw.url,
        headers: { authorization: gw.authorization },
        pids: [gw.child.process.pid!],
        helperPids: () => ownDescendantsNamed('postgres'),
      };
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

/** Each request's body must be what the bench asked for, or the numbers mean nothing. */
const EXPECTED_KIND: Record<ProxyScenarioName, string> = {
  'get-pod': '"kind":"Pod"',
  'list-50-pods': '"kind":"PodList"',
};

const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

export const proxyBench: BenchScenario = {
  name: 'proxy',
  description: 'kgw vs kubectl proxy (and nginx, and the upstream itself): rps, p50, p99',
  async *run(ctx: BenchContext): AsyncIterable<BenchLine> {
    const { connections, durationSec, warmupSec } = ctx.options;
    for (const upstream of ['fixed', 'sim'] as const) {
      for (const scenario of Object.keys(PROXY_PATHS) as ProxyScenarioName[]) {
        const path = PROXY_PATHS[scenario];
        const results = new Map<string, LoadResult>();
        for (const target of TARGETS) {
          if (ctx.options.filter && !ctx.options.filter.test(`${upstream}/${scenario}/${target.name}`))
            continue;
          const common = {
            bench: 'proxy',
            scenario,
            upstream,
            target: target.name,
            transport: target.transport,
          };
          let load: LoadTarget;
          try {
            const prepared = await target.prepare(ctx, upstream);
            load = { ...prepared, url: prepared.base + path };
          } catch (err) {
            if (!(err instanceof Skip)) throw err;
            if (err.quiet) continue;
            yield { ...common, skipped: true, reason: err.message };
            continue;
          }
          const check = await fetchOnce(load);
          if (check.status !== 200 || !check.body.includes(EXPECTED_KIND[scenario])) {
            throw new Error(
              `${target.name} → ${upstream} ${path}: expected 200 with ${EXPECTED_KIND[scenario]}, got ${check.status}: ${check.body.slice(0, 300)}`,
            );
          }
          ctx.log(
            `proxy ${upstream} ${scenario} ${target.name}: ${connections} connections × ${durationSec} s`,
          );
          const result = await runLoad(load, { connections, durationSec, warmupSec });
          results.set(target.name, result);
          const anchor = results.get('kubectl-proxy');
          yield {
            ...common,
            connections,
            duration_s: durationSec,
            ...result,
            response_bytes: Buffer.byteLength(check.body),
            ratio_rps_vs_kubectl_proxy: anchor ? round(result.rps / anchor.rps) : null,
            p99_vs_kubectl_proxy: anchor && anchor.p99_ms > 0 ? round(result.p99_ms / anchor.p99_ms) : null,
          };
        }
        const anchor = results.get('kubectl-proxy');
        if (!anchor) continue;
        const verdict = (name: string): { ratio: number | null; met: boolean | null } => {
          const r = results.get(name);
          if (!r) return { ratio: null, met: null };
          const ratio = round(r.rps / anchor.rps);
          return {
            ratio,
            met: ratio >= 1.5 && r.p99_ms <= anchor.p99_ms && r.errors === 0 && r.non2xx === 0,
          };
        };
        const https = verdict('kgw-https');
        const http = verdict('kgw-http');
        yield {
          bench: 'proxy',
          summary: true,
          scenario,
          upstream,
          kubectl_proxy_rps: anchor.rps,
          kubectl_proxy_p99_ms: anchor.p99_ms,
          kgw_https_rps: results.get('kgw-https')?.rps ?? null,
          kgw_https_p99_ms: results.get('kgw-https')?.p99_ms ?? null,
          kgw_http_rps: results.get('kgw-http')?.rps ?? null,
          kgw_http_p99_ms: results.get('kgw-http')?.p99_ms ?? null,
          ratio_rps_https: https.ratio,
          ratio_rps_http: http.ratio,
          target: '>=1.5x kubectl proxy rps, p99 not worse, no errors',
          target_met_https: https.met,
          target_met_http: http.met,
          target_met: https.met === true && http.met === true,
          // What the audit trail adds on the proxy path: kgw-http minus the same gateway with a
          // discarding sink (issue 8's target: within noise).
          audit_added_p99_ms: diff(
            results.get('kgw-http')?.p99_ms,
            results.get('kgw-http-unaudited')?.p99_ms,
          ),
          audit_rps_ratio: ratioOf(results.get('kgw-http')?.rps, results.get('kgw-http-unaudited')?.rps),
        };
      }
    }
  },
};

function diff(a: number | undefined, b: number | undefined): number | null {
  return a === undefined || b === undefined ? null : round(a - b);
}

function ratioOf(a: number | undefined, b: number | undefined): number | null {
  return a === undefined || b === undefined || b === 0 ? null : round(a / b);
}
