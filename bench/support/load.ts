// HTTP load with autocannon's programmatic API: a warm-up run that is thrown away, then a measured
// run with a fixed number of connections for a fixed time. Also reads how much CPU the process
// under test used meanwhile (from /proc), because a multi-threaded proxy (kubectl, nginx) can use
// both cores while Node uses about one, and the reader should see that.
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { cpus } from 'node:os';
import autocannon from 'autocannon';

export interface LoadTarget {
  url: string;
  headers?: Record<string, string>;
  /** CA to trust for an https URL. */
  caPem?: string;
  /** Processes whose CPU time is reported (the proxy under test). */
  pids?: number[];
  /** Helper processes of the proxy whose CPU is reported apart (kgw's Postgres, for the audit trail). */
  helperPids?: () => number[];
}

export interface LoadOptions {
  connections: number;
  durationSec: number;
  warmupSec: number;
}

export interface LoadResult {
  requests: number;
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  avg_ms: number;
  max_ms: number;
  errors: number;
  non2xx: number;
  mb_per_s: number;
  /** CPU used by `pids` during the measured run, in % of one core (200 = both cores busy). */
  proxy_cpu_pct: number | null;
  /** Proxy CPU per request in microseconds: steadier than rps when the machine is shared. */
  proxy_cpu_us_per_req: number | null;
  /** CPU used meanwhile by the proxy's helper processes (Postgres for kgw), same unit. */
  helper_cpu_pct: number | null;
  /** CPU used by the whole machine meanwhile (load generator, upstream, Postgres too), same unit. */
  machine_cpu_pct: number | null;
}

function once(target: LoadTarget, connections: number, durationSec: number) {
  return new Promise<autocannon.AutocannonResult>((resolve, reject) => {
    autocannon(
      {
        url: target.url,
        connections,
        duration: durationSec,
        headers: target.headers,
        timeout: 10,
        tlsOptions: target.caPem ? { ca: target.caPem } : undefined,
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

export async function runLoad(target: LoadTarget, options: LoadOptions): Promise<LoadResult> {
  if (options.warmupSec > 0) await once(target, options.connections, options.warmupSec);
  const cpuBefore = cpuTicks(target.pids);
  const machineBefore = machineTicks();
  const helpers = target.helperPids?.() ?? [];
  const helperBefore = cpuTicks(helpers);
  const started = process.hrtime.bigint();
  const result = await once(target, options.connections, options.durationSec);
  const wallSec = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuAfter = cpuTicks(target.pids);
  const machineAfter = machineTicks();
  const helperAfter = cpuTicks(helpers);
  const completed = result.requests.total ?? result.requests.average * result.duration;
  const seconds = result.duration > 0 ? result.duration : options.durationSec;
  const round = (value: number, digits = 2): number => Number(value.toFixed(digits));
  const proxyCpuSec = cpuBefore === null || cpuAfter === null ? null : (cpuAfter - cpuBefore) / CLOCK_TICKS;
  return {
    requests: completed,
    rps: round(completed / seconds, 1),
    p50_ms: result.latency.p50,
    p90_ms: result.latency.p90,
    p99_ms: result.latency.p99,
    avg_ms: round(result.latency.average),
    max_ms: result.latency.max,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    mb_per_s: round((result.throughput.total ?? result.throughput.average * seconds) / seconds / 1e6),
    proxy_cpu_pct: proxyCpuSec === null ? null : round((proxyCpuSec / wallSec) * 100, 0),
    // Requests completed during wallSec; autocannon's duration is the same window give or take a tick.
    proxy_cpu_us_per_req:
      proxyCpuSec === null || completed === 0 ? null : round((proxyCpuSec / completed) * 1e6, 0),
    helper_cpu_pct:
      helperBefore === null || helperAfter === null
        ? null
        : round(((helperAfter - helperBefore) / CLOCK_TICKS / wallSec) * 100, 0),
    machine_cpu_pct:
      machineBefore === null || machineAfter === null
        ? null
        : round(
            ((machineAfter.busy - machineBefore.busy) /
              Math.max(1, machineAfter.total - machineBefore.total)) *
              cpus().length *
              100,
            0,
          ),
  };
}

/** Busy and total jiffies of all CPUs (/proc/stat), or null off Linux. */
export function machineTicks(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const total = values.reduce((a, b) => a + b, 0);
    // idle + iowait are not busy.
    return { busy: total - (values[3] ?? 0) - (values[4] ?? 0), total };
  } catch {
    return null;
  }
}

/** Linux USER_HZ; 100 on every mainstream kernel build. */
const CLOCK_TICKS = 100;

/** utime + stime of the processes, in clock ticks; null where /proc is not available. */
export function cpuTicks(pids: number[] | undefined): number | null {
  if (!pids || pids.length === 0) return null;
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The command name (field 2) may contain spaces: fields are counted after its ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += Number(fields[11]) + Number(fields[12]);
    } catch {
      return null;
    }
  }
  return total;
}

/** A process and all its descendants (nginx workers, a dispatcher's child), from /proc. */
export function withDescendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [pid];
  }
  for (const name of entries) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...(parents.get(all[i]) ?? []));
  return all;
}

/** One request, to check a target answers what the bench expects before loading it. */
export function fetchOnce(target: LoadTarget): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(target.url);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      url,
      { headers: target.headers, ca: target.caPem, agent: false, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Descendants of this process whose command name starts with `prefix` (e.g. the Postgres servers). */
export function ownDescendantsNamed(prefix: string): number[] {
  return withDescendants(process.pid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith(prefix);
    } catch {
      return false;
    }
  });
}
