// iperf3 (Debian package `iperf3`) as the tunnels module's traffic: its server is the pod's
// backend (bench/pf's iperf3 port, handed over by the simulator) and its client the local
// program sending through each path. Neither is the bottleneck: C, one copy in and out of the
// kernel, ~1.7 GB/s on one loaded core of this machine where the paths under test move hundreds
// of MB/s — the hashing Node sink the old port-forward module used made 273 MB/s and measured
// itself.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from './context';
import type { Child } from './processes';

export function findIperf3(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean).concat(['/usr/bin', '/usr/local/bin']);
  return dirs.map((dir) => join(dir, 'iperf3')).find((path) => existsSync(path));
}

/** The iperf3 server at host:port (the pod's address), started once per run. */
export function iperf3Server(ctx: BenchContext, host: string, port: number): Promise<Child> {
  return ctx.shared('iperf3-server', async () => {
    const binary = findIperf3();
    if (!binary) throw new Error('iperf3 is not installed (apt-get install -y iperf3)');
    ctx.log(`starting the iperf3 server on ${host}:${port} (bench/pf's iperf3 port)`);
    const child = ctx.processes.spawn('iperf3-server', binary, [
      '-s',
      '-B',
      host,
      '-p',
      String(port),
      '--forceflush',
    ]);
    await child.waitFor(/Server listening on/);
    return { value: child, stop: () => child.stop() };
  });
}

export interface Iperf3Run {
  /** Bytes per second the receiving side counted, over the measured seconds. */
  bytesPerSecond: number;
  /** The sender's TCP retransmits (0 on loopback unless something dropped). */
  retransmits: number | null;
  seconds: number;
}

/**
 * One iperf3 client run against 127.0.0.1:port: `streams` parallel connections for `seconds`
 * (after `omit` seconds of warm-up, not counted), client → server, or server → client with
 * `reverse` (iperf3 -R).
 */
export async function runIperf3(
  port: number,
  options: { streams: number; seconds: number; omit: number; reverse: boolean; host?: string },
): Promise<Iperf3Run> {
  // The server takes a moment to finish the previous test after its client is done; a client
  // that comes too soon is told "busy" at once, before any data moves: ask again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await runIperf3Once(port, options);
    } catch (err) {
      if (attempt >= 5 || !/server is busy/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}

function runIperf3Once(
  port: number,
  options: { streams: number; seconds: number; omit: number; reverse: boolean; host?: string },
): Promise<Iperf3Run> {
  const binary = findIperf3();
  if (!binary) return Promise.reject(new Error('iperf3 is not installed'));
  const args = [
    '-c',
    options.host ?? '127.0.0.1',
    '-p',
    String(port),
    '-P',
    String(options.streams),
    '-t',
    String(options.seconds),
    '-O',
    String(options.omit),
    '-J',
    // A client whose path died must not hang the bench (iperf3 3.12 has no connect timeout flag
    // for the data phase; --rcv-timeout covers a server that stopped sending).
    '--connect-timeout',
    '20000',
    ...(options.reverse ? ['-R'] : []),
  ];
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { timeout: (options.seconds + options.omit + 60) * 1000, maxBuffer: 16 << 20 },
      (err, stdout) => {
        let report: {
          error?: string;
          end?: {
            sum_received?: { bits_per_second?: number; seconds?: number };
            sum_sent?: { retransmits?: number };
          };
        };
        try {
          report = JSON.parse(stdout) as typeof report;
        } catch {
          return reject(err ?? new Error(`iperf3 printed no JSON: ${stdout.slice(0, 200)}`));
        }
        if (report.error) return reject(new Error(`iperf3: ${report.error}`));
        const received = report.end?.sum_received;
        if (!received?.bits_per_second)
          return reject(err ?? new Error('iperf3: no sum_received in its report'));
        resolve({
          bytesPerSecond: received.bits_per_second / 8,
          retransmits: report.end?.sum_sent?.retransmits ?? null,
          seconds: received.seconds ?? options.seconds,
        });
      },
    );
  });
}
