// Interleaved rounds of two load targets on one scenario: one warm-up each (thrown away), then N
// rounds run A B, B A, A B, … so that drift on a shared machine falls on both alike. Used where a
// module compares two gateways (audit-overhead: audited vs not; ab: this build vs a baseline).
import type { BenchContext, BenchLine } from './context';
import type { ProxyScenarioName } from './fixtures';
import type { LoadResult } from './load';
import { loadTargetFor, loadTargetOnce, type PreparedLoad, targetNamed, type UpstreamName } from './targets';

export const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The median of the values that were measured (CPU can be null), or null when none was. */
export function medianOf(values: ReadonlyArray<number | null>): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length ? round(median(known)) : null;
}

/** The run order of round `r` (0-based): A B, then B A, … (A B B A A B …). */
function roundOrder<T>(r: number, a: T, b: T): [T, T] {
  return r % 2 === 0 ? [a, b] : [b, a];
}

/**
 * Yields one line per measured run (`bench`, the scenario, target, round and the load's fields)
 * and returns every target's runs in round order.
 */
export async function* interleavedRounds(
  ctx: BenchContext,
  bench: string,
  upstream: UpstreamName,
  scenario: ProxyScenarioName,
  names: readonly [string, string],
): AsyncGenerator<BenchLine, Map<string, LoadResult[]>> {
  const { connections, durationSec, warmupSec, rounds } = ctx.options;
  const loads = new Map<string, PreparedLoad>();
  for (const name of names) loads.set(name, await loadTargetFor(ctx, targetNamed(name), upstream, scenario));
  // One warm-up per target (JIT, connection pools, SAR cache), then only measured runs.
  if (warmupSec > 0) {
    for (const name of names) {
      ctx.log(`${bench} ${scenario} ${name}: warm-up ${warmupSec} s`);
      await loadTargetOnce(name, loads.get(name)!, { connections, durationSec: warmupSec, warmupSec: 0 });
    }
  }
  const results = new Map<string, LoadResult[]>(names.map((name) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const name of roundOrder(r, names[0], names[1])) {
      ctx.log(
        `${bench} ${scenario} round ${r + 1}/${rounds} ${name}: ${connections} connections × ${durationSec} s`,
      );
      const result = await loadTargetOnce(name, loads.get(name)!, { connections, durationSec, warmupSec: 0 });
      results.get(name)!.push(result);
      yield {
        bench,
        scenario,
        upstream,
        target: name,
        round: r + 1,
        connections,
        duration_s: durationSec,
        ...result,
      };
    }
  }
  return results;
}
