// The targets (issue 16), checked at the end of the run against what the modules before
// measured in it: one line per target and scenario, each with `target_met` (true, false, or null
// when this run did not measure it — a module not run, filtered out, or skipped — with `reason`).
//
//   CPU per request, kgw-http ≤ 1.5× kubectl proxy          proxy module, fixed upstream
//   CPU per request, kgw-https ≤ 1.2× kgw-http              proxy module, fixed upstream
//   rps, kgw-http (default workers) ≥ 0.7× kubectl proxy     proxy module, fixed upstream
//   p99 at half of kubectl proxy's peak ≤ its p99 + 1 ms     fixed-rate module (kgw-http)
//   gateway memory per open watch ≤ 100 KB                   watch-scale's `kb_per_watch` (larger mode)
import type { BenchContext, BenchLine, BenchScenario } from '../support/context';
import { PROXY_PATHS, type ProxyScenarioName } from '../support/fixtures';

const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

function line(bench: string, fields: Record<string, string | number | null | undefined>) {
  return (l: BenchLine): boolean =>
    l.bench === bench && !l.skipped && Object.entries(fields).every(([k, v]) => l[k] === v);
}

function num(l: BenchLine | undefined, field: string): number | undefined {
  const v = l?.[field];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** A ratio target: `value / anchor` compared with `limit` (at most, or at least). */
function ratioLine(
  target: string,
  scenario: string,
  value: number | undefined,
  anchor: number | undefined,
  limit: number,
  atMost: boolean,
  missing: string,
  extra: Record<string, number | null> = {},
): BenchLine {
  const ratio = value !== undefined && anchor !== undefined && anchor > 0 ? round(value / anchor) : undefined;
  return {
    bench: 'targets',
    target,
    scenario,
    upstream: 'fixed',
    ...extra,
    ratio: ratio ?? null,
    limit,
    target_met: ratio === undefined ? null : atMost ? ratio <= limit : ratio >= limit,
    ...(ratio === undefined ? { reason: missing } : {}),
  };
}

export const targetsBench: BenchScenario = {
  name: 'targets',
  description: "the issue's targets, checked on what this run measured (target_met per line)",
  async *run(ctx: BenchContext): AsyncIterable<BenchLine> {
    const results = ctx.results;
    for (const scenario of Object.keys(PROXY_PATHS) as ProxyScenarioName[]) {
      const proxy = (target: string) => results.find(line('proxy', { upstream: 'fixed', scenario, target }));
      const kubectl = proxy('kubectl-proxy');
      const http = proxy('kgw-http');
      const https = proxy('kgw-https');
      const missing = 'not measured in this run (needs the proxy module on the fixed upstream)';
      const kubectlCpu = num(kubectl, 'proxy_cpu_us_per_req');
      const httpCpu = num(http, 'proxy_cpu_us_per_req');
      const httpsCpu = num(https, 'proxy_cpu_us_per_req');
      yield ratioLine(
        'cpu_per_request kgw-http <= 1.5x kubectl proxy',
        scenario,
        httpCpu,
        kubectlCpu,
        1.5,
        true,
        missing,
        {
          kgw_http_cpu_us_per_req: httpCpu ?? null,
          kubectl_proxy_cpu_us_per_req: kubectlCpu ?? null,
        },
      );
      yield ratioLine(
        'cpu_per_request kgw-https <= 1.2x kgw-http',
        scenario,
        httpsCpu,
        httpCpu,
        1.2,
        true,
        missing,
        {
          kgw_https_cpu_us_per_req: httpsCpu ?? null,
          kgw_http_cpu_us_per_req: httpCpu ?? null,
        },
      );
      const kubectlRps = num(kubectl, 'rps');
      const httpRps = num(http, 'rps');
      const httpsRps = num(https, 'rps');
      yield ratioLine(
        'rps kgw-http (default workers) >= 0.7x kubectl proxy',
        scenario,
        httpRps,
        kubectlRps,
        0.7,
        false,
        missing,
        {
          kgw_http_rps: httpRps ?? null,
          kubectl_proxy_rps: kubectlRps ?? null,
          // Not part of the target, shown beside it: the TLS deployment's ratio.
          kgw_https_ratio: httpsRps !== undefined && kubectlRps ? round(httpsRps / kubectlRps) : null,
        },
      );

      const fixed = (target: string) =>
        results.find(line('fixed-rate', { upstream: 'fixed', scenario, target }));
      const anchorP99 = num(fixed('kubectl-proxy'), 'p99_ms');
      const kgwP99 = num(fixed('kgw-http'), 'p99_ms');
      const p99Met =
        anchorP99 !== undefined && kgwP99 !== undefined
          ? kgwP99 <= anchorP99 + 1 && (num(fixed('kgw-http'), 'errors') ?? 0) === 0
          : null;
      yield {
        bench: 'targets',
        target: "p99 kgw-http at half of kubectl proxy's peak <= kubectl proxy p99 + 1 ms",
        scenario,
        upstream: 'fixed',
        rate_rps: num(fixed('kubectl-proxy'), 'rate_rps') ?? null,
        kubectl_proxy_p99_ms: anchorP99 ?? null,
        kgw_http_p99_ms: kgwP99 ?? null,
        kgw_https_p99_ms: num(fixed('kgw-https'), 'p99_ms') ?? null,
        kgw_https_h2_p99_ms: num(fixed('kgw-https-h2'), 'p99_ms') ?? null,
        limit_ms: anchorP99 === undefined ? null : round(anchorP99 + 1),
        target_met: p99Met,
        ...(p99Met === null
          ? { reason: 'not measured in this run (needs the fixed-rate module and h2load)' }
          : {}),
      };
    }
    // The watch-scale module reports gateway memory per open watch, per mode (HTTP/1.1, HTTP/2):
    // the target holds for the larger, and only when every watcher got every event in order.
    const watchLines = results.filter(
      (l) => l.bench === 'watch-scale' && num(l, 'kb_per_watch') !== undefined,
    );
    const watches = watchLines.reduce<BenchLine | undefined>(
      (worst, l) =>
        worst === undefined || num(l, 'kb_per_watch')! > num(worst, 'kb_per_watch')! ? l : worst,
      undefined,
    );
    const kb = num(watches, 'kb_per_watch');
    const delivered = watchLines.every((l) => l.every_event_in_order === true);
    yield {
      bench: 'targets',
      target: 'gateway memory per open watch <= 100 KB',
      mode: typeof watches?.mode === 'string' ? watches.mode : null,
      watches: num(watches, 'watches') ?? null,
      watches_requested: num(watches, 'watches_requested') ?? null,
      every_event_in_order: watchLines.length ? delivered : null,
      kb_per_watch: kb ?? null,
      limit_kb: 100,
      target_met: kb === undefined ? null : kb <= 100 && delivered,
      ...(kb === undefined ? { reason: 'no watch-scale line with kb_per_watch in this run' } : {}),
    };
  },
};
