// Port-forward throughput (issue 5, and the anchor `kgw forward` must beat): a fixed byte count
// pushed into the SHA-256 sink of pod bench/pf (port 9), over one connection and over 16 in
// parallel, through
//   raw            — straight to the sink's loopback listener (the ceiling),
//   kubectl → sim  — `kubectl port-forward` to the simulator, WebSocket tunnel (kubectl's default)
//                    and plain SPDY (KUBECTL_PORT_FORWARD_WEBSOCKETS=false),
//   kubectl → kgw  — the same, with the kubeconfig pointing at the gateway (which pipes the
//                    upgraded connection to the simulator).
// Every transfer is checked: the sink answers `<sha256> <bytes>` and both must match.
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as net from 'node:net';
import type { BenchContext, BenchLine, BenchScenario } from '../support/context';
import { gateway, kubeconfigFile, kubectlEnv, simulator } from '../support/environment';
import { BENCH_NAMESPACE, BENCH_TOKEN, PORT_FORWARD_POD } from '../support/fixtures';
import { cpuTicks, withDescendants } from '../support/load';

const BLOCK = randomBytes(1024 * 1024);
const TRANSFER_TIMEOUT_MS = 180_000;

const expectedDigests = new Map<number, string>();
/** SHA-256 of `bytes` bytes of repeated BLOCK (computed once per size, outside the timing). */
function expectedDigest(bytes: number): string {
  let digest = expectedDigests.get(bytes);
  if (digest === undefined) {
    const hash = createHash('sha256');
    for (let sent = 0; sent < bytes; sent += BLOCK.length)
      hash.update(BLOCK.subarray(0, Math.min(BLOCK.length, bytes - sent)));
    digest = hash.digest('hex');
    expectedDigests.set(bytes, digest);
  }
  return digest;
}

/** Sends `bytes` to the sink at `port`, half-closes, and checks the digest it answers. */
function sendToSink(host: string, port: number, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: true });
    const timer = setTimeout(
      () => socket.destroy(new Error(`transfer of ${bytes} bytes not done in ${TRANSFER_TIMEOUT_MS} ms`)),
      TRANSFER_TIMEOUT_MS,
    );
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      clearTimeout(timer);
      socket.end();
      const reply = Buffer.concat(chunks).toString('utf8').trim();
      const expected = `${expectedDigest(bytes)} ${bytes}`;
      if (reply === expected) resolve();
      else reject(new Error(`sink answered "${reply.slice(0, 100)}", expected "${expected}"`));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('connect', () => {
      let sent = 0;
      const pump = (): void => {
        while (sent < bytes) {
          const size = Math.min(BLOCK.length, bytes - sent);
          sent += size;
          if (!socket.write(size === BLOCK.length ? BLOCK : BLOCK.subarray(0, size))) {
            socket.once('drain', pump);
            return;
          }
        }
        socket.end();
      };
      pump();
    });
  });
}

interface PathUnderTest {
  path: 'raw' | 'kubectl-sim' | 'kubectl-kgw-sim';
  wire: 'tcp' | 'websocket' | 'spdy';
  /** Returns the local port to connect to, the pids to account CPU for, and how to stop. */
  open(ctx: BenchContext): Promise<{ host?: string; port: number; pids: number[]; close(): Promise<void> }>;
}

async function kubectlPortForward(
  ctx: BenchContext,
  kubeconfig: string,
  wire: 'websocket' | 'spdy',
  name: string,
): Promise<{ port: number; pids: number[]; close(): Promise<void> }> {
  const child = ctx.processes.spawn(
    name,
    'kubectl',
    ['port-forward', '-n', BENCH_NAMESPACE, `pod/${PORT_FORWARD_POD}`, ':9', '--address', '127.0.0.1'],
    { env: kubectlEnv(ctx, kubeconfig, wire === 'spdy' ? { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' } : {}) },
  );
  const match = await child.waitFor(/Forwarding from 127\.0\.0\.1:(\d+) -> 9/);
  return { port: Number(match[1]), pids: withDescendants(child.process.pid!), close: () => child.stop() };
}

const PATHS: PathUnderTest[] = [
  {
    path: 'raw',
    wire: 'tcp',
    async open(ctx) {
      const sim = await simulator(ctx);
      return { host: sim.sinkHost, port: sim.sinkPort, pids: [], close: async () => undefined };
    },
  },
  ...(['websocket', 'spdy'] as const).map((wire): PathUnderTest => ({
    path: 'kubectl-sim',
    wire,
    async open(ctx) {
      const sim = await simulator(ctx);
      return kubectlPortForward(ctx, sim.adminKubeconfig, wire, `port-forward-sim-${wire}`);
    },
  })),
  ...(['websocket', 'spdy'] as const).map((wire): PathUnderTest => ({
    path: 'kubectl-kgw-sim',
    wire,
    async open(ctx) {
      const gw = await gateway(ctx, 'sim', true, ctx.options.kgwWorkers);
      const kubeconfig = kubeconfigFile(
        join(ctx.workDir, 'kgw-bench.kubeconfig'),
        gw.url,
        gw.caPem ?? '',
        BENCH_TOKEN,
      );
      const forward = await kubectlPortForward(ctx, kubeconfig, wire, `port-forward-kgw-${wire}`);
      return { ...forward, pids: [...forward.pids, gw.child.process.pid!] };
    },
  })),
];

const round = (value: number, digits = 1): number => Number(value.toFixed(digits));

export const portForwardBench: BenchScenario = {
  name: 'port-forward',
  description: 'kubectl port-forward throughput (sim, and through kgw) vs raw loopback TCP, MB/s',
  async *run(ctx: BenchContext): AsyncIterable<BenchLine> {
    const { forwardSingleBytes, forwardParallelBytes, forwardParallelStreams } = ctx.options;
    const shapes = [
      { streams: 1, bytesPerStream: forwardSingleBytes },
      { streams: forwardParallelStreams, bytesPerStream: forwardParallelBytes },
    ];
    for (const shape of shapes) expectedDigest(shape.bytesPerStream);
    const sim = await simulator(ctx);
    const raw = new Map<number, number>();
    for (const candidate of PATHS) {
      // raw always runs: the ratios need it.
      const id = `${candidate.path}/${candidate.wire}`;
      if (ctx.options.filter && candidate.path !== 'raw' && !ctx.options.filter.test(id)) continue;
      const opened = await candidate.open(ctx);
      try {
        for (const { streams, bytesPerStream } of shapes) {
          const total = streams * bytesPerStream;
          const common = {
            bench: 'port-forward',
            path: candidate.path,
            wire: candidate.wire,
            streams,
            bytes: total,
          };
          ctx.log(
            `port-forward ${candidate.path} ${candidate.wire}: ${streams} × ${bytesPerStream / 2 ** 20} MiB`,
          );
          // One small transfer first: kubectl opens its upstream stream lazily on first connection.
          await sendToSink(opened.host ?? '127.0.0.1', opened.port, BLOCK.length);
          const pids = [...opened.pids, sim.child.process.pid!];
          const cpuBefore = cpuTicks(pids);
          const started = process.hrtime.bigint();
          try {
            await Promise.all(
              Array.from({ length: streams }, () =>
                sendToSink(opened.host ?? '127.0.0.1', opened.port, bytesPerStream),
              ),
            );
          } catch (err) {
            yield { ...common, error: (err as Error).message };
            continue;
          }
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const cpuAfter = cpuTicks(pids);
          const mbPerSec = total / seconds / 1e6;
          if (candidate.path === 'raw') raw.set(streams, mbPerSec);
          const rawRate = raw.get(streams);
          yield {
            ...common,
            seconds: round(seconds, 3),
            mb_per_s: round(mbPerSec),
            ratio_vs_raw: rawRate ? round(mbPerSec / rawRate, 3) : null,
            // CPU of the forwarding processes (kubectl, kgw when in the path, and the simulator,
            // which ends the stream and runs the sink), % of one core.
            cpu_pct:
              cpuBefore === null || cpuAfter === null
                ? null
                : round(((cpuAfter - cpuBefore) / 100 / seconds) * 100, 0),
          };
        }
      } finally {
        await opened.close();
      }
    }
  },
};
