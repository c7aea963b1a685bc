// Latency at a fixed rate (issue 16): half of kubectl proxy's peak rate in the same run, sent by
// h2load (--rps) to kubectl proxy and to kgw, p50/p90/p99 for each. A proxy that keeps up at
// full speed can still queue at a moderate rate; this is the rate a busy team would really send.
// The peak is the proxy module's kubectl-proxy rps when it ran before in this run, else measured
// here the same way (the run's load generator, as fast as it goes).
import type { BenchContext, BenchLine, BenchScenario } from '../support/context';
import { PROXY_PATHS, type ProxyScenarioName } from '../support/fixtures';
import { findH2load } from '../support/load';
import { loadOptionsFor, loadTargetFor, loadTargetOnce, Skip, targetNamed } from '../support/targets';

const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

/** The targets loaded at the fixed rate, the anchor first. */
export const FIXED_RATE_TARGETS = ['kubectl-proxy', 'kgw-http', 'kgw-https', 'kgw-https-h2'] as const;

export const fixedRateBench: BenchScenario = {
  name: 'fixed-rate',
  description: "p50/p99 at half of kubectl proxy's peak rate (h2load --rps), fixed upstream",
  async *run(ctx: BenchContext): AsyncIterable<BenchLine> {
    if (!findH2load()) {
      yield {
        bench: 'fixed-rate',
        skipped: true,
        reason: 'h2load is not installed (apt-get install -y nghttp2-client)',
      };
      return;
    }
    const { connections, durationSec, warmupSec } = ctx.options;
    const upstream = 'fixed';
    for (const scenario of Object.keys(PROXY_PATHS) as ProxyScenarioName[]) {
      const wanted = FIXED_RATE_TARGETS.filter(
        (name) => !ctx.options.filter || ctx.options.filter.test(`${upstream}/${scenario}/${name}`),
      );
      if (wanted.length === 0) continue;
      const peak = await peakRate(ctx, scenario);
      if (peak === undefined) continue;
      const rate = Math.max(1, Math.round(peak.rps / 2));
      let anchorP99: number | undefined;
      for (const name of wanted) {
        const target = targetNamed(name);
        const common = { bench: 'fixed-rate', scenario, upstream, target: name, transport: target.transport };
        let prepared;
        try {
          prepared = await loadTargetFor(ctx, target, upstream, scenario);
        } catch (err) {
          if (!(err instanceof Skip)) throw err;
          if (!err.quiet) yield { ...common, skipped: true, reason: err.message };
          continue;
        }
        const load = {
          ...loadOptionsFor(target, { connections, durationSec, warmupSec }),
          loadGenerator: 'h2load' as const,
          ratePerSecond: rate,
        };
        ctx.log(
          `fixed-rate ${scenario} ${name}: ${rate} req/s over ${load.connections} connections × ${durationSec} s`,
        );
        const r = await loadTargetOnce(name, prepared, load);
        if (name === 'kubectl-proxy') anchorP99 = r.p99_ms;
        yield {
          ...common,
          peak_source: peak.source,
          kubectl_proxy_peak_rps: peak.rps,
          rate_rps: rate,
          connections: load.connections,
          streams_per_connection: load.streamsPerConnection ?? 1,
          duration_s: durationSec,
          ...r,
          p99_minus_kubectl_proxy_ms: anchorP99 === undefined ? null : round(r.p99_ms - anchorP99),
        };
      }
    }
  },
};

/** kubectl proxy's peak rps on the fixed upstream: from the proxy module's line, else measured. */
async function peakRate(
  ctx: BenchContext,
  scenario: ProxyScenarioName,
): Promise<{ rps: number; source: string } | undefined> {
  const seen = ctx.results.find(
    (l) =>
      l.bench === 'proxy' &&
      l.upstream === 'fixed' &&
      l.scenario === scenario &&
      l.target === 'kubectl-proxy' &&
      typeof l.rps === 'number',
  );
  if (seen) return { rps: seen.rps as number, source: 'proxy module' };
  const target = targetNamed('kubectl-proxy');
  const prepared = await loadTargetFor(ctx, target, 'fixed', scenario);
  const { connections, durationSec, warmupSec } = ctx.options;
  ctx.log(
    `fixed-rate ${scenario}: kubectl proxy's peak first (${connections} connections × ${durationSec} s)`,
  );
  const r = await loadTargetOnce('kubectl-proxy', prepared, { connections, durationSec, warmupSec });
  return r.rps > 0 ? { rps: r.rps, source: `measured here (${r.load_generator})` } : undefined;
}
