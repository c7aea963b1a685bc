// `kgw forward` against kubectl port-forward and raw loopback (issue 13), in one run, to one pod:
// bench/pf, whose iperf3 port is served by a real iperf3 server (bench/support/iperf3.ts) — a
// sink that is not the bottleneck — and whose echo port answers the first-byte probes. Paths:
//   raw          — iperf3 client straight to the server at the pod's address (the ceiling),
//   kubectl-sim  — `kubectl port-forward` to the simulator (what a user with a kubeconfig has
//                  today), WebSocket (kubectl's default) and SPDY,
//   kubectl-kgw  — the same with the kubeconfig pointing at kgw (which pipes the upgrade on),
//   kgw-direct   — `kgw forward` (the built CLI) through a gateway in direct mode (pod IP),
//   kgw-api      — the same through a gateway in api mode (pods/portforward under impersonation),
//   node-tls-pipe — two Node processes piping each connection over its own TLS connection
//                  (bench/servers/tls-pipe.ts): the ceiling for any tunnel built like kgw's
//                  (a Node CLI and a Node gateway with TLS between them) on this machine.
// All forwards are opened first, then each measurement goes round every path in turn (so load
// drifting on a shared machine falls on all alike): time to first byte of a new connection on
// the already-open forward (p50/p99), then iperf3 throughput, 1 and 16 connections, each way. Then gateway memory per idle
// tunnel at --tunnels open tunnels (after a GC, through the inspector of a gateway started for
// it), and the target lines, each with target_met.
import * as net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { FrameType, ResetCode, SUBPROTOCOL, encodeFrame, type Welcome } from '@kgw/tunnel';
import type { BenchContext, BenchLine, BenchScenario } from '../support/context';
import {
  distPath,
  gateway,
  gatewayTls,
  kubeconfigFile,
  kubectlEnv,
  simulator,
  startGateway,
  type GatewayInfo,
  type SimInfo,
} from '../support/environment';
import { BENCH_NAMESPACE, BENCH_TOKEN, IPERF3_PORT, PORT_FORWARD_POD } from '../support/fixtures';
import { findIperf3, iperf3Server, runIperf3 } from '../support/iperf3';
import { cpuTicks, withDescendants } from '../support/load';
import type { Child } from '../support/processes';

const BENCH = 'tunnels';
/**
 * KGW_BENCH_TUNNELS_CPU_PROF=<dir>: the kgw CLI and the forward gateways run under
 * `node --cpu-prof` and write their profiles there at exit (summarise them with
 * `summariseProfile` from ./profile, or open them in Chrome DevTools).
 */
function profileFlags(): string[] {
  const dir = process.env.KGW_BENCH_TUNNELS_CPU_PROF;
  if (process.env.KGW_BENCH_TUNNELS_PERF_MAP) return ['--perf-basic-prof'];
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
}
const ECHO_PORT = 7;
const round = (value: number, digits = 1): number => Number(value.toFixed(digits));

type PathName = 'raw' | 'kubectl-sim' | 'kubectl-kgw' | 'kgw-direct' | 'kgw-api' | 'node-tls-pipe';

/**
 * KGW_BENCH_TUNNELS_BASELINE=<another build's dist/> adds `kgw-direct`/`baseline`: that build's
 * CLI and gateway, measured right after this build's `kgw-direct`, to A/B a data-path change in
 * one run. Keep the copy inside the repository so its requires resolve (`cp -r dist
 * .kgw/ab/tunnels-base/ && mkdir -p .kgw/ab/tunnels-base/prisma && cp -r prisma/migrations
 * .kgw/ab/tunnels-base/prisma/`).
 */
const BASELINE_DIST = process.env.KGW_BENCH_TUNNELS_BASELINE;

interface OpenedPath {
  /** Where iperf3 and the echo probes connect. */
  host: string;
  iperfPort: number;
  echoPort: number;
  /** CPU accounting: the local forwarder (kubectl, kgw), the gateway, the simulator. */
  pids: { client: number[]; gateway: number[]; sim: number[] };
  close(): Promise<void>;
}

interface PathUnderTest {
  path: PathName;
  wire: string;
  open(ctx: BenchContext, sim: SimInfo): Promise<OpenedPath>;
}

/** `kubectl port-forward pod/pf :iperf3 :echo` with `kubeconfig`; waits for both lines. */
async function kubectlForward(
  ctx: BenchContext,
  kubeconfig: string,
  wire: 'websocket' | 'spdy',
  name: string,
): Promise<{ child: Child; iperfPort: number; echoPort: number }> {
  const child = ctx.processes.spawn(
    name,
    'kubectl',
    [
      'port-forward',
      '-n',
      BENCH_NAMESPACE,
      `pod/${PORT_FORWARD_POD}`,
      `:${IPERF3_PORT}`,
      `:${ECHO_PORT}`,
      '--address',
      '127.0.0.1',
    ],
    { env: kubectlEnv(ctx, kubeconfig, wire === 'spdy' ? { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' } : {}) },
  );
  const iperf = await child.waitFor(new RegExp(`Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${IPERF3_PORT}`));
  const echo = await child.waitFor(new RegExp(`Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${ECHO_PORT}\\b`));
  return { child, iperfPort: Number(iperf[1]), echoPort: Number(echo[1]) };
}

/** A gateway for `kgw forward` in `mode`: one process (a tunnel lives on one), TLS, no long-running cap. */
function forwardGateway(
  ctx: BenchContext,
  mode: 'direct' | 'api' | 'memory',
  baseline?: string,
): Promise<GatewayInfo> {
  return ctx.shared(`gateway-forward-${mode}${baseline ? '-baseline' : ''}`, async () => {
    const info = await startGateway(ctx, {
      upstream: 'sim',
      tls: true,
      tag: `forward-${mode}${baseline ? '-baseline' : ''}`,
      main: baseline ? join(baseline, 'apps', 'gateway', 'src', 'main.js') : undefined,
      // The memory gateway gets an inspector on loopback: the bench asks it for a GC and
      // process.memoryUsage() (no bench-only code in the gateway).
      nodeFlags: mode === 'memory' ? ['--inspect=127.0.0.1:0'] : profileFlags(),
      env: {
        KGW_FORWARD_MODE: mode === 'api' ? 'api' : 'direct',
        KGW_HTTP_WORKERS: '1',
        KGW_LIMITS_USER_LONGRUNNING: '0',
      },
    });
    return { value: info, stop: () => info.child.stop() };
  });
}

function caFileFor(ctx: BenchContext, info: GatewayInfo): string {
  const file = join(ctx.workDir, 'forward-gateway-ca.crt');
  writeFileSync(file, info.caPem ?? '');
  return file;
}

/** The built `kgw forward pod/pf :iperf3 :echo` through `gw`; waits for both lines. */
async function kgwForward(ctx: BenchContext, gw: GatewayInfo, name: string, baseline?: string) {
  const child = ctx.processes.spawn(
    name,
    process.execPath,
    [
      ...profileFlags(),
      baseline
        ? join(baseline, 'apps', 'kgw', 'src', 'main.js')
        : distPath(ctx, 'apps', 'kgw', 'src', 'main.js'),
      'forward',
      '-n',
      BENCH_NAMESPACE,
      `pod/${PORT_FORWARD_POD}`,
      `:${IPERF3_PORT}`,
      `:${ECHO_PORT}`,
    ],
    {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: join(ctx.workDir, 'kgw-home'),
        KGW_SERVER: gw.url,
        KGW_TOKEN: BENCH_TOKEN,
        KGW_CA_FILE: caFileFor(ctx, gw),
      },
    },
  );
  const iperf = await child.waitFor(new RegExp(`Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${IPERF3_PORT}`));
  const echo = await child.waitFor(new RegExp(`Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${ECHO_PORT}\\b`));
  return { child, iperfPort: Number(iperf[1]), echoPort: Number(echo[1]) };
}

const PATHS: PathUnderTest[] = [
  {
    path: 'raw',
    wire: 'tcp',
    async open(_ctx, sim) {
      return {
        host: sim.iperf3Host,
        iperfPort: sim.iperf3Port,
        echoPort: sim.echoPort,
        pids: { client: [], gateway: [], sim: [] },
        close: async () => undefined,
      };
    },
  },
  ...(['websocket', 'spdy'] as const).map((wire): PathUnderTest => ({
    path: 'kubectl-sim',
    wire,
    async open(ctx, sim) {
      const fwd = await kubectlForward(ctx, sim.adminKubeconfig, wire, `tunnels-kubectl-sim-${wire}`);
      return {
        host: '127.0.0.1',
        ...fwd,
        pids: { client: withDescendants(fwd.child.process.pid!), gateway: [], sim: [sim.child.process.pid!] },
        close: () => fwd.child.stop(),
      };
    },
  })),
  ...(['websocket', 'spdy'] as const).map((wire): PathUnderTest => ({
    path: 'kubectl-kgw',
    wire,
    async open(ctx, sim) {
      const gw = await gateway(ctx, 'sim', true, ctx.options.kgwWorkers);
      const kubeconfig = kubeconfigFile(
        join(ctx.workDir, 'tunnels-kgw.kubeconfig'),
        gw.url,
        gw.caPem ?? '',
        BENCH_TOKEN,
      );
      const fwd = await kubectlForward(ctx, kubeconfig, wire, `tunnels-kubectl-kgw-${wire}`);
      return {
        host: '127.0.0.1',
        ...fwd,
        pids: {
          client: withDescendants(fwd.child.process.pid!),
          gateway: withDescendants(gw.child.process.pid!),
          sim: [sim.child.process.pid!],
        },
        close: () => fwd.child.stop(),
      };
    },
  })),
  ...(['direct', 'baseline', 'api'] as const)
    .filter((mode) => mode !== 'baseline' || BASELINE_DIST)
    .map((mode): PathUnderTest => ({
      path: mode === 'api' ? 'kgw-api' : 'kgw-direct',
      wire: mode === 'direct' ? 'tunnel' : mode === 'baseline' ? 'baseline' : 'tunnel+api',
      async open(ctx, sim) {
        const baseline = mode === 'baseline' ? BASELINE_DIST : undefined;
        const gw = await forwardGateway(ctx, mode === 'api' ? 'api' : 'direct', baseline);
        const fwd = await kgwForward(ctx, gw, `tunnels-kgw-${mode}`, baseline);
        return {
          host: '127.0.0.1',
          ...fwd,
          pids: {
            client: [fwd.child.process.pid!],
            gateway: withDescendants(gw.child.process.pid!),
            sim: [sim.child.process.pid!],
          },
          close: () => fwd.child.stop(),
        };
      },
    })),
  {
    path: 'node-tls-pipe',
    wire: 'ceiling',
    async open(ctx, sim) {
      const tls = await gatewayTls(ctx);
      const caFile = join(ctx.workDir, 'tls-pipe-ca.crt');
      writeFileSync(caFile, tls.caPem);
      const script = distPath(ctx, 'bench', 'servers', 'tls-pipe.js');
      const far = ctx.processes.spawn('tunnels-tls-pipe-far', process.execPath, [
        script,
        'far',
        tls.certFile,
        tls.keyFile,
        sim.iperf3Host,
        String(sim.iperf3Port),
        String(sim.echoPort),
      ]);
      const farPorts = (await far.firstJsonLine<{ ports: number[] }>()).ports;
      const near = ctx.processes.spawn('tunnels-tls-pipe-near', process.execPath, [
        script,
        'near',
        caFile,
        ...farPorts.map(String),
      ]);
      const [iperfPort, echoPort] = (await near.firstJsonLine<{ ports: number[] }>()).ports;
      return {
        host: '127.0.0.1',
        iperfPort,
        echoPort,
        pids: { client: [near.process.pid!], gateway: [far.process.pid!], sim: [] },
        close: async () => {
          await near.stop();
          await far.stop();
        },
      };
    },
  },
];

/** ms from connect() to the first echoed byte, for `count` new connections one after another. */
async function firstByteTimes(host: string, port: number, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    times.push(
      await new Promise<number>((resolve, reject) => {
        const started = performance.now();
        const socket = net.connect({ host, port });
        const timer = setTimeout(() => socket.destroy(new Error('no first byte within 10 s')), 10_000);
        socket.setNoDelay(true);
        socket.once('connect', () => socket.write('x'));
        socket.once('data', () => {
          const ms = performance.now() - started;
          clearTimeout(timer);
          socket.destroy();
          resolve(ms);
        });
        socket.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      }),
    );
  }
  return times.sort((a, b) => a - b);
}

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

/** A gateway's inspector (node --inspect): a GC on demand, then process.memoryUsage(). */
class Inspector {
  private nextId = 0;
  private readonly pending = new Map<number, (result: unknown) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as { id?: number; result?: unknown };
      if (message.id !== undefined) this.pending.get(message.id)?.(message.result);
    });
  }

  static async attach(child: Child): Promise<Inspector> {
    const match = await child.waitFor(/Debugger listening on (ws:\/\/\S+)/);
    const ws = new WebSocket(match[1], { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    return new Inspector(ws);
  }

  private call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = ++this.nextId;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** After two full GCs: rss, heapUsed, external, arrayBuffers (bytes). */
  async memoryAfterGc(): Promise<NodeJS.MemoryUsage> {
    await this.call('HeapProfiler.collectGarbage');
    await this.call('HeapProfiler.collectGarbage');
    const result = (await this.call('Runtime.evaluate', {
      expression: 'JSON.stringify(process.memoryUsage())',
      returnByValue: true,
    })) as { result: { value: string } };
    return JSON.parse(result.result.value) as NodeJS.MemoryUsage;
  }

  close(): void {
    this.ws.close();
  }
}

/**
 * An idle tunnel as the CLI holds one: a WebSocket with its Hello (one target, bench/pf's echo
 * port) answered by a Welcome, keepalive Pings answered, no stream. Resolves once welcomed.
 */
function openIdleTunnel(gw: GatewayInfo): Promise<WebSocket> {
  const url = new URL('/kgw/v1/forward', gw.url);
  url.protocol = 'wss:';
  const ws = new WebSocket(url, SUBPROTOCOL, {
    headers: { authorization: `Bearer ${BENCH_TOKEN}` },
    ca: gw.caPem,
    perMessageDeflate: false,
  });
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`forward upgrade: ${res.statusCode}`)));
    ws.once('open', () =>
      ws.send(
        encodeFrame({
          type: FrameType.Hello,
          stream: 0,
          hello: {
            version: 1,
            targets: [
              {
                namespace: BENCH_NAMESPACE,
                kind: 'pod',
                name: PORT_FORWARD_POD,
                port: ECHO_PORT,
                protocol: 'tcp',
              },
            ],
          },
        }),
      ),
    );
    ws.on('message', (data: Buffer) => {
      if (data[0] === FrameType.Welcome) {
        const welcome = JSON.parse(data.subarray(5).toString('utf8')) as Welcome;
        if (welcome.targets[0]?.ok) resolve(ws);
        else reject(new Error(`target refused: ${welcome.targets[0]?.message}`));
      } else if (data[0] === FrameType.Ping) {
        ws.send(encodeFrame({ type: FrameType.Pong, stream: 0, payload: data.subarray(5) }));
      }
    });
  });
}

/** How many tunnels the gateway lists as the bench user's (GET /kgw/v1/forwards). */
async function listedTunnels(gw: GatewayInfo): Promise<number> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(
      new URL('/kgw/v1/forwards', gw.url),
      { ca: gw.caPem, headers: { authorization: `Bearer ${BENCH_TOKEN}` }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve(
              (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { items: unknown[] }).items.length,
            );
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function* idleTunnelMemory(ctx: BenchContext): AsyncIterable<BenchLine> {
  const count = ctx.options.idleTunnels;
  const gw = await forwardGateway(ctx, 'memory');
  const inspector = await Inspector.attach(gw.child);
  const openMany = async (n: number): Promise<WebSocket[]> => {
    const open: WebSocket[] = [];
    // At most 50 handshakes at a time (TLS on two shared cores).
    for (let i = 0; i < n; i += 50)
      open.push(
        ...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => openIdleTunnel(gw)))),
      );
    return open;
  };
  const closeAll = async (tunnels: WebSocket[]): Promise<void> => {
    // As the CLI stops: a Reset on stream 0 ends the tunnel at once (no resume grace), then the close.
    for (const ws of tunnels) {
      ws.send(encodeFrame({ type: FrameType.Reset, stream: 0, code: ResetCode.GoingAway, reason: 'bench' }));
      ws.close(1000);
    }
    for (let i = 0; i < 600 && (await listedTunnels(gw)) > 0; i++)
      await new Promise((r) => setTimeout(r, 100));
  };
  try {
    // Warm-up: the code paths of a tunnel (and its audit records) loaded and JIT-compiled once.
    await closeAll(await openMany(50));
    const before = await inspector.memoryAfterGc();
    const started = performance.now();
    const tunnels = await openMany(count);
    const openSeconds = (performance.now() - started) / 1000;
    const listed = await listedTunnels(gw);
    const open = await inspector.memoryAfterGc();
    await closeAll(tunnels);
    const after = await inspector.memoryAfterGc();
    const kb = (bytes: number) => round(bytes / count / 1024, 1);
    yield {
      bench: BENCH,
      measure: 'idle-tunnel-memory',
      tunnels: count,
      tunnels_listed: listed,
      open_seconds: round(openSeconds, 2),
      gateway_rss_before_mb: round(before.rss / 2 ** 20),
      gateway_rss_open_mb: round(open.rss / 2 ** 20),
      gateway_rss_after_close_mb: round(after.rss / 2 ** 20),
      // All after two forced GCs (through the gateway's inspector).
      kb_per_tunnel_rss: kb(open.rss - before.rss),
      kb_per_tunnel_heap: kb(open.heapUsed - before.heapUsed),
      kb_per_tunnel_external: kb(open.external - before.external),
      heap_after_close_delta_mb: round((after.heapUsed - before.heapUsed) / 2 ** 20, 2),
    };
  } finally {
    inspector.close();
  }
}

interface Measured {
  /** MB/s by `${streams}/${direction}`. */
  throughput: Map<string, number>;
}

/**
 * The worse direction's ratio of `value` to the best of `anchors`. With a `limit`, a target line
 * (`target_met`); without, a reference line (where a ceiling stands, to read the targets by).
 */
function targetLine(
  target: string,
  streams: number,
  value: Measured | undefined,
  anchors: Array<Measured | undefined>,
  limit: number | null,
  anchorName: string,
): BenchLine {
  const ratios: Record<string, number | null> = {};
  let worst: number | undefined;
  for (const direction of ['upload', 'download']) {
    const mine = value?.throughput.get(`${streams}/${direction}`);
    const anchor = Math.max(...anchors.map((a) => a?.throughput.get(`${streams}/${direction}`) ?? 0));
    const ratio = mine !== undefined && anchor > 0 ? round(mine / anchor, 2) : undefined;
    ratios[`ratio_${direction}`] = ratio ?? null;
    ratios[`${anchorName}_${direction}_mb_per_s`] = anchor > 0 ? anchor : null;
    if (ratio !== undefined) worst = worst === undefined ? ratio : Math.min(worst, ratio);
    else worst = Number.NaN;
  }
  const measured = worst !== undefined && !Number.isNaN(worst);
  return {
    bench: BENCH,
    ...(limit === null ? { reference: target } : { target }),
    streams,
    ...ratios,
    ratio: measured ? worst! : null,
    ...(limit === null ? {} : { limit, target_met: measured ? worst! >= limit : null }),
    ...(measured ? {} : { reason: 'a path was not measured in this run (filtered out, skipped or failed)' }),
  };
}

export const tunnelsBench: BenchScenario = {
  name: BENCH,
  description:
    'kgw forward (direct, api) vs kubectl port-forward vs raw loopback: iperf3 throughput, first byte, memory per idle tunnel, targets',
  async *run(ctx: BenchContext): AsyncIterable<BenchLine> {
    const sim = await simulator(ctx);
    const measured = new Map<string, Measured>();
    const seconds = ctx.options.durationSec;
    const omit = ctx.options.warmupSec > 0 ? Math.max(1, Math.round(ctx.options.warmupSec)) : 0;
    const shapes = [1, ctx.options.forwardParallelStreams];
    if (!findIperf3()) {
      yield { bench: BENCH, skipped: true, reason: 'iperf3 is not installed (apt-get install -y iperf3)' };
    } else {
      await iperf3Server(ctx, sim.iperf3Host, sim.iperf3Port);
      // Every forward is opened first; then each measurement goes round all paths before the
      // next one, so a shared machine's load drifting during the run falls on all of them alike
      // (one path after another let the later ones run on a busier machine).
      const open: Array<{ id: string; candidate: PathUnderTest; opened: OpenedPath; mine: Measured }> = [];
      try {
        for (const candidate of PATHS) {
          const id = `${candidate.path}/${candidate.wire}`;
          // raw always runs: the ratios need it.
          if (ctx.options.filter && candidate.path !== 'raw' && !ctx.options.filter.test(id)) continue;
          ctx.log(`tunnels: opening ${id}`);
          try {
            const opened = await candidate.open(ctx, sim);
            const mine: Measured = { throughput: new Map() };
            measured.set(id, mine);
            open.push({ id, candidate, opened, mine });
          } catch (err) {
            yield { bench: BENCH, path: candidate.path, wire: candidate.wire, error: (err as Error).message };
          }
        }
        // First byte of a new connection on the open forward (kubectl's first one opens its
        // upstream connection: the warm-up connections take that).
        const probes = ctx.options.firstByteConnections;
        for (const { candidate, opened } of open) {
          const common = { bench: BENCH, path: candidate.path, wire: candidate.wire };
          try {
            await firstByteTimes(opened.host, opened.echoPort, Math.max(5, Math.round(probes / 10)));
            const times = await firstByteTimes(opened.host, opened.echoPort, probes);
            yield {
              ...common,
              measure: 'first-byte',
              connections: probes,
              p50_ms: round(percentile(times, 50), 3),
              p99_ms: round(percentile(times, 99), 3),
              max_ms: round(times[times.length - 1], 3),
            };
          } catch (err) {
            yield { ...common, measure: 'first-byte', error: (err as Error).message };
          }
        }
        for (const streams of shapes)
          for (const direction of ['upload', 'download'] as const)
            for (const { id, candidate, opened, mine } of open) {
              ctx.log(`tunnels: ${id} ${streams} stream(s) ${direction}`);
              const common = { bench: BENCH, path: candidate.path, wire: candidate.wire };
              const before = {
                client: cpuTicks(opened.pids.client),
                gateway: cpuTicks(opened.pids.gateway),
                sim: cpuTicks(opened.pids.sim),
              };
              const started = performance.now();
              let result;
              try {
                result = await runIperf3(opened.iperfPort, {
                  host: opened.host,
                  streams,
                  seconds,
                  omit,
                  reverse: direction === 'download',
                });
              } catch (err) {
                yield { ...common, measure: 'throughput', streams, direction, error: (err as Error).message };
                continue;
              }
              const wall = (performance.now() - started) / 1000;
              const pct = (pids: number[], ticksBefore: number | null): number | null => {
                const ticksAfter = cpuTicks(pids);
                return pids.length === 0 || ticksBefore === null || ticksAfter === null
                  ? null
                  : round((ticksAfter - ticksBefore) / wall, 0); // ticks are 1/100 s: % of one core
              };
              const cpu = {
                client: pct(opened.pids.client, before.client),
                gateway: pct(opened.pids.gateway, before.gateway),
                sim: pct(opened.pids.sim, before.sim),
              };
              const mbPerSec = result.bytesPerSecond / 1e6;
              mine.throughput.set(`${streams}/${direction}`, round(mbPerSec));
              const cores = (cpu.client ?? 0) + (cpu.gateway ?? 0) + (cpu.sim ?? 0);
              const raw = measured.get('raw/tcp')?.throughput.get(`${streams}/${direction}`);
              yield {
                ...common,
                measure: 'throughput',
                streams,
                direction,
                seconds: round(result.seconds, 1),
                mb_per_s: round(mbPerSec),
                ratio_vs_raw: raw && candidate.path !== 'raw' ? round(mbPerSec / raw, 3) : null,
                retransmits: result.retransmits,
                // % of one core during the run (omitted warm-up second included) of the local
                // forwarder (kubectl / kgw), the gateway (its workers too) and the simulator.
                client_cpu_pct: cpu.client,
                gateway_cpu_pct: cpu.gateway,
                sim_cpu_pct: cpu.sim,
                // CPU seconds of those processes per GB moved: steadier than MB/s on a shared machine.
                cpu_s_per_gb: candidate.path === 'raw' ? null : round(cores / 100 / (mbPerSec / 1000), 2),
              };
            }
      } finally {
        for (const { opened } of open) await opened.close();
      }
    }

    if (!ctx.options.filter || ctx.options.filter.test('idle-tunnel-memory')) {
      let memory: BenchLine | undefined;
      try {
        for await (const line of idleTunnelMemory(ctx)) {
          memory = line;
          yield line;
        }
      } catch (err) {
        yield { bench: BENCH, measure: 'idle-tunnel-memory', error: (err as Error).message };
      }
      const kb = memory?.kb_per_tunnel_rss;
      yield {
        bench: BENCH,
        target: 'gateway memory per idle tunnel <= 100 KB',
        kb_per_tunnel_rss: typeof kb === 'number' ? kb : null,
        kb_per_tunnel_heap: typeof memory?.kb_per_tunnel_heap === 'number' ? memory.kb_per_tunnel_heap : null,
        tunnels: ctx.options.idleTunnels,
        limit_kb: 100,
        target_met: typeof kb === 'number' ? kb <= 100 : null,
      };
    }

    const kubectl = [measured.get('kubectl-sim/websocket'), measured.get('kubectl-sim/spdy')];
    for (const streams of shapes) {
      yield targetLine(
        'kgw-direct >= 2x kubectl port-forward (sim)',
        streams,
        measured.get('kgw-direct/tunnel'),
        kubectl,
        2,
        'kubectl_sim',
      );
      yield targetLine(
        'kgw-direct >= 25% of raw loopback',
        streams,
        measured.get('kgw-direct/tunnel'),
        [measured.get('raw/tcp')],
        0.25,
        'raw',
      );
      yield targetLine(
        'kgw-api >= 1x kubectl port-forward (sim)',
        streams,
        measured.get('kgw-api/tunnel+api'),
        kubectl,
        1,
        'kubectl_sim',
      );
      // Where the ceiling of a Node CLI + Node gateway tunnel stands on this machine.
      const pipe = measured.get('node-tls-pipe/ceiling');
      yield targetLine(
        'node-tls-pipe vs raw loopback',
        streams,
        pipe,
        [measured.get('raw/tcp')],
        null,
        'raw',
      );
      yield targetLine(
        'node-tls-pipe vs kubectl port-forward (sim)',
        streams,
        pipe,
        kubectl,
        null,
        'kubectl_sim',
      );
      yield targetLine(
        'kgw-direct vs node-tls-pipe',
        streams,
        measured.get('kgw-direct/tunnel'),
        [pipe],
        null,
        'node_tls_pipe',
      );
    }
  },
};
