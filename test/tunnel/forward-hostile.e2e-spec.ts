// A hostile `kgw forward` client against the gateway's per-tunnel memory bounds
// (KGW_FORWARD_TUNNEL_BUFFER_MIB; libs/tunnel send-budget.ts, apps/gateway tunnel-link.ts): an
// authenticated caller with port-forward rights, speaking frames on a raw WebSocket, to pod
// nginx's echo port (a pod that talks back as much as it is sent). Each row names the attack;
// the gateway's own account of what it holds (GET /kgw/v1/forwards) is sampled throughout and
// must stay within the bound. Rows are named T<n> in docs/security.md.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import {
  FrameType,
  LIMITS,
  SUBPROTOCOL,
  decodeFrame,
  encodeFrame,
  type Hello,
  type Welcome,
} from '@kgw/tunnel';
import { CALLERS, startGatewayStack, type GatewayStack } from '../support/gateway-stack';
import { ForwardRunner, curlLocal } from '../support/kgw-forward';

const BUDGET_MIB = 8;
const BUDGET = BUDGET_MIB << 20;
/** Streams a tunnel may open: the budget over the gateway's 512 KiB receive window. */
const MAX_STREAMS = BUDGET / LIMITS.initialWindow;
/**
 * One read past the budget per stream (a socket read is at most 64 KiB), and 64 KiB for frame
 * headers and the gateway's small answers (Windows) sent after the budget was reached.
 */
const BOUND = BUDGET + MAX_STREAMS * 64 * 1024 + 64 * 1024;
/** The gateway stops reading a peer with 256 KiB of answers waiting; one more read's answers. */
const ANSWERS_BOUND = (256 << 10) + (256 << 10);

let stack: GatewayStack;
const forwards = new ForwardRunner();

beforeAll(async () => {
  stack = await startGatewayStack({
    env: {
      KGW_FORWARD_MODE: 'direct',
      KGW_FORWARD_TUNNEL_BUFFER_MIB: String(BUDGET_MIB),
      // A client that leaves ends its tunnel at once: each row starts with none.
      KGW_FORWARD_RESUME_GRACE_SECONDS: '0',
    },
  });
  writeFileSync(join(stack.dir, 'hostile-ca.crt'), stack.caPem);
}, 120_000);
afterAll(async () => {
  forwards.stopAll();
  await stack?.stop();
});

interface TunnelState {
  streams: unknown[];
  sendBuffer: { held: number; limit: number };
}

async function tunnels(): Promise<TunnelState[]> {
  const res = await stack.request('alice', '/kgw/v1/forwards');
  expect(res.status).toBe(200);
  return (JSON.parse(res.body) as { items: TunnelState[] }).items;
}

/** Clients of the running row, closed after it (also when it fails). */
const clients: HostileClient[] = [];

/** Samples the tunnel's held bytes every 100 ms while `during` runs; the largest seen. */
async function largestHeld(during: () => Promise<void>): Promise<number> {
  let largest = 0;
  let running = true;
  const sampling = (async () => {
    while (running) {
      for (const tunnel of await tunnels()) largest = Math.max(largest, tunnel.sendBuffer.held);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    await during();
  } finally {
    running = false;
    await sampling;
  }
  return largest;
}

/** A client speaking the tunnel protocol by hand, as an attacker would. */
class HostileClient {
  readonly credit = new Map<number, number>();
  readonly sent = new Map<number, number>();
  readonly resets = new Map<number, number>();
  private readonly waiters: Array<() => void> = [];
  private constructor(
    readonly ws: WebSocket,
    readonly welcome: Welcome,
  ) {
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(data);
      if (frame.type === FrameType.Window)
        this.credit.set(frame.stream, (this.credit.get(frame.stream) ?? 0) + frame.increment);
      if (frame.type === FrameType.Reset) this.resets.set(frame.stream, frame.code);
      this.waiters.splice(0).forEach((w) => w());
    });
  }

  static async connect(): Promise<HostileClient> {
    const ws = new WebSocket(`${stack.url.replace(/^https/, 'wss')}/kgw/v1/forward`, SUBPROTOCOL, {
      ca: stack.caPem,
      headers: { authorization: `Bearer ${CALLERS.alice.token}` },
      perMessageDeflate: false,
      generateMask: (mask: Buffer) => void mask.fill(0),
    });
    await new Promise<void>((opened, failed) => ws.once('open', opened).once('error', failed));
    const hello: Hello = {
      version: 1,
      targets: [{ namespace: 'default', kind: 'pod', name: 'nginx', port: 7, protocol: 'tcp' }],
      window: LIMITS.maxWindow,
    };
    ws.send(encodeFrame({ type: FrameType.Hello, stream: 0, hello }));
    const welcome = await new Promise<Welcome>((got) =>
      ws.once('message', (data: Buffer) => got(JSON.parse(data.subarray(5).toString('utf8')) as Welcome)),
    );
    const client = new HostileClient(ws, welcome);
    clients.push(client);
    return client;
  }

  open(id: number): void {
    this.credit.set(id, this.welcome.limits.initialWindow);
    this.sent.set(id, 0);
    this.ws.send(encodeFrame({ type: FrameType.Open, stream: id, target: 0 }));
  }

  /** Sends stream `id` data to the echo as fast as the gateway's credit allows, up to `bytes`. */
  async pump(id: number, bytes: number, stalledAfterMs = 1500): Promise<void> {
    const block = randomBytes(LIMITS.maxDataPayload);
    while ((this.sent.get(id) ?? 0) < bytes && !this.resets.has(id)) {
      const room = (this.credit.get(id) ?? 0) - (this.sent.get(id) ?? 0);
      if (room <= 0) {
        // Wait for a Window; a gateway that stopped granting ends the pump.
        const granted = await new Promise<boolean>((r) => {
          const timer = setTimeout(() => r(false), stalledAfterMs);
          this.waiters.push(() => (clearTimeout(timer), r(true)));
        });
        if (!granted) return;
        continue;
      }
      const size = Math.min(room, block.length);
      this.ws.send(encodeFrame({ type: FrameType.Data, stream: id, data: block.subarray(0, size) }));
      this.sent.set(id, (this.sent.get(id) ?? 0) + size);
      if (this.ws.bufferedAmount > 1 << 20) await new Promise((r) => setTimeout(r, 5));
    }
  }

  close(): void {
    this.ws.terminate();
  }
}

async function tunnelsGone(): Promise<void> {
  for (const client of clients.splice(0)) client.close();
  for (let i = 0; i < 200 && (await tunnels()).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
}

describe('a hostile kgw forward client cannot make the gateway hold more than KGW_FORWARD_TUNNEL_BUFFER_MIB', () => {
  afterEach(tunnelsGone);

  it('T1 attack: opens more streams than the Welcome allows → the Welcome announces budget / 512 KiB streams, and the one past them is reset (Limit)', async () => {
    const client = await HostileClient.connect();
    expect(client.welcome.limits.maxStreams).toBe(MAX_STREAMS);
    for (let id = 1; id <= MAX_STREAMS + 1; id++) client.open(id);
    for (let i = 0; i < 100 && !client.resets.has(MAX_STREAMS + 1); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(client.resets.get(MAX_STREAMS + 1)).toBe(10);
    expect([...client.resets.keys()]).toEqual([MAX_STREAMS + 1]);
  });

  it('T2 attack: opens every stream it may to a talking pod and never grants credit (2 MiB window announced) → the gateway stops reading the pod at the budget', async () => {
    const client = await HostileClient.connect();
    for (let id = 1; id <= MAX_STREAMS; id++) client.open(id);
    const largest = await largestHeld(async () => {
      // 6 MiB per stream: without the budget, 2 MiB pending + 2 MiB sent and retained each.
      await Promise.all(Array.from({ length: MAX_STREAMS }, (_, i) => client.pump(i + 1, 6 << 20)));
    });
    // The attack was real: the budget was reached; and it held.
    expect(largest).toBeGreaterThanOrEqual(BUDGET);
    expect(largest).toBeLessThanOrEqual(BOUND);
  }, 120_000);

  it('T3 attack: never reads the WebSocket, and fills the echo on as many streams as it can open → the gateway holds at most the budget', async () => {
    const client = await HostileClient.connect();
    client.ws.pause();
    // Four times the streams allowed, each with the gateway's whole initial credit.
    const streams = 4 * MAX_STREAMS;
    for (let id = 1; id <= streams; id++) client.open(id);
    const largest = await largestHeld(async () => {
      await Promise.all(Array.from({ length: streams }, (_, i) => client.pump(i + 1, LIMITS.initialWindow)));
      await new Promise((r) => setTimeout(r, 1000));
    });
    expect(largest).toBeLessThanOrEqual(BOUND);
    const [tunnel] = await tunnels();
    expect(tunnel.streams.length).toBeLessThanOrEqual(MAX_STREAMS);
  }, 120_000);

  it('T4 attack: never reads the WebSocket and floods Pings (each answered by a Pong) → the gateway stops reading it once 256 KiB of answers wait', async () => {
    const client = await HostileClient.connect();
    client.ws.pause();
    // 1 MiB of masked (all-zero key) binary WebSocket messages, each one tunnel Ping.
    const ping = encodeFrame({ type: FrameType.Ping, stream: 0, payload: Buffer.alloc(8) });
    const message = Buffer.concat([Buffer.from([0x82, 0x80 | ping.length, 0, 0, 0, 0]), ping]);
    const block = Buffer.concat(
      Array.from({ length: Math.floor((1 << 20) / message.length) }, () => message),
    );
    const socket = (client.ws as unknown as { _socket: net.Socket })._socket; // the raw TLS socket: no per-message cost here
    const largest = await largestHeld(async () => {
      // 48 MiB of Pings, or until the gateway stops taking them.
      for (let sent = 0; sent < 48 << 20; sent += block.length) {
        if (socket.write(block)) continue;
        const drained = await new Promise<boolean>((r) => {
          const timer = setTimeout(() => r(false), 2000);
          socket.once('drain', () => (clearTimeout(timer), r(true)));
        });
        if (!drained) break;
      }
    });
    expect(largest).toBeLessThanOrEqual(ANSWERS_BOUND);
  }, 120_000);
});

describe('(allowed) a well-behaved kgw forward under a small budget', () => {
  const cliEnv = (): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: stack.dir,
    KGW_SERVER: stack.url,
    KGW_TOKEN: CALLERS.alice.token,
    KGW_CA_FILE: join(stack.dir, 'hostile-ca.crt'),
  });

  it(`serves ${4 * MAX_STREAMS} parallel connections though the tunnel may have ${MAX_STREAMS} streams: the CLI keeps the rest waiting`, async () => {
    const fwd = await forwards.start(['pod/nginx', ':80'], cliEnv());
    const pages = await Promise.all(
      Array.from({ length: 4 * MAX_STREAMS }, () =>
        curlLocal(fwd.ports[0]).catch((err: Error) => `${err.message}\n${fwd.stderr()}`),
      ),
    );
    for (const page of pages) expect(page).toContain('Welcome to nginx!');
    expect(fwd.stderr()).not.toMatch(/error: an error occurred forwarding/);
    expect(await fwd.stop()).toBe(0);
  }, 120_000);

  it('echoes 8 parallel streams of 8 MiB each (8 times the budget together), every byte in order', async () => {
    const fwd = await forwards.start(['pod/nginx', ':7'], cliEnv());
    const port = fwd.ports[0];
    const echo = async (): Promise<void> => {
      const data = randomBytes(8 << 20);
      const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
      const back = createHash('sha256');
      let got = 0;
      socket.on('data', (c: Buffer) => {
        back.update(c);
        got += c.length;
      });
      const ended = new Promise<void>((done, fail) => socket.on('end', done).on('error', fail));
      socket.end(data);
      await ended;
      socket.destroy();
      expect(got).toBe(data.length);
      expect(back.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    };
    await Promise.all(Array.from({ length: 8 }, echo));
    expect(await fwd.stop()).toBe(0);
  }, 300_000);
});
