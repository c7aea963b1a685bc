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
import { loadTargetFor, loadTargetOnce, type PreparedLoad, Skip, TARGETS } from '../support/targets';

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
          ctx.log(
            `proxy ${upstream} ${scenario} ${target.name}: ${connections} connections × ${durationSec} s`,
          );
          const result = await loadTargetOnce(target.name, prepared, { connections, durationSec, warmupSec });
          results.set(target.name, result);
          const anchor = results.get('kubectl-proxy');
          yield {
            ...common,
            connections,
            duration_s: durationSec,
            ...result,
            response_bytes: prepared.responseBytes,
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
        };
      }
    }
  },
};
