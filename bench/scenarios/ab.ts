// A/B of an optimisation on a shared machine (opt-in: `npm run bench -- --only ab`): this build's
// gateway (`kgw-http-single`, one process, audit to Postgres) against a baseline gateway
// (`kgw-http-baseline`: another build via KGW_BENCH_BASELINE_GATEWAY, and/or other settings via
// KGW_BENCH_BASELINE_ENV='KGW_KUBE_HTTP2=off,…'), both on the fixed upstream, for get-pod and
// list-50-pods. Each round loads both at the same time, each with its own load generator and the
// run's connections: on a machine shared with others, what else runs then falls on both alike
// (taking turns, A then B, two processes of one build came out 15 % apart in 5 of 6 rounds at a
// load average of 15). Give it a long --warmup (8 s or more): a gateway whose JIT has not settled
// uses more CPU per request round after round. The summary gives the medians of CPU per request, their ratio, in how many
// rounds this build used less, and the load average before and after.
import { loadavg } from 'node:os';
import type { BenchContext, BenchLine, BenchScenario } from '../support/context';
import { PROXY_PATHS, type ProxyScenarioName } from '../support/fixtures';
import type { LoadResult } from '../support/load';
import { median, medianOf, round } from '../support/rounds';
import { loadTargetFor, loadTargetOnce, targetNamed, type UpstreamName } from '../support/targets';

const CANDIDATE = 'kgw-http-single';
const BASELINE = 'kgw-http-baseline';
const UPSTREAM: UpstreamName = 'fixed';

export const abBench: BenchScenario = {
  name: 'ab',
  description: `this build (${CANDIDATE}) vs a baseline gateway (${BASELINE}), loaded together: CPU per request`,
  optIn: true,
  async *run(ctx: BenchContext): AsyncIterable<BenchLine> {
    if (!process.env.KGW_BENCH_BASELINE_GATEWAY && !process.env.KGW_BENCH_BASELINE_ENV)
      throw new Error(
        'set KGW_BENCH_BASELINE_GATEWAY (another build) and/or KGW_BENCH_BASELINE_ENV (settings)',
      );
    const { rounds, filter, connections, durationSec, warmupSec } = ctx.options;
    const names = [CANDIDATE, BASELINE] as const;
    for (const scenario of Object.keys(PROXY_PATHS) as ProxyScenarioName[]) {
      if (filter && !names.some((name) => filter.test(`${UPSTREAM}/${scenario}/${name}`))) continue;
      const loadBefore = loadavg()[0];
      const loads = await Promise.all(
        names.map((name) => loadTargetFor(ctx, targetNamed(name), UPSTREAM, scenario)),
      );
      const both = (seconds: number): Promise<LoadResult[]> =>
        Promise.all(
          names.map((name, i) =>
            loadTargetOnce(name, loads[i], { connections, durationSec: seconds, warmupSec: 0 }),
          ),
        );
      if (warmupSec > 0) await both(warmupSec);
      const candidate: LoadResult[] = [];
      const baseline: LoadResult[] = [];
      for (let r = 0; r < rounds; r++) {
        ctx.log(
          `ab ${scenario} round ${r + 1}/${rounds}: both × ${connections} connections × ${durationSec} s`,
        );
        const [a, b] = await both(durationSec);
        candidate.push(a);
        baseline.push(b);
        for (const [target, result] of [
          [CANDIDATE, a],
          [BASELINE, b],
        ] as const)
          yield { bench: 'ab', scenario, upstream: UPSTREAM, target, round: r + 1, connections, ...result };
      }
      const cpu = (runs: LoadResult[]): number | null => medianOf(runs.map((r) => r.proxy_cpu_us_per_req));
      const rps = (runs: LoadResult[]): number => round(median(runs.map((r) => r.rps)), 1);
      const candidateCpu = cpu(candidate);
      const baselineCpu = cpu(baseline);
      // Per round, this build's CPU per request over the baseline's: the load drifts between
      // rounds (both move together), so the median of the pairs says more than a ratio of medians.
      const pairs = candidate.flatMap((run, i) => {
        const base = baseline[i].proxy_cpu_us_per_req;
        return run.proxy_cpu_us_per_req !== null && base ? [run.proxy_cpu_us_per_req / base] : [];
      });
      yield {
        bench: 'ab',
        summary: true,
        scenario,
        upstream: UPSTREAM,
        rounds,
        baseline_gateway: process.env.KGW_BENCH_BASELINE_GATEWAY ?? 'this build',
        baseline_env: process.env.KGW_BENCH_BASELINE_ENV ?? null,
        cpu_us_per_req_median: candidateCpu,
        baseline_cpu_us_per_req_median: baselineCpu,
        cpu_ratio_paired_median: pairs.length ? round(median(pairs)) : null,
        rounds_candidate_cpu_lower: pairs.filter((ratio) => ratio < 1).length,
        rps_median: rps(candidate),
        baseline_rps_median: rps(baseline),
        p99_ms_median: round(median(candidate.map((r) => r.p99_ms))),
        baseline_p99_ms_median: round(median(baseline.map((r) => r.p99_ms))),
        errors: [...candidate, ...baseline].reduce((sum, run) => sum + run.errors + run.non2xx, 0),
        loadavg_before: round(loadBefore),
        loadavg_after: round(loadavg()[0]),
      };
    }
  },
};
