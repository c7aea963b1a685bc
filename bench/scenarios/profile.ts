// Where kgw spends its CPU under the small-GET load (opt-in: `npm run bench -- --only profile`).
// Starts a dedicated gateway with `node --cpu-prof` against the fixed-response upstream, drives
// the get-pod load at it over plain HTTP and over HTTPS, stops it (the profile is written at
// exit), and prints the top self-time functions and a breakdown by origin (kgw's own code, each
// npm package, Node internals, GC) as JSON lines. The raw profiles are kept in .kgw/bench/ for
// Chrome DevTools or speedscope.
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext, BenchLine, BenchScenario } from '../support/context';
import { startGateway } from '../support/environment';
import { PROXY_PATHS } from '../support/fixtures';
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
 * Top self-time functions and origins. `window` (ms since the profile started) keeps only the
 * samples taken while the load ran, so start-up (Nest, Prisma, migrations) and shutdown are out.
 */
export function summariseProfile(
  profile: CpuProfile,
  window: { fromMs: number; toMs: number } | undefined,
  top = 20,
): {
  functions: Array<{ function: string; location: string; self_pct: number }>;
  origins: Array<{ origin: string; self_pct: number }>;
} {
  // Self time per node: the sampled time attributed to it (timeDeltas), else hit counts.
  const selfTime = new Map<number, number>();
  if (profile.samples && profile.timeDeltas) {
    let at = 0;
    profile.samples.forEach((id, i) => {
      const delta = profile.timeDeltas![i] ?? 0;
      at += delta;
      if (window && (at / 1000 < window.fromMs || at / 1000 > window.toMs)) return;
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
  description: 'CPU profile of kgw under the get-pod load (node --cpu-prof): top self-time functions',
  optIn: true,
  async *run(ctx: BenchContext): AsyncIterable<BenchLine> {
    const keep = join(ctx.root, '.kgw', 'bench');
    mkdirSync(keep, { recursive: true });
    for (const tls of [false, true]) {
      const transport = tls ? 'https' : 'http';
      const dir = join(ctx.workDir, `profile-${transport}`);
      mkdirSync(dir, { recursive: true });
      const gw = await startGateway(ctx, {
        upstream: 'fixed',
        tls,
        nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
        tag: 'profiled',
      });
      let result;
      let window: { fromMs: number; toMs: number } | undefined;
      try {
        const loadStarted = Date.now();
        ctx.log(
          `profile: get-pod over ${transport}, ${ctx.options.connections} connections × ${ctx.options.durationSec} s`,
        );
        result = await runLoad(
          {
            url: gw.url + PROXY_PATHS['get-pod'],
            caPem: gw.caPem,
            headers: { authorization: gw.authorization },
            pids: [gw.child.process.pid!],
          },
          ctx.options,
        );
        // The profile clock starts with the process; keep the measured part (after the warm-up).
        window = {
          fromMs: loadStarted - gw.child.startedAt + ctx.options.warmupSec * 1000,
          toMs: Date.now() - gw.child.startedAt,
        };
      } finally {
        await gw.child.stop();
      }
      const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
      if (!file) {
        yield { bench: 'profile', transport, error: 'no .cpuprofile was written' };
        continue;
      }
      const kept = join(keep, `kgw-get-pod-${transport}.cpuprofile`);
      copyFileSync(join(dir, file), kept);
      const summary = summariseProfile(JSON.parse(readFileSync(kept, 'utf8')) as CpuProfile, window);
      yield { bench: 'profile', transport, rps: result.rps, p99_ms: result.p99_ms, profile: kept };
      for (const origin of summary.origins.slice(0, 12)) yield { bench: 'profile', transport, ...origin };
      let rank = 0;
      for (const fn of summary.functions) yield { bench: 'profile', transport, rank: ++rank, ...fn };
    }
  },
};
