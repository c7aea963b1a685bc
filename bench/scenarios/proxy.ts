// The proxy bench (issue 6): the same HTTP load against kgw and the anchors, in one run, for each
// upstream (fixed-response server = pure proxy overhead; the simulator = a JS API server doing
// real work) and each request (one pod; a list of 50 pods). One JSON line per measurement, with
// the ratio to kubectl proxy in the same run, and a summary line per (upstream, request).
//
// Targets: kubectl proxy (plain HTTP, no auth: what people run today), kgw over HTTPS with a
// bearer token (the real deployment), kgw over plain HTTP (apples to apples with kubectl proxy),
// nginx (when installed), a minimal Node.js proxy (no auth, no audit: the floor for any Node
// proxy, bench/servers/minimal-proxy.ts), and the upstream itself (the ceiling); defined in
// ../support/targets.ts. kgw without its audit trail runs here too (one run each); whether the
// audit adds latency beyond noise is the audit-overhead module's question (rounds, interleaved).
import type { BenchContext, BenchLine, BenchScenario } from '../support/context';
import { PROXY_PATHS, type ProxyScenarioName } from '../support/fixtures';
import type { LoadResult } from '../support/load';
import {
  loadOptionsFor,
  loadTargetFor,
  loadTargetOnce,
  type PreparedLoad,
  Skip,
  TARGETS,
} from '../support/targets';

const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

export const proxyBench: BenchScenario = {
  name: 'proxy',
  description: 'kgw vs kubectl proxy (and nginx, and the upstream itself): rps, p50, p99',
  async *run(ctx: BenchContext): AsyncIterable<BenchLine> {
    const { connections, durationSec, warmupSec } = ctx.options;
    for (const upstream of ['fixed', 'sim'] as const) {
      for (const scenario of Object.keys(PROXY_PATHS) as ProxyScenarioName[]) {
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
          let prepared: PreparedLoad;
          try {
            prepared = await loadTargetFor(ctx, target, upstream, scenario);
          } catch (err) {
            if (!(err instanceof Skip)) throw err;
            if (err.quiet) continue;
            yield { ...common, skipped: true, reason: err.message };
            continue;
          }
          const load = loadOptionsFor(target, { connections, durationSec, warmupSec });
          ctx.log(
            `proxy ${upstream} ${scenario} ${target.name}: ${load.connections} connections` +
              `${load.streamsPerConnection ? ` × ${load.streamsPerConnection} streams` : ''} × ${durationSec} s`,
          );
          const result = await loadTargetOnce(target.name, prepared, load);
          results.set(target.name, result);
          const anchor = results.get('kubectl-proxy');
          yield {
            ...common,
            connections: load.connections,
            streams_per_connection: load.streamsPerConnection ?? 1,
            duration_s: durationSec,
            ...result,
            response_bytes: prepared.responseBytes,
            ratio_rps_vs_kubectl_proxy: anchor ? round(result.rps / anchor.rps) : null,
            p99_vs_kubectl_proxy: anchor && anchor.p99_ms > 0 ? round(result.p99_ms / anchor.p99_ms) : null,
          };
        }
        const anchor = results.get('kubectl-proxy');
        if (!anchor) continue;
        // The facts side by side; the issue's targets are checked by the `targets` module at the end.
        const facts = (name: string): Record<string, number | null> => {
          const r = results.get(name);
          const key = name.replaceAll('-', '_');
          return {
            [`${key}_rps`]: r?.rps ?? null,
            [`${key}_p99_ms`]: r?.p99_ms ?? null,
            [`${key}_cpu_us_per_req`]: r?.proxy_cpu_us_per_req ?? null,
          };
        };
        yield {
          bench: 'proxy',
          summary: true,
          scenario,
          upstream,
          ...facts('kubectl-proxy'),
          ...facts('kgw-https'),
          ...facts('kgw-https-h2'),
          ...facts('kgw-http'),
        };
      }
    }
  },
};
