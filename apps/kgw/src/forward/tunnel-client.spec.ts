// ForwardClient's reconnect against a scripted fake gateway on loopback (plain ws, the real
// tunnel session on its side): what the CLI does when the gateway dies and comes back — as a
// killed and restarted gateway process does, which knows nothing of the old tunnel.
import { createServer, type Server } from 'node:http';
import * as net from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  FrameType,
  LIMITS,
  SUBPROTOCOL,
  TunnelSession,
  decodeFrame,
  encodeFrame,
  type Hello,
  type Welcome,
} from '@kgw/tunnel';
import type { CliIo } from '../cli-outcome';
import { ForwardClient } from './tunnel-client';

/** What the fake gateway does with the n-th WebSocket: answer, or die before its Welcome. */
type Step =
  | { welcome: true; resumeGraceMs?: number; maxStreams?: number }
  | { dieBeforeWelcome: true }
  /** Resumes the Hello's tunnel, but only once `when` settles (a Welcome slow on its way). */
  | { resumeWhen: Promise<void> };

/** The fake gateway's Welcome: every target resolved, the protocol's default limits. */
function welcomeFor(
  hello: Hello,
  tunnel: string,
  resumed: boolean,
  resumeGraceMs: number,
  maxStreams: number = LIMITS.maxStreams,
): Welcome {
  return {
    version: 1,
    tunnel,
    secret: 'secret',
    resumed,
    streams: [],
    targets: hello.targets.map(() => ({ ok: true, description: 'pod/echo' })),
    limits: {
      maxDataPayload: LIMITS.maxDataPayload,
      initialWindow: LIMITS.initialWindow,
      maxStreams,
    },
    resumeGraceMs,
  };
}

class FakeGateway {
  private http: Server | undefined;
  private wss: WebSocketServer | undefined;
  readonly hellos: Hello[] = [];
  readonly sockets: WebSocket[] = [];
  /** Reset frames on stream 0 (the whole tunnel) the CLI sent, by connection number. */
  readonly tunnelResets: number[] = [];
  /** Window frames the CLI sent (credit for what this gateway sends). */
  windowFrames = 0;
  /** Open frames the CLI sent. */
  opens = 0;
  private connections = 0;
  port = 0;

  constructor(private readonly steps: Step[]) {}

  async listen(port = 0): Promise<void> {
    this.http = createServer();
    this.wss = new WebSocketServer({ server: this.http, handleProtocols: () => SUBPROTOCOL });
    this.wss.on('connection', (ws) => this.serve(ws));
    await new Promise<void>((r) => this.http!.listen(port, '127.0.0.1', () => r()));
    this.port = (this.http.address() as net.AddressInfo).port;
  }

  /** Gone, as a killed process is: every WebSocket cut, nothing listening. */
  async kill(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss?.close();
    const closed = new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
    this.http?.closeAllConnections();
    await closed;
  }

  private serve(ws: WebSocket): void {
    this.sockets.push(ws);
    const step = this.steps[this.connections++] ?? { welcome: true };
    if ('dieBeforeWelcome' in step) return void ws.terminate();
    const connection = this.connections;
    ws.on('message', (data: Buffer) => {
      if (data[0] === FrameType.Reset && data.readUInt32BE(1) === 0) this.tunnelResets.push(connection);
    });
    ws.once('message', (data: Buffer) => {
      const hello = decodeFrame(data);
      if (hello.type !== FrameType.Hello) throw new Error('expected a Hello');
      this.hellos.push(hello.hello);
      if ('resumeWhen' in step) {
        const resumed = welcomeFor(hello.hello, hello.hello.resume!.tunnel, true, 30_000);
        void step.resumeWhen.then(() =>
          ws.send(encodeFrame({ type: FrameType.Welcome, stream: 0, welcome: resumed })),
        );
        return;
      }
      // A fresh tunnel every time: this gateway never resumes (it is a new process).
      const welcome = welcomeFor(
        hello.hello,
        `tun_${this.connections}`,
        false,
        step.resumeGraceMs ?? 30_000,
        step.maxStreams,
      );
      ws.send(encodeFrame({ type: FrameType.Welcome, stream: 0, welcome }));
      // Every stream echoes what it gets.
      const session = new TunnelSession({
        open: (stream) => {
          stream.acknowledgeOpen('echo');
          stream.onData = (chunk) => {
            stream.write(chunk);
            stream.consumed(chunk.length);
          };
          stream.onEnd = () => stream.end();
        },
      });
      session.attach((frame) => ws.send(frame));
      ws.on('message', (frame: Buffer) => {
        if (frame[0] === FrameType.Window) this.windowFrames++;
        if (frame[0] === FrameType.Open) this.opens++;
        session.receive(frame);
      });
      ws.on('close', () => session.detach());
    });
  }
}

/** The CLI's output, with a way to wait for a line (no sleeps). */
function recordingIo(): CliIo & { text: () => string; waitFor: (pattern: RegExp) => Promise<void> } {
  let text = '';
  const waiters: Array<() => void> = [];
  const add = (t: string) => {
    text += t;
    waiters.splice(0).forEach((w) => w());
  };
  return {
    out: add,
    err: add,
    env: {},
    text: () => text,
    async waitFor(pattern) {
      while (!pattern.test(text)) await new Promise<void>((r) => waiters.push(r));
    },
  };
}

/**
 * Starts `gateway` and a ForwardClient of pod/echo:7 on a free local port through it (both
 * stopped after the test); resolves with the CLI's output and that port.
 */
async function forwardThrough(
  gateway: FakeGateway,
): Promise<{ io: ReturnType<typeof recordingIo>; port: number }> {
  gateways.push(gateway);
  await gateway.listen();
  const io = recordingIo();
  const client = new ForwardClient(
    { server: new URL(`http://127.0.0.1:${gateway.port}`), token: 'token' },
    [
      {
        target: { namespace: 'default', kind: 'pod', name: 'echo' },
        ports: [{ local: 0, remote: 7, protocol: 'tcp' }],
        addresses: ['127.0.0.1'],
      },
    ],
    io,
  );
  clients.push(client);
  await client.start();
  const port = Number(/Forwarding from 127\.0\.0\.1:(\d+)/.exec(io.text())![1]);
  return { io, port };
}

/** Connects to the local listener, sends `text`, resolves with the socket once it is echoed. */
async function echoed(port: number, text: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  let got = '';
  await new Promise<void>((done, fail) => {
    socket.on('error', fail);
    socket.setEncoding('utf8').on('data', (c: string) => {
      got += c;
      if (got === text) done();
    });
    socket.write(text);
  });
  return socket;
}

const gateways: FakeGateway[] = [];
const clients: ForwardClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.stop(0);
  for (const g of gateways.splice(0)) await g.kill();
});

describe('ForwardClient flow control', () => {
  it('an older gateway (no clientWindow in its Welcome) sends only LIMITS.initialWindow ahead: the CLI grants credit by that window, not by the larger one its Hello asked for', async () => {
    // Granting by 2 MiB against a gateway that sends 512 KiB ahead turns every download into
    // stop-and-wait and stalls a UDP flow whose datagrams never fill the last bytes of credit.
    const gateway = new FakeGateway([{ welcome: true }]);
    const { port } = await forwardThrough(gateway);
    expect(gateway.hellos[0].window).toBe(LIMITS.maxWindow);
    (await echoed(port, 'x'.repeat(1024 * 1024))).destroy();
    // 1 MiB at a quarter of 512 KiB per Window: one per 128 KiB consumed, less the last (by 2 MiB: one per 512 KiB).
    expect(gateway.windowFrames).toBeGreaterThanOrEqual(4);
  }, 30_000);
});

describe('ForwardClient stream limit', () => {
  it("keeps connections past the Welcome's maxStreams waiting (the gateway would reset them) and opens them as streams close", async () => {
    const gateway = new FakeGateway([{ welcome: true, maxStreams: 2 }]);
    const { io, port } = await forwardThrough(gateway);
    const first = await echoed(port, 'one');
    const second = await echoed(port, 'two');
    const third = echoed(port, 'three');
    await io.waitFor(/2 connections open, the gateway's limit for one tunnel; new ones wait/);
    expect(gateway.opens).toBe(2);
    // One closes: the waiting connection gets its stream and is served.
    first.destroy();
    (await third).destroy();
    expect(gateway.opens).toBe(3);
    second.destroy();
  }, 30_000);
});

describe('ForwardClient reconnect', () => {
  it('a gateway that dies between the upgrade and its Welcome: the CLI retries, then takes a fresh tunnel', async () => {
    const gateway = new FakeGateway([{ welcome: true }, { dieBeforeWelcome: true }, { welcome: true }]);
    const { io, port } = await forwardThrough(gateway);
    (await echoed(port, 'before')).destroy();

    gateway.sockets[0].terminate();
    await io.waitFor(/lost the connection to the gateway/);
    await io.waitFor(/kgw: reconnected \(new tunnel\)/);
    expect(io.text()).toContain('the gateway closed the connection before its Welcome');
    // The retry asked to resume tun_1 (unknown to a new process) and got a fresh tunnel.
    expect(gateway.hellos[1].resume?.tunnel).toBe('tun_1');
    (await echoed(port, 'after')).destroy();
  }, 30_000);

  it('the grace period runs out while a resume is on its way: the resumed tunnel is ended at the gateway (Reset on stream 0), a fresh one taken', async () => {
    let abandoned!: () => void;
    const gateway = new FakeGateway([
      // Long enough for the first retry (at most 375 ms after the loss) to be waiting by then.
      { welcome: true, resumeGraceMs: 3000 },
      { resumeWhen: new Promise<void>((r) => (abandoned = r)) },
    ]);
    const { io, port } = await forwardThrough(gateway);
    const held = await echoed(port, 'held');
    held.on('error', () => undefined);

    gateway.sockets[0].terminate();
    await io.waitFor(/lost the connection to the gateway/);
    // The CLI gives up its connections while its resume attempt waits for the Welcome...
    await io.waitFor(/1 open connection\(s\) closed: the gateway stayed out of reach/);
    expect(gateway.hellos[1].resume?.tunnel).toBe('tun_1');
    // ...which then comes, resuming streams the CLI no longer has.
    abandoned();
    await io.waitFor(/kgw: reconnected \(new tunnel\)/);
    expect(gateway.tunnelResets).toContain(2);
    expect(gateway.hellos[2].resume).toBeUndefined();
    (await echoed(port, 'after')).destroy();
  }, 30_000);

  it('the gateway stays away past its grace period: open connections close, the listener stays, a fresh tunnel serves it', async () => {
    const gateway = new FakeGateway([{ welcome: true, resumeGraceMs: 200 }]);
    const { io, port } = await forwardThrough(gateway);
    const held = await echoed(port, 'held');
    const heldClosed = new Promise<void>((r) => held.once('close', () => r()));
    held.on('error', () => undefined);

    await gateway.kill();
    await io.waitFor(/lost the connection to the gateway/);
    // Closed by the CLI itself while nothing answers: not left hanging.
    await heldClosed;
    expect(io.text()).toMatch(
      /1 open connection\(s\) closed: the gateway stayed out of reach past its 0\.2 s/,
    );

    // The listener still accepts meanwhile; the connection waits for the gateway to return.
    const waiting = echoed(port, 'queued');
    await io.waitFor(/(Handling connection for \d+\n[^]*){2}/);
    const back = new FakeGateway([]);
    gateways.push(back);
    await back.listen(gateway.port);
    (await waiting).destroy();
    await io.waitFor(/kgw: reconnected \(new tunnel\)/);
    // Its streams were given up: the new Hello asked for a fresh tunnel, not a resume.
    expect(back.hellos[0].resume).toBeUndefined();
  }, 30_000);
});
