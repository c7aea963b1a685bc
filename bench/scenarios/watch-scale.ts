// Watches at scale (issue 16): `--watches` (default 10,000) concurrent watches through one gateway
// process over TLS — first each on its own HTTP/1.1 connection, then multiplexed over HTTP/2
// (the gateway's stream cap per connection, 250 by default) — to the fixed upstream, which holds
// them (at most 250 per upstream HTTP/2 connection, like kube-apiserver) and then writes
// `--watch-events` events to every one. Every watcher must get every event, in order
// (resourceVersion 1…N); the gateway's resident memory is read before the watches open and once
// they all are, and `kb_per_watch` is the difference per watch. When the clients go away, the
// upstream's watches must go too (the gateway cancels them).
//
// Bounded: each phase has a deadline (open, deliver, close); a watcher that did not open or did
// not get its events is counted, not waited for. Loopback only. File descriptors: HTTP/1.1 mode
// needs one per watch in this process and one in the gateway; with a soft limit too low for that
// the module says so and runs as many as fit. Client connections come from 127.0.0.2…9 in turn,
// so 10,000 of them do not exhaust one address's ephemeral ports.
import { readFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type { BenchContext, BenchLine, BenchScenario } from '../support/context';
import { startGateway, upstreamNamed, type GatewayInfo, type UpstreamInfo } from '../support/environment';
import { PROXY_PATHS, WATCH_CONTROL_PATHS } from '../support/fixtures';
import { withDescendants } from '../support/load';

const WATCH_PATH = `${PROXY_PATHS['list-50-pods']}?watch=true`;
/** Watch requests in flight (sent, head not yet back) at any moment while opening. */
const OPENING_AT_ONCE = 200;
const OPEN_DEADLINE_MS = 300_000;
const DELIVERY_DEADLINE_MS = 120_000;
const CLOSE_DEADLINE_MS = 60_000;
/** Watches opened, fed and closed before the memory baseline (JIT, pools, caches). */
const WARM_UP_WATCHES = 200;
/** The gateway's HTTP/2 stream cap (KGW_HTTP2_MAX_CONCURRENT_STREAMS), set so for the run. */
const STREAMS_PER_CONNECTION = 250;
/** File descriptors kept free for everything else (Postgres connections, logs, the upstream). */
const SPARE_FDS = 500;

type Mode = 'http1' | 'http2';

/** One open watch as the client sees it. */
class Watcher {
  received = 0;
  inOrder = true;
  private partial = '';

  constructor(
    private readonly events: number,
    private readonly onComplete: () => void,
  ) {}

  /** Newline-delimited JSON watch events; each must carry the next resourceVersion. */
  feed(chunk: Buffer): void {
    const lines = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      const event = JSON.parse(line) as {
        type?: string;
        object?: { metadata?: { resourceVersion?: string } };
      };
      const expected = String(this.received + 1);
      if (event.type !== 'MODIFIED' || event.object?.metadata?.resourceVersion !== expected)
        this.inOrder = false;
      this.received++;
      if (this.received === this.events) this.onComplete();
    }
  }
}

/** Opens watches through the gateway, one transport; `close` ends every client connection. */
interface WatchClients {
  open(index: number, watcher: Watcher): Promise<void>;
  connections(): number;
  close(): void;
}

function http1Clients(gw: GatewayInfo): WatchClients {
  // No keep-alive pool: every watch gets its own connection, as separate clients would.
  const agent = new https.Agent({ keepAlive: false, maxSockets: Infinity, ca: gw.caPem });
  const requests = new Set<ReturnType<typeof https.request>>();
  return {
    open: (index, watcher) =>
      new Promise<void>((resolve, reject) => {
        const req = https.request(
          `${gw.url}${WATCH_PATH}`,
          { agent, headers: { authorization: gw.authorization }, localAddress: `127.0.0.${2 + (index % 8)}` },
          (res) => {
            if (res.statusCode !== 200) {
              res.resume();
              return reject(new Error(`watch ${index}: HTTP ${res.statusCode}`));
            }
            res.on('data', (chunk: Buffer) => watcher.feed(chunk));
            res.on('error', () => undefined);
            resolve();
          },
        );
        req.on('error', reject);
        requests.add(req);
        req.end();
      }),
    connections: () => requests.size,
    close: () => {
      for (const req of requests) req.destroy();
      agent.destroy();
    },
  };
}

function http2Clients(gw: GatewayInfo): WatchClients {
  const sessions: Array<{ session: http2.ClientHttp2Session; streams: number }> = [];
  return {
    open: (index, watcher) =>
      new Promise<void>((resolve, reject) => {
        // Each connection filled to the gateway's stream cap before the next is opened.
        let entry = sessions[sessions.length - 1];
        if (!entry || entry.streams >= STREAMS_PER_CONNECTION) {
          const session = http2.connect(gw.url, { ca: gw.caPem });
          session.on('error', () => undefined);
          entry = { session, streams: 0 };
          sessions.push(entry);
        }
        entry.streams++;
        const stream = entry.session.request({ ':path': WATCH_PATH, authorization: gw.authorization });
        stream.once('response', (head) => {
          if (head[':status'] !== 200) {
            stream.resume();
            return reject(new Error(`watch ${index}: HTTP ${head[':status']}`));
          }
          resolve();
        });
        stream.on('data', (chunk: Buffer) => watcher.feed(chunk));
        stream.on('error', reject);
        stream.end();
      }),
    connections: () => sessions.length,
    close: () => {
      for (const { session } of sessions) session.destroy();
    },
  };
}

/** Resident memory of the gateway process (and any workers), in bytes. */
function residentBytes(pid: number): number {
  let total = 0;
  for (const p of withDescendants(pid)) {
    try {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1];
      total += Number(kb ?? 0) * 1024;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** The soft limit on open files of this process (the gateway inherits it). */
function openFileLimit(): number {
  try {
    const line = /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line?.[1] === 'unlimited' ? Infinity : Number(line?.[1] ?? 1024);
  } catch {
    return 1024;
  }
}

/** The fixed upstream's own controls, asked directly with its admin credential. */
function control(
  upstream: UpstreamInfo,
  method: 'GET' | 'POST',
  path: string,
): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${upstream.url}${path}`,
      {
        method,
        ca: upstream.caPem,
        agent: false,
        headers: { authorization: `Bearer ${upstream.adminToken}` },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body) as Record<string, number>);
          } catch {
            reject(new Error(`${path}: not JSON (HTTP ${res.statusCode}): ${body.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function until(condition: () => boolean | Promise<boolean>, deadlineMs: number): Promise<boolean> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return condition();
}

const MiB = 1024 * 1024;
const round = (value: number, digits = 1): number => Number(value.toFixed(digits));

/** Opens `count` watches (at most OPENING_AT_ONCE at a time); resolves with those that opened. */
async function openWatches(
  clients: WatchClients,
  count: number,
  events: number,
  onComplete: () => void,
  failures: string[],
): Promise<Watcher[]> {
  const opened: Watcher[] = [];
  let next = 0;
  const deadline = Date.now() + OPEN_DEADLINE_MS;
  const worker = async (): Promise<void> => {
    while (next < count && Date.now() < deadline) {
      const index = next++;
      const watcher = new Watcher(events, onComplete);
      try {
        await clients.open(index, watcher);
        opened.push(watcher);
      } catch (err) {
        if (failures.length < 5) failures.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(OPENING_AT_ONCE, count) }, worker));
  return opened;
}

async function runMode(ctx: BenchContext, mode: Mode, requested: number, events: number): Promise<BenchLine> {
  const upstream = await upstreamNamed(ctx, 'fixed');
  const fdLimit = openFileLimit();
  // HTTP/1.1: one descriptor per watch here and one in the gateway (same limit, inherited).
  const fitting = mode === 'http1' ? Math.max(0, fdLimit - SPARE_FDS) : requested;
  const watches = Math.min(requested, fitting);
  if (watches < requested)
    ctx.log(`watch-scale ${mode}: the open-file limit (${fdLimit}) fits ${watches} of ${requested} watches`);
  const gw = await startGateway(ctx, {
    upstream: 'fixed',
    tls: true,
    tag: `watch-scale-${mode}`,
    // One process (memory per watch of one gateway); no per-user cap on long-running requests.
    env: {
      KGW_HTTP_WORKERS: '1',
      KGW_LIMITS_USER_LONGRUNNING: '0',
      KGW_HTTP2_MAX_CONCURRENT_STREAMS: String(STREAMS_PER_CONNECTION),
    },
  });
  const pid = gw.child.process.pid!;
  const failures: string[] = [];
  try {
    // Warm up with a few watches, fed and closed, so the baseline is a gateway that has served some.
    {
      const warm = mode === 'http1' ? http1Clients(gw) : http2Clients(gw);
      let complete = 0;
      const opened = await openWatches(warm, WARM_UP_WATCHES, events, () => complete++, failures);
      await control(upstream, 'POST', `${WATCH_CONTROL_PATHS.events}?count=${events}`);
      await until(() => complete >= opened.length, DELIVERY_DEADLINE_MS);
      warm.close();
      await until(
        async () => (await control(upstream, 'GET', WATCH_CONTROL_PATHS.watches)).watches === 0,
        CLOSE_DEADLINE_MS,
      );
      if (failures.length) throw new Error(`warm-up watches failed: ${failures.join('; ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const rssBefore = residentBytes(pid);

    const clients = mode === 'http1' ? http1Clients(gw) : http2Clients(gw);
    let complete = 0;
    ctx.log(`watch-scale ${mode}: opening ${watches} watches`);
    const t0 = Date.now();
    const opened = await openWatches(clients, watches, events, () => complete++, failures);
    const openSeconds = (Date.now() - t0) / 1000;
    const atUpstream = await control(upstream, 'GET', WATCH_CONTROL_PATHS.watches);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const rssOpen = residentBytes(pid);

    ctx.log(
      `watch-scale ${mode}: ${opened.length} open (${atUpstream.watches} at the upstream); ${events} events each`,
    );
    const t1 = Date.now();
    const sent = await control(upstream, 'POST', `${WATCH_CONTROL_PATHS.events}?count=${events}`);
    const delivered = await until(() => complete >= opened.length, DELIVERY_DEADLINE_MS);
    const deliveryMs = Date.now() - t1;
    const rssDelivered = residentBytes(pid);

    const connections = clients.connections();
    clients.close();
    const closed = await until(
      async () => (await control(upstream, 'GET', WATCH_CONTROL_PATHS.watches)).watches === 0,
      CLOSE_DEADLINE_MS,
    );
    const left = (await control(upstream, 'GET', WATCH_CONTROL_PATHS.watches)).watches;
    const complete_ = opened.filter((w) => w.received === events).length;
    const inOrder = opened.every((w) => w.inOrder);
    return {
      bench: 'watch-scale',
      mode,
      transport: 'https',
      watches_requested: requested,
      watches: opened.length,
      open_file_limit: Number.isFinite(fdLimit) ? fdLimit : null,
      client_connections: connections,
      upstream_watches: atUpstream.watches,
      upstream_connections: atUpstream.sessions,
      open_seconds: round(openSeconds),
      events,
      upstream_watchers_written: sent.watchers,
      watchers_with_every_event: complete_,
      every_event_in_order: inOrder && delivered && complete_ === opened.length,
      delivery_ms: deliveryMs,
      gateway_rss_before_mb: round(rssBefore / MiB),
      gateway_rss_open_mb: round(rssOpen / MiB),
      gateway_rss_after_events_mb: round(rssDelivered / MiB),
      kb_per_watch: opened.length ? round((rssOpen - rssBefore) / 1024 / opened.length) : null,
      upstream_watches_left_after_close: left,
      closed_upstream: closed,
      failures: failures.length ? failures.join('; ') : undefined,
    };
  } finally {
    await gw.child.stop();
  }
}

export const watchScaleBench: BenchScenario = {
  name: 'watch-scale',
  description:
    'concurrent watches through one gateway (HTTP/1.1 and HTTP/2): every event in order, memory per watch',
  async *run(ctx: BenchContext): AsyncIterable<BenchLine> {
    const { watches, watchEvents } = ctx.options;
    for (const mode of ['http1', 'http2'] as const) {
      if (ctx.options.filter && !ctx.options.filter.test(`fixed/watch-scale/${mode}`)) continue;
      yield await runMode(ctx, mode, watches, watchEvents);
    }
  },
};
