// What the audit trail adds to the proxy path (issue 8's target: "the added p99 latency of the
// audit on the proxy path: within noise"). One pair of runs cannot say what noise is, so this
// module runs the real gateway (`kgw-http-single`: one process, audit to Postgres) and the same gateway with a
// discarding sink (`kgw-http-unaudited`) against the fixed upstream in N interleaved rounds —
// A B, B A, A B, … so that drift on a shared machine falls on both alike — and compares the
// medians with the spread each target shows against itself across the rounds.
//
// Lines: one per run (with its round), then a summary per scenario; fields in docs/bench.md.
import type { BenchContext, BenchLine, BenchScenario } from '../support/context';
import { PROXY_PATHS, type ProxyScenarioName } from '../support/fixtures';
import type { LoadResult } from '../support/load';
import { interleavedRounds, median, medianOf, round } from '../support/rounds';
import type { UpstreamName } from '../support/targets';

const AUDITED = 'kgw-http-single';
const UNAUDITED = 'kgw-http-unaudited';
const UPSTREAM: UpstreamName = 'fixed';

/** `<prefix>_<field>_median|min|max` over the rounds, e.g. `kgw_http_p99_ms_median`. */
function spread(prefix: string, field: string, values: readonly number[]): Record<string, number> {
  return {
    [`${prefix}_${field}_median`]: round(median(values)),
    [`${prefix}_${field}_min`]: round(Math.min(...values)),
    [`${prefix}_${field}_max`]: round(Math.max(...values)),
  };
}

export const auditOverheadBench: BenchScenario = {
  name: 'audit-overhead',
  description: `the audit trail's added p99 on the proxy path: ${AUDITED} vs ${UNAUDITED}, interleaved rounds`,
  async *run(ctx: BenchContext): AsyncIterable<BenchLine> {
    const { connections, durationSec, rounds, filter } = ctx.options;
    const names = [AUDITED, UNAUDITED] as const;
    for (const scenario of Object.keys(PROXY_PATHS) as ProxyScenarioName[]) {
      // Both targets or neither: the comparison needs the pair.
      if (filter && !names.some((name) => filter.test(`${UPSTREAM}/${scenario}/${name}`))) continue;
      const t0 = Date.now();
      const results = yield* interleavedRounds(ctx, 'audit-overhead', UPSTREAM, scenario, names);
      const audited = results.get(AUDITED)!;
      const unaudited = results.get(UNAUDITED)!;
      const of = (runs: LoadResult[], field: 'rps' | 'p50_ms' | 'p99_ms'): number[] =>
        runs.map((run) => run[field]);
      const range = (values: number[]): number => Math.max(...values) - Math.min(...values);

      const addedP99 = median(of(audited, 'p99_ms')) - median(of(unaudited, 'p99_ms'));
      // Noise: how far each target's p99 moves against itself across the rounds (max − min);
      // the larger of the two. Undefined with one round.
      const noise =
        rounds >= 2 ? Math.max(range(of(audited, 'p99_ms')), range(of(unaudited, 'p99_ms'))) : null;
      const unauditedRps = median(of(unaudited, 'rps'));
      const failures = [...audited, ...unaudited].reduce((sum, run) => sum + run.errors + run.non2xx, 0);
      yield {
        bench: 'audit-overhead',
        summary: true,
        scenario,
        upstream: UPSTREAM,
        rounds,
        connections,
        duration_s: durationSec,
        ...spread('kgw_http', 'rps', of(audited, 'rps')),
        ...spread('kgw_http', 'p50_ms', of(audited, 'p50_ms')),
        ...spread('kgw_http', 'p99_ms', of(audited, 'p99_ms')),
        ...spread('kgw_http_unaudited', 'rps', of(unaudited, 'rps')),
        ...spread('kgw_http_unaudited', 'p50_ms', of(unaudited, 'p50_ms')),
        ...spread('kgw_http_unaudited', 'p99_ms', of(unaudited, 'p99_ms')),
        audit_added_p99_ms: round(addedP99),
        audit_added_p50_ms: round(median(of(audited, 'p50_ms')) - median(of(unaudited, 'p50_ms'))),
        noise_p99_ms: noise === null ? null : round(noise),
        within_noise: noise === null ? null : Math.abs(round(addedP99)) <= round(noise),
        // Paired view: in how many rounds the audited run's p99 was the higher of the pair.
        rounds_audited_p99_higher: audited.filter((run, i) => run.p99_ms > unaudited[i].p99_ms).length,
        audit_rps_ratio: unauditedRps > 0 ? round(median(of(audited, 'rps')) / unauditedRps) : null,
        kgw_http_cpu_us_per_req_median: medianOf(audited.map((r) => r.proxy_cpu_us_per_req)),
        kgw_http_unaudited_cpu_us_per_req_median: medianOf(unaudited.map((r) => r.proxy_cpu_us_per_req)),
        helper_cpu_pct_median: medianOf(audited.map((r) => r.helper_cpu_pct)),
        unaudited_helper_cpu_pct_median: medianOf(unaudited.map((r) => r.helper_cpu_pct)),
        errors: failures,
        seconds: Math.round((Date.now() - t0) / 1000),
      };
    }
  },
};
