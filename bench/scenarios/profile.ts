// Where kgw spends its CPU under load (opt-in: `npm run bench -- --only profile`). For each
// request (get-pod, list-50-pods) and transport (plain HTTP, HTTPS), starts a dedicated gateway
// with `node --cpu-prof` against the fixed-response upstream, drives the load at it, stops it (the
// profile is written at exit), and prints the top self-time functions and a breakdown by origin (kgw's own code, each
// npm package, Node internals, GC) as JSON lines. The raw profiles are kept in .kgw/bench/ for
// Chrome DevTools or speedscope.
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext, BenchLine, BenchScenario } from '../support/context';
import { startGateway } from '../support/environment';
import { PROXY_PATHS, type ProxyScenarioName } from '../support/fixtures';
import { runLoad } from '../support/load';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Where a frame comes from: kgw's own code, an npm package, Node itself, or the VM. */
function originOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm:${pkg[1]}`;
  const own = /dist\/((?:apps|libs)\/[^/]+)/.exec(url);
  if (own) return `kgw:${own[1]}`;
  return url;
}

function shortLocation(url: string, line: number): string {
  const trimmed = url.replace(/^file:\/\//, '').replace(/^.*?\/(node_modules|dist)\//, '$1/');
  return trimmed ? `${trimmed}:${line + 1}` : '';
}

/**
 * Top self-time functions and origins. `window` (ms before the profile's end, when the process
 * exited) keeps only the samples taken while the load ran, so start-up (Nest, Prisma, migrations)
 * and shutdown are out. Counted back from the end because the profile's clock starts only once
 * Node has booted, a second or more after the spawn on a busy machine, and the start-up's Prisma
 * work then fell inside a window counted from the spawn.
 */
export function summariseProfile(
  profile: CpuProfile,
  window: { fromEndMs: number; toEndMs: number } | undefined,
  top = 20,
): {
  functions: Array<{ function: string; location: string; self_pct: number }>;
  origins: Array<{ origin: string; self_pct: number }>;
} {
  // Self time per node: the sampled time attributed to it (timeDeltas), else hit counts.
  const selfTime = new Map<number, number>();
  if (profile.samples && profile.timeDeltas) {
    let at = 0;
    const endMs = profile.timeDeltas.reduce((sum, delta) => sum + delta, 0) / 1000;
    profile.samples.forEach((id, i) => {
      const delta = profile.timeDeltas![i] ?? 0;
      at += delta;
      const beforeEnd = endMs - at / 1000;
      if (window && (beforeEnd > window.fromEndMs || beforeEnd < window.toEndMs)) return;
      selfTime.set(id, (selfTime.get(id) ?? 0) + delta);
    });
  } else {
    for (const node of profile.nodes) selfTime.set(node.id, node.hitCount ?? 0);
  }
  let total = 0;
  const byFunction = new Map<string, { function: string; location: string; time: number }>();
  const byOrigin = new Map<string, number>();
  for (const node of profile.nodes) {
    const time = selfTime.get(node.id) ?? 0;
    if (time <= 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    total += time;
    const key = `${functionName}@${url}:${lineNumber}`;
    const entry = byFunction.get(key) ?? {
      function: functionName || '(anonymous)',
      location: shortLocation(url, lineNumber),
      time: 0,
    };
    entry.time += time;
    byFunction.set(key, entry);
    const origin = originOf(url, functionName);
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + time);
  }
  const pct = (time: number): number => Number(((time / Math.max(total, 1)) * 100).toFixed(1));
  return {
    functions: [...byFunction.values()]
      .sort((a, b) => b.time - a.time)
      .slice(0, top)
      .map((f) => ({ function: f.function, location: f.location, self_pct: pct(f.time) })),
    origins: [...byOrigin.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([origin, time]) => ({ origin, self_pct: pct(time) })),
  };
}

export const profileBench: BenchScenario = {
  name: 'profile',
  description:
    'CPU profile of kgw under the get-pod and list-50-pods loads (node --cpu-prof): top self-time functions',
  optIn: true,
  async *run(ctx: BenchContext): AsyncIterable<BenchLine> {
    const keep = join(ctx.root, '.kgw', 'bench');
    mkdirSync(keep, { recursive: true });
    for (const [scenario, tls] of (Object.keys(PROXY_PATHS) as ProxyScenarioName[]).flatMap((name) =>
      [false, true].map((tls) => [name, tls] as const),
    )) {
      const transport = tls ? 'https' : 'http';
      if (ctx.options.filter && !ctx.options.filter.test(`fixed/${scenario}/${transport}`)) continue;
      const dir = join(ctx.workDir, `profile-${scenario}-${transport}`);
      mkdirSync(dir, { recursive: true });
      const gw = await startGateway(ctx, {
        upstream: 'fixed',
        tls,
        nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
        tag: 'profiled',
      });
      let result;
      let loadStarted = 0;
      let loadEnded = 0;
      try {
        loadStarted = Date.now() + ctx.options.warmupSec * 1000;
        ctx.log(
          `profile: ${scenario} over ${transport}, ${ctx.options.connections} connections × ${ctx.options.durationSec} s`,
        );
        result = await runLoad(
          {
            url: gw.url + PROXY_PATHS[scenario],
            caPem: gw.caPem,
            headers: { authorization: gw.authorization },
            pids: [gw.child.process.pid!],
          },
          ctx.options,
        );
        loadEnded = Date.now();
      } finally {
        await gw.child.stop();
      }
      // The measured part (after the warm-up), counted back from the exit (≈ now).
      const exited = Date.now();
      const window = { fromEndMs: exited - loadStarted, toEndMs: exited - loadEnded };
      const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
      if (!file) {
        yield { bench: 'profile', scenario, transport, error: 'no .cpuprofile was written' };
        continue;
      }
      const kept = join(keep, `kgw-${scenario}-${transport}.cpuprofile`);
      copyFileSync(join(dir, file), kept);
      const summary = summariseProfile(JSON.parse(readFileSync(kept, 'utf8')) as CpuProfile, window);
      const common = { bench: 'profile', scenario, transport };
      yield {
        ...common,
        rps: result.rps,
        p99_ms: result.p99_ms,
        cpu_us_per_req: result.proxy_cpu_us_per_req,
        profile: kept,
      };
      for (const origin of summary.origins.slice(0, 12)) yield { ...common, ...origin };
      let rank = 0;
      for (const fn of summary.functions) yield { ...common, rank: ++rank, ...fn };
    }
  },
};
