// HTTP load: a warm-up run that is thrown away, then a measured run with a fixed number of
// connections for a fixed time. The load generator is wrk (a C program, one thread: it leaves the
// second core to the proxy and the upstream, and measures latency in microseconds) when it is
// installed, else autocannon's programmatic API in this process (1 ms latency resolution); `npm run
// bench -- --load-generator wrk|autocannon` picks one. Also reads how much CPU the process under
// test used meanwhile (from /proc), because a multi-threaded proxy (kubectl, nginx) can use both
// cores while Node uses about one, and the reader should see that.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

export interface LoadTarget {
  url: string;
  headers?: Record<string, string>;
  /** CA to trust for an https URL (autocannon; wrk does not verify certificates). */
  caPem?: string;
  /** Processes whose CPU time is reported (the proxy under test). */
  pids?: number[];
  /** Helper processes of the proxy whose CPU is reported apart (kgw's Postgres, for the audit trail). */
  helperPids?: () => number[];
}

/** The run's generator for HTTP/1.1 loads (`--load-generator`). */
export type RunLoadGenerator = 'wrk' | 'autocannon';
/** h2load is asked for per load (HTTP/2 clients, fixed rates). */
export type LoadGenerator = RunLoadGenerator | 'h2load';

export interface LoadOptions {
  connections: number;
  durationSec: number;
  warmupSec: number;
  /** Overrides the run's load generator (`setLoadGenerator`) for this load. */
  loadGenerator?: LoadGenerator;
  /** h2load: streams in flight per connection (HTTP/2 multiplexing; 1 = one at a time). */
  streamsPerConnection?: number;
  /** h2load: HTTP/1.1 even over TLS (`--h1`); plain http targets are always HTTP/1.1. */
  http1?: boolean;
  /** h2load: a fixed total rate (requests/s, spread over the connections) instead of as fast as possible. */
  ratePerSecond?: number;
}

export interface LoadResult {
  load_generator: LoadGenerator;
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

/** What one run of either generator measured. Latencies in ms. */
interface RawRun {
  requests: number;
  seconds: number;
  bytes: number;
  errors: number;
  non2xx: number;
  p50: number;
  p90: number;
  p99: number;
  avg: number;
  max: number;
}

/** The wrk binary: on PATH or in the usual places, or undefined. */
export function findWrk(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean).concat(['/usr/bin', '/usr/local/bin']);
  return dirs.map((dir) => join(dir, 'wrk')).find((path) => existsSync(path));
}

let defaultGenerator: RunLoadGenerator | undefined;

/** The load generator of this run: `--load-generator`, else wrk when installed, else autocannon. */
export function setLoadGenerator(generator: RunLoadGenerator): void {
  if (generator === 'wrk' && !findWrk()) throw new Error('wrk is not installed (apt-get install -y wrk)');
  defaultGenerator = generator;
}

export function loadGenerator(): RunLoadGenerator {
  return defaultGenerator ?? (findWrk() ? 'wrk' : 'autocannon');
}

/** Loads in flight, so that an abort (Ctrl-C, SIGTERM, the bench's cleanup) can stop them. */
const inFlight = new Set<{ abort(): void; killNow(): void }>();
let exitHookInstalled = false;

/** Stops every load in flight (their runLoad rejects). Called by the bench's cleanup. */
export function abortLoads(): void {
  for (const run of [...inFlight]) run.abort();
}

function track(run: { abort(): void; killNow(): void }): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort, synchronous: no wrk outlives the bench.
    process.once('exit', () => {
      for (const r of inFlight) r.killNow();
    });
  }
  inFlight.add(run);
  return () => inFlight.delete(run);
}

function autocannonOnce(target: LoadTarget, connections: number, durationSec: number): Promise<RawRun> {
  return new Promise<RawRun>((resolve, reject) => {
    let aborted = false;
    const instance = autocannon(
      {
        url: target.url,
        connections,
        duration: durationSec,
        headers: target.headers,
        timeout: 10,
        tlsOptions: target.caPem ? { ca: target.caPem } : undefined,
      },
      (err, result) => {
        untrack();
        if (aborted) return reject(new Error('load aborted'));
        if (err) return reject(err);
        const seconds = result.duration > 0 ? result.duration : durationSec;
        resolve({
          requests: result.requests.total ?? result.requests.average * result.duration,
          seconds,
          bytes: result.throughput.total ?? result.throughput.average * seconds,
          errors: result.errors + result.timeouts,
          non2xx: result.non2xx,
          p50: result.latency.p50,
          p90: result.latency.p90,
          p99: result.latency.p99,
          avg: result.latency.average,
          max: result.latency.max,
        });
      },
    );
    const untrack = track({
      abort: () => {
        aborted = true;
        instance.stop();
      },
      killNow: () => instance.stop(),
    });
  });
}

// wrk calls done() once at the end with the whole run; this prints it as one JSON line on stdout
// (after wrk's own human-readable report). wrk records latency in microseconds; printed in ms with
// 3 decimals. errors.status counts responses with a status above 399 (wrk's "Non-2xx or 3xx").
const WRK_SCRIPT = `-- written by bench/support/load.ts
done = function(summary, latency, requests)
  local e = summary.errors
  local n = summary.requests
  local function ms(us) if n > 0 then return us / 1000 else return 0 end end
  io.write(string.format(
    '{"kgw_wrk":1,"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"connect":%.0f,"read":%.0f,"write":%.0f,"timeout":%.0f,"status":%.0f,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"avg_ms":%.3f,"max_ms":%.3f}\\n',
    n, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
    ms(latency.mean), ms(latency.max)))
end
`;

interface WrkSummary {
  requests: number;
  duration_us: number;
  bytes: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
  status: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  avg_ms: number;
  max_ms: number;
}

/**
 * One wrk run: 1 thread (on a 2-core machine the rest is for the proxy and its upstream),
 * `connections` keep-alive connections, `durationSec` seconds. wrk takes whole seconds only: a
 * fractional duration (the --quick warm-up) runs with the next whole second and is ended by SIGINT
 * on time (wrk then stops and reports as usual, with the real duration).
 *
 * For an https target wrk does NOT verify the server's certificate (it has no option to): fine for
 * this loopback bench, where the bench itself started the server; `caPem` is not used.
 */
function wrkOnce(
  binary: string,
  scriptFile: string,
  target: LoadTarget,
  connections: number,
  durationSec: number,
): Promise<RawRun> {
  const args = ['-t', '1', '-c', String(connections), '-d', `${Math.max(1, Math.ceil(durationSec))}s`];
  args.push('--timeout', '10s', '-s', scriptFile);
  for (const [name, value] of Object.entries(target.headers ?? {})) args.push('-H', `${name}: ${value}`);
  args.push(target.url);
  return new Promise<RawRun>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    let out = '';
    let err = '';
    let failure: Error | undefined;
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out = (out + chunk).slice(-100_000)));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err = (err + chunk).slice(-100_000)));
    const timers: NodeJS.Timeout[] = [];
    const kill = (signal: NodeJS.Signals): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    if (!Number.isInteger(durationSec) && durationSec < Math.ceil(durationSec))
      timers.push(setTimeout(() => kill('SIGINT'), durationSec * 1000));
    // Bounded: the run, wrk's 10 s request timeout, and a margin; then SIGKILL.
    timers.push(
      setTimeout(
        () => {
          failure = new Error(`wrk did not finish within ${Math.ceil(durationSec) + 20} s`);
          kill('SIGKILL');
        },
        (Math.ceil(durationSec) + 20) * 1000,
      ),
    );
    const untrack = track({
      abort: () => {
        failure = new Error('load aborted');
        kill('SIGKILL');
      },
      killNow: () => kill('SIGKILL'),
    });
    child.once('error', (e) => {
      failure ??= e;
    });
    child.once('close', (code, signal) => {
      for (const timer of timers) clearTimeout(timer);
      untrack();
      if (failure) return reject(failure);
      const line = out.split('\n').find((l) => l.startsWith('{"kgw_wrk":'));
      if (code !== 0 || !line) {
        return reject(
          new Error(
            `wrk ${args.join(' ')} exited (${code ?? signal}) without a result\n--- stdout ---\n${out.slice(-2000)}\n--- stderr ---\n${err.slice(-2000)}`,
          ),
        );
      }
      const s = JSON.parse(line) as WrkSummary;
      resolve({
        requests: s.requests,
        seconds: s.duration_us > 0 ? s.duration_us / 1e6 : durationSec,
        bytes: s.bytes,
        errors: s.connect + s.read + s.write + s.timeout,
        non2xx: s.status,
        p50: s.p50_ms,
        p90: s.p90_ms,
        p99: s.p99_ms,
        avg: s.avg_ms,
        max: s.max_ms,
      });
    });
  });
}

/** h2load (Debian package nghttp2-client), the HTTP/2 load generator: on PATH or in /usr/bin, or undefined. */
export function findH2load(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean).concat(['/usr/bin', '/usr/local/bin']);
  return dirs.map((dir) => join(dir, 'h2load')).find((path) => existsSync(path));
}

/** A percentile of sorted values (nearest rank). */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * One h2load run: `connections` clients, each with `streamsPerConnection` streams in flight (h2)
 * or one request at a time (--h1), for `durationSec`; or, with `ratePerSecond`, each client
 * sending its share of that rate (--rps). h2load prints no percentiles, so every request's
 * duration comes from its --log-file (µs) and p50/p90/p99 are computed here. Like wrk, h2load does
 * not verify the server's certificate (loopback servers the bench started).
 */
function h2loadOnce(
  binary: string,
  dir: string,
  target: LoadTarget,
  options: LoadOptions,
  durationSec: number,
): Promise<RawRun> {
  const logFile = join(dir, `requests-${Date.now()}.tsv`);
  const seconds = Math.max(1, Math.ceil(durationSec));
  const plain = target.url.startsWith('http:');
  const args = ['-c', String(options.connections), '-D', String(seconds), '--log-file', logFile];
  args.push('-m', String(plain || options.http1 ? 1 : (options.streamsPerConnection ?? 1)));
  // h2load speaks HTTP/2 by default, even over plain http (h2c): kgw and kubectl proxy do not.
  if (plain || options.http1) args.push('--h1');
  if (options.ratePerSecond)
    args.push('--rps', String(Math.max(1, Math.round(options.ratePerSecond / options.connections))));
  for (const [name, value] of Object.entries(target.headers ?? {})) args.push('-H', `${name}: ${value}`);
  args.push(target.url);
  return new Promise<RawRun>((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let failure: Error | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out = (out + chunk).slice(-20_000)));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out = (out + chunk).slice(-20_000)));
    const timer = setTimeout(
      () => {
        failure = new Error(`h2load did not finish within ${seconds + 20} s`);
        child.kill('SIGKILL');
      },
      (seconds + 20) * 1000,
    );
    const untrack = track({
      abort: () => {
        failure = new Error('load aborted');
        child.kill('SIGKILL');
      },
      killNow: () => child.kill('SIGKILL'),
    });
    child.once('error', (e) => (failure ??= e));
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      untrack();
      if (failure) return reject(failure);
      const requests =
        /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
          out,
        );
      const statuses = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
      const traffic = /traffic: .*?\((\d+)\) total/.exec(out);
      if (code !== 0 || !requests || !statuses || !existsSync(logFile)) {
        return reject(
          new Error(
            `h2load ${args.join(' ')} exited (${code ?? signal}) without a result\n${out.slice(-2000)}`,
          ),
        );
      }
      // Columns: start (µs since epoch), status, duration (µs).
      const durations = readFileSync(logFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => Number(line.split('\t')[2]) / 1000)
        .filter((ms) => Number.isFinite(ms))
        .sort((a, b) => a - b);
      rmSync(logFile, { force: true });
      const n = (i: number): number => Number(requests[i]);
      resolve({
        requests: n(3),
        seconds,
        bytes: traffic ? Number(traffic[1]) : 0,
        errors: n(5) + n(6) + n(7),
        non2xx: Number(statuses[3]) + Number(statuses[4]),
        p50: percentile(durations, 50),
        p90: percentile(durations, 90),
        p99: percentile(durations, 99),
        avg: durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length : 0,
        max: durations.at(-1) ?? 0,
      });
    });
  });
}

export async function runLoad(target: LoadTarget, options: LoadOptions): Promise<LoadResult> {
  const generator = options.loadGenerator ?? loadGenerator();
  let once: (durationSec: number) => Promise<RawRun>;
  let scratch: string | undefined;
  if (generator === 'h2load') {
    const binary = findH2load();
    if (!binary) throw new Error('h2load is not installed (apt-get install -y nghttp2-client)');
    scratch = mkdtempSync(join(tmpdir(), 'kgw-bench-h2load-'));
    const dir = scratch;
    once = (durationSec) => h2loadOnce(binary, dir, target, options, durationSec);
  } else if (generator === 'wrk') {
    const binary = findWrk();
    if (!binary) throw new Error('wrk is not installed (apt-get install -y wrk)');
    scratch = mkdtempSync(join(tmpdir(), 'kgw-bench-wrk-'));
    const scriptFile = join(scratch, 'report.lua');
    writeFileSync(scriptFile, WRK_SCRIPT);
    once = (durationSec) => wrkOnce(binary, scriptFile, target, options.connections, durationSec);
  } else {
    once = (durationSec) => autocannonOnce(target, options.connections, durationSec);
  }
  try {
    return await measure(generator, target, options, once);
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

async function measure(
  generator: LoadGenerator,
  target: LoadTarget,
  options: LoadOptions,
  once: (durationSec: number) => Promise<RawRun>,
): Promise<LoadResult> {
  if (options.warmupSec > 0) await once(options.warmupSec);
  const cpuBefore = cpuTicks(target.pids);
  const machineBefore = machineTicks();
  const helpers = target.helperPids?.() ?? [];
  const helperBefore = cpuTicks(helpers);
  const started = process.hrtime.bigint();
  const result = await once(options.durationSec);
  const wallSec = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuAfter = cpuTicks(target.pids);
  const machineAfter = machineTicks();
  const helperAfter = cpuTicks(helpers);
  const completed = result.requests;
  const seconds = result.seconds;
  const round = (value: number, digits = 2): number => Number(value.toFixed(digits));
  const proxyCpuSec = cpuBefore === null || cpuAfter === null ? null : (cpuAfter - cpuBefore) / CLOCK_TICKS;
  return {
    load_generator: generator,
    requests: completed,
    rps: round(completed / seconds, 1),
    // wrk: µs resolution, kept to 0.01 ms; autocannon: whole ms.
    p50_ms: round(result.p50),
    p90_ms: round(result.p90),
    p99_ms: round(result.p99),
    avg_ms: round(result.avg),
    max_ms: round(result.max),
    errors: result.errors,
    non2xx: result.non2xx,
    mb_per_s: round(result.bytes / seconds / 1e6),
    proxy_cpu_pct: proxyCpuSec === null ? null : round((proxyCpuSec / wallSec) * 100, 0),
    // Requests completed during wallSec; the generator's duration is the same window give or take a tick.
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
