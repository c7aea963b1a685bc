// The CLI side of `kgw forward`: one WebSocket to /kgw/v1/forward carrying every local
// connection as a stream (protocol: libs/tunnel/README.md). Local listeners stay up when the
// WebSocket drops: the client reconnects with backoff and resumes the open connections on the
// same gateway replica within its grace period; connections accepted meanwhile wait, paused,
// and go out once it is back. Reset codes from the gateway become the CLI's exit codes.
import * as dgram from 'node:dgram';
import type { IncomingMessage } from 'node:http';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import {
  FrameType,
  LIMITS,
  ResetCode,
  SUBPROTOCOL,
  TunnelSession,
  bridgeDatagrams,
  bridgeSocket,
  encodeFrame,
  type BridgeCounters,
  type Hello,
  type TargetRequest,
  type Welcome,
  dataFrameWriter,
} from '@kgw/tunnel';
import { CliError, ExitCode, type CliIo, type ExitCodeValue } from '../cli-outcome';
import { unreachable, type GatewayConnection } from '../gateway-connection';
import type { ForwardSpec } from './forward-specs';

export function exitCodeForReset(code: number | undefined): ExitCodeValue {
  switch (code) {
    case ResetCode.Forbidden:
      return ExitCode.Forbidden;
    case ResetCode.NotFound:
      return ExitCode.NotFound;
    case ResetCode.NoReadyPod:
      return ExitCode.NoReadyPod;
    case ResetCode.Unauthorized:
      return ExitCode.NotLoggedIn;
    case undefined:
    default:
      return ExitCode.Failure;
  }
}

interface Listener {
  server: net.Server;
  target: number;
  local: number;
  remote: number | string;
  address: string;
}

/** What the status line shows (status-line.ts). */
export interface ForwardStatus {
  /** Open local connections and UDP flows. */
  open: number;
  /** Bytes from local clients to the pods, and back, over the whole run. */
  bytesUp: number;
  bytesDown: number;
  /** Times the WebSocket was re-established after a drop. */
  reconnects: number;
  reconnecting: boolean;
}

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000, 10000];
const MAX_WAITING = 1000;
/**
 * The gateway resolves and authorizes every target before its Welcome (a read and a review per
 * pod, each bounded by its API server timeouts): on a slow API server that takes a while, and
 * giving up early only makes the next attempt start over. This bounds a silent, half-open link.
 */
const WELCOME_TIMEOUT_MS = 60_000;
/**
 * What this CLI grants each stream before its Windows (announced in the Hello): the largest the
 * protocol allows. Downloads on one stream were bound by the 512 KiB default on a loaded
 * machine (a Window's round trip through two busy event loops); the memory is the user's own.
 */
const RECEIVE_WINDOW = LIMITS.maxWindow;

/** The Welcome's maxStreams (the gateway's limit per tunnel); absent or malformed: the protocol's. */
function streamLimit(welcome: Welcome | undefined): number {
  const announced = welcome?.limits?.maxStreams;
  if (typeof announced !== 'number' || !Number.isInteger(announced) || announced < 1)
    return LIMITS.maxStreams;
  return Math.min(announced, LIMITS.maxStreams);
}

/** A window from the Welcome, kept within the protocol's bounds; absent: the protocol's default. */
function boundedWindow(announced: unknown): number {
  if (typeof announced !== 'number' || !Number.isInteger(announced)) return LIMITS.initialWindow;
  return Math.min(LIMITS.maxWindow, Math.max(LIMITS.minWindow, announced));
}
/** A UDP flow (one local source address) with no datagram either way for this long ends. */
const UDP_FLOW_IDLE_MS = 60_000;

export class ForwardClient {
  private session!: TunnelSession;
  private ws: WebSocket | undefined;
  private welcome: Welcome | undefined;
  private readonly listeners: Listener[] = [];
  private readonly udpSockets: dgram.Socket[] = [];
  private readonly targets: TargetRequest[] = [];
  private readonly waiting: Array<{ socket: net.Socket; listener: Listener }> = [];
  private stopped = false;
  private reconnecting = false;
  /** Byte counters of open streams (live), and the totals of the finished ones. */
  private readonly live = new Set<BridgeCounters>();
  private readonly totals = { up: 0, down: 0, reconnects: 0 };
  private done!: (code: number) => void;
  readonly finished = new Promise<number>((resolve) => (this.done = resolve));

  constructor(
    private readonly connection: GatewayConnection,
    private readonly specs: ForwardSpec[],
    private readonly io: CliIo,
  ) {
    // One tunnel target per (target, remote port, protocol).
    for (const spec of specs)
      for (const port of spec.ports)
        this.targets.push({ ...spec.target, port: port.remote, protocol: port.protocol });
  }

  /** Connects, checks every target, then listens; throws a CliError when any target fails. */
  async start(): Promise<void> {
    const welcome = await this.connect(undefined);
    const failed = welcome.targets.findIndex((t) => !t.ok);
    if (failed >= 0) {
      const result = welcome.targets[failed];
      this.stop(0);
      throw new CliError(result.message ?? 'the gateway refused the target', exitCodeForReset(result.code));
    }
    let index = 0;
    for (const spec of this.specs)
      for (const port of spec.ports) {
        const target = index++;
        for (const address of spec.addresses)
          if (port.protocol === 'udp') await this.listenUdp(address, port.local, target, port.remote);
          else await this.listen(address, port.local, target, port.remote);
      }
  }

  private async listen(
    address: string,
    local: number,
    target: number,
    remote: number | string,
  ): Promise<void> {
    const listener: Listener = {
      server: net.createServer({ allowHalfOpen: true }),
      target,
      local,
      remote,
      address,
    };
    listener.server.on('connection', (socket) => this.accept(socket, listener));
    await new Promise<void>((resolve, reject) => {
      listener.server.once('error', (err: NodeJS.ErrnoException) => {
        this.stop(0);
        reject(
          new CliError(
            `unable to listen on port ${local}: ${address}:${local}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`,
            err.code === 'EADDRINUSE' || err.code === 'EACCES' ? ExitCode.PortInUse : ExitCode.Failure,
          ),
        );
      });
      listener.server.listen(local, address, () => resolve());
    });
    listener.local = (listener.server.address() as net.AddressInfo).port;
    this.listeners.push(listener);
    const shown = address.includes(':') ? `[${address}]` : address;
    this.io.out(`Forwarding from ${shown}:${listener.local} -> ${remote}\n`);
  }

  /**
   * A UDP port: one socket at address:local; each local source address is a flow (a datagram
   * stream on the tunnel) whose replies go back to that address. Datagrams that arrive while
   * the gateway is out of reach are dropped, as UDP may drop them.
   */
  private async listenUdp(
    address: string,
    local: number,
    target: number,
    remote: number | string,
  ): Promise<void> {
    const socket = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err: NodeJS.ErrnoException) => {
        socket.close();
        this.stop(0);
        reject(
          new CliError(
            `unable to listen on port ${local}/udp: ${address}:${local}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`,
            err.code === 'EADDRINUSE' || err.code === 'EACCES' ? ExitCode.PortInUse : ExitCode.Failure,
          ),
        );
      });
      socket.bind(local, address, () => resolve());
    });
    socket.removeAllListeners('error');
    socket.on('error', () => undefined); // a reply to a client that went away
    this.udpSockets.push(socket);
    const port = socket.address().port;
    const flows = new Map<string, { send(datagram: Buffer): void }>();
    socket.on('message', (datagram, from) => {
      const key = `${from.address}:${from.port}`;
      let flow = flows.get(key);
      if (!flow) {
        if (!this.session.attached || this.reconnecting) return; // dropped, as UDP may
        this.io.out(`Handling UDP flow from ${key} for ${port}\n`);
        flow = this.openFlow(socket, from, target, remote, port, () => flows.delete(key));
        flows.set(key, flow);
      }
      flow.send(datagram);
    });
    const shown = address.includes(':') ? `[${address}]` : address;
    this.io.out(`Forwarding from ${shown}:${port} -> ${remote}/udp\n`);
  }

  private openFlow(
    socket: dgram.Socket,
    from: dgram.RemoteInfo,
    target: number,
    remote: number | string,
    local: number,
    forget: () => void,
  ): { send(datagram: Buffer): void } {
    const stream = this.session.open(target, true);
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => stream.end(), UDP_FLOW_IDLE_MS);
      idle.unref();
    };
    const bridge = bridgeDatagrams(
      {
        send: (datagram, done) => {
          touch();
          socket.send(datagram, from.port, from.address, done);
        },
        close: () => clearTimeout(idle),
      },
      stream,
      (end, counters) => {
        forget();
        this.streamEnded(counters);
        if (end.code !== undefined && end.by === 'peer' && end.code !== ResetCode.GoingAway)
          this.io.err(
            `error: an error occurred forwarding ${local}/udp -> ${remote}/udp: ${end.reason ?? `reset (${end.code})`}\n`,
          );
      },
    );
    this.live.add(bridge.counters);
    touch();
    return {
      send: (datagram) => {
        touch();
        bridge.fromSocket(datagram);
      },
    };
  }

  private accept(socket: net.Socket, listener: Listener): void {
    this.io.out(`Handling connection for ${listener.local}\n`);
    socket.setNoDelay(true);
    const atLimit = this.session.streams.size >= streamLimit(this.welcome);
    if (!this.session.attached || this.reconnecting || atLimit) {
      if (this.waiting.length >= MAX_WAITING) return void socket.destroy();
      if (atLimit && this.waiting.length === 0 && this.session.attached)
        this.io.err(
          `kgw: ${this.session.streams.size} connections open, the gateway's limit for one tunnel; new ones wait for one to close\n`,
        );
      socket.pause();
      this.waiting.push({ socket, listener });
      return;
    }
    this.openStream(socket, listener);
  }

  /**
   * Opens streams for waiting connections while the tunnel is up and under the gateway's
   * stream limit (a stream past it would be reset: the connection waits instead).
   */
  private openWaiting(): void {
    while (
      this.waiting.length > 0 &&
      !this.stopped &&
      !this.session.isClosed &&
      this.session.attached &&
      !this.reconnecting &&
      this.session.streams.size < streamLimit(this.welcome)
    ) {
      const { socket, listener } = this.waiting.shift()!;
      if (!socket.destroyed) this.openStream(socket, listener);
    }
  }

  private openStream(socket: net.Socket, listener: Listener): void {
    const stream = this.session.open(listener.target);
    const counters = bridgeSocket(socket, stream, (end) => {
      this.streamEnded(counters);
      if (end.code !== undefined && end.by === 'peer' && end.code !== ResetCode.GoingAway)
        this.io.err(
          `error: an error occurred forwarding ${listener.local} -> ${listener.remote}: ${end.reason ?? `reset (${end.code})`}\n`,
        );
    });
    if (!stream.isClosed) this.live.add(counters);
    socket.resume();
  }

  private streamEnded(counters: BridgeCounters): void {
    if (!this.live.delete(counters)) return;
    this.totals.up += counters.fromSocket;
    this.totals.down += counters.toSocket;
  }

  /** Connections, bytes each way (open streams included), reconnects. */
  status(): ForwardStatus {
    let up = this.totals.up;
    let down = this.totals.down;
    for (const c of this.live) {
      up += c.fromSocket;
      down += c.toSocket;
    }
    return {
      open: this.live.size,
      bytesUp: up,
      bytesDown: down,
      reconnects: this.totals.reconnects,
      reconnecting: this.reconnecting,
    };
  }

  /** Opens a WebSocket and exchanges Hello/Welcome; resumes `resume` when given. */
  private connect(resume: Hello['resume']): Promise<Welcome> {
    const url = new URL('/kgw/v1/forward', this.connection.server);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url, SUBPROTOCOL, {
      headers: { authorization: `Bearer ${this.connection.token}` },
      ...(this.connection.caPem ? { ca: this.connection.caPem } : {}),
      perMessageDeflate: false,
      maxPayload: 5 + Math.max(LIMITS.maxDataPayload, LIMITS.maxControlPayload),
      handshakeTimeout: 15_000,
      // An all-zero masking key: ws then skips masking here and unmasking at the gateway, a
      // byte-by-byte pass over every upload in JavaScript (no native bufferutil) that halved
      // throughput. Masking protects intermediaries from frames a browser script crafts; this
      // client runs no untrusted script, and the connection is TLS end to end.
      generateMask: (mask: Buffer) => void mask.fill(0),
    });
    return new Promise<Welcome>((resolve, reject) => {
      let settled = false;
      const fail = (err: CliError) => {
        if (settled) return;
        settled = true;
        ws.terminate();
        reject(err);
      };
      ws.on('unexpected-response', (_req, res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let message = `the gateway answered ${res.statusCode}`;
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
              message?: string;
              requestId?: string;
            };
            if (body.message)
              message = `${body.message}${body.requestId ? ` (request id ${body.requestId})` : ''}`;
          } catch {
            // not JSON: keep the status line
          }
          const status = res.statusCode ?? 0;
          if (status === 401) fail(new CliError(`${message}; run kgw login again`, ExitCode.NotLoggedIn));
          else if (status === 403) fail(new CliError(message, ExitCode.Forbidden));
          else if (status === 404)
            fail(
              new CliError(`${message}: this gateway has no /kgw/v1/forward (too old?)`, ExitCode.Failure),
            );
          else fail(new CliError(message, status >= 500 ? ExitCode.Unreachable : ExitCode.Failure));
        });
      });
      ws.on('error', (err) => fail(unreachable(this.connection.server, err)));
      // The upgraded socket: Data frames are written to it directly (dataFrameWriter).
      let upgraded: Duplex | undefined;
      ws.once('upgrade', (res: IncomingMessage) => (upgraded = res.socket));
      let welcomeTimer: NodeJS.Timeout | undefined;
      const closedEarly = (code: number): void => {
        clearTimeout(welcomeTimer);
        fail(
          new CliError(
            `the gateway closed the connection before its Welcome (${code})`,
            ExitCode.Unreachable,
          ),
        );
      };
      ws.once('open', () => {
        // Upgraded: from here a failure is a close, not an HTTP answer. A gateway that dies (or
        // is killed) between the upgrade and its Welcome would otherwise leave this attempt, and
        // with it the reconnect loop, waiting forever.
        ws.once('close', closedEarly);
        welcomeTimer = setTimeout(
          () =>
            fail(
              new CliError(
                `no Welcome from the gateway in ${WELCOME_TIMEOUT_MS / 1000} s`,
                ExitCode.Unreachable,
              ),
            ),
          WELCOME_TIMEOUT_MS,
        );
        const hello: Hello = {
          version: 1,
          targets: this.targets,
          window: RECEIVE_WINDOW,
          ...(resume ? { resume } : {}),
        };
        ws.send(encodeFrame({ type: FrameType.Hello, stream: 0, hello }));
      });
      ws.once('message', (data: Buffer) => {
        clearTimeout(welcomeTimer);
        if (settled) return;
        if (data[0] !== FrameType.Welcome)
          return fail(new CliError('the gateway did not answer with a Welcome'));
        const welcome = JSON.parse(data.subarray(5).toString('utf8')) as Welcome;
        if (welcome.resumed && this.session?.isClosed) {
          // The grace period ran out while this attempt was on its way: our side of the streams
          // is gone, and the gateway has just resumed them. End that tunnel there (a Reset on
          // stream 0), or it holds their pod connections for as long as this link lives, and
          // ask for a fresh one.
          const reset = encodeFrame({
            type: FrameType.Reset,
            stream: 0,
            code: ResetCode.GoingAway,
            reason: 'the client gave up the tunnel',
          });
          ws.send(reset, () =>
            fail(
              new CliError('the tunnel came back after its connections were closed', ExitCode.Unreachable),
            ),
          );
          return;
        }
        settled = true;
        ws.off('close', closedEarly);
        this.adopt(ws, welcome, upgraded);
        resolve(welcome);
      });
    });
  }

  /** Takes a new WebSocket (and its Welcome) into use. */
  private adopt(ws: WebSocket, welcome: Welcome, socket: Duplex | undefined): void {
    const previous = this.welcome;
    this.ws = ws;
    this.welcome = welcome;
    if (!welcome.resumed) {
      // A new tunnel: streams of the old one (if any) are gone.
      const lost = this.session ? this.session.streams.size : 0;
      if (this.session) this.session.close(ResetCode.GoingAway, 'the tunnel was not resumed');
      if (previous && lost > 0)
        this.io.err(`kgw: the gateway did not resume the tunnel; ${lost} open connection(s) closed\n`);
      this.session = new TunnelSession(
        {
          dead: () => ws.terminate(),
          protocolError: (err) => ws.close(1002, err.message.slice(0, 120)),
          tunnelReset: (code, reason) => this.onTunnelReset(code, reason),
          forgotten: () => this.openWaiting(),
        },
        {
          // Our Hello's window counts only once the gateway confirms it: an older gateway sends
          // just LIMITS.initialWindow ahead, and a receiver that waits for more before granting
          // a Window would stall it (a UDP flow whose datagrams never fill the last bytes).
          receiveWindow: boundedWindow(welcome.limits?.clientWindow),
          sendWindow: boundedWindow(welcome.limits?.initialWindow),
        },
      );
    }
    this.session.attach((frame) => ws.send(frame), {
      sendData: socket ? dataFrameWriter(ws, socket, true) : undefined,
    });
    if (welcome.resumed) this.session.resume(welcome.streams);
    ws.on('message', (data: Buffer) => {
      if (this.ws === ws) this.session.receive(data);
    });
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.session.detach();
      if (!this.stopped) void this.reconnect(`${code}${reason.length ? ` ${reason.toString()}` : ''}`);
    });
    ws.on('error', () => undefined);
  }

  private onTunnelReset(code: number, reason: string): void {
    if (this.stopped) return;
    this.io.err(`error: the gateway closed the tunnel: ${reason}\n`);
    // Revoked, forbidden now: no point in reconnecting.
    if (code === ResetCode.Unauthorized || code === ResetCode.Forbidden) this.stop(exitCodeForReset(code));
  }

  private async reconnect(why: string): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    this.io.err(`kgw: lost the connection to the gateway (${why}); reconnecting...\n`);
    // Past the gateway's grace period it has closed the pod side of every open stream: close
    // the local side too rather than leave those connections hanging while it stays away.
    const grace = this.welcome?.resumeGraceMs ?? 0;
    const abandon = setTimeout(() => this.abandonStreams(grace), grace);
    abandon.unref();
    try {
      await this.reconnectWithBackoff();
    } finally {
      clearTimeout(abandon);
    }
  }

  private abandonStreams(graceMs: number): void {
    if (!this.reconnecting || this.stopped || this.session.isClosed) return;
    const open = this.session.streams.size;
    this.session.close(ResetCode.GoingAway, 'the gateway was away longer than its resume grace period');
    if (open > 0)
      this.io.err(
        `kgw: ${open} open connection(s) closed: the gateway stayed out of reach past its ${graceMs / 1000} s resume grace period\n`,
      );
  }

  private async reconnectWithBackoff(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      await new Promise((r) => setTimeout(r, base / 2 + Math.random() * base));
      if (this.stopped) return;
      try {
        // A tunnel whose streams were abandoned is not resumed: a fresh one is asked for.
        const welcome = await this.connect(
          this.session.isClosed
            ? undefined
            : {
                tunnel: this.welcome!.tunnel,
                secret: this.welcome!.secret,
                streams: this.session.progress(),
              },
        );
        const failed = welcome.targets.find((t) => !t.ok);
        if (failed && (failed.code === ResetCode.Forbidden || failed.code === ResetCode.Unauthorized)) {
          this.io.err(`error: ${failed.message}\n`);
          return this.stop(exitCodeForReset(failed.code));
        }
        this.io.err(
          welcome.resumed
            ? `kgw: reconnected; ${this.session.streams.size} open connection(s) resumed\n`
            : 'kgw: reconnected (new tunnel)\n',
        );
        this.reconnecting = false;
        this.totals.reconnects++;
        this.openWaiting();
        return;
      } catch (err) {
        const e = err as CliError;
        if (e.exitCode === ExitCode.NotLoggedIn || e.exitCode === ExitCode.Forbidden) {
          this.io.err(`error: ${e.message}\n`);
          return this.stop(e.exitCode);
        }
        if (attempt % 5 === 0) this.io.err(`kgw: still reconnecting (${e.message})\n`);
      }
    }
  }

  /** Stops everything: the tunnel (told to the gateway), listeners, waiting connections. */
  stop(code: number): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.session && !this.session.isClosed) this.session.close(ResetCode.GoingAway, 'the client stopped');
    this.ws?.close(1000);
    for (const l of this.listeners) l.server.close();
    for (const socket of this.udpSockets.splice(0)) socket.close();
    for (const { socket } of this.waiting.splice(0)) socket.destroy();
    this.done(code);
  }
}
