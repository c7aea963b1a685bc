// CommandChannels over the two wires: SPDY streams (typed by their `streamtype` header) and
// WebSocket channels (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize).
import { ChannelWebSocket } from './channel-websocket';
import { KubeStatus } from './kube-status';
import type { TerminalSize } from './pod-shell';
import { CommandChannels, parseResizeMessages } from './remote-command';
import type { SpdySession, SpdyStream } from './spdy-session';

export interface CommandRequest {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** Protocol versions (newest first) and whether they carry a JSON Status; v1/v2 carry text. */
export const REMOTE_COMMAND_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
];

function protocolVersion(protocol: string): number {
  const match = /^v(\d+)\./.exec(protocol);
  return match ? Number(match[1]) : 1;
}

function statusPayload(status: KubeStatus, version: number): Buffer | undefined {
  if (version >= 4) return Buffer.from(JSON.stringify(status));
  // Before v4 the error stream held only an error message; success was silence.
  return status.status === 'Success' ? undefined : Buffer.from(status.message ?? 'command failed');
}

/**
 * Waits for the SPDY streams the client is due to open (error, then stdin/stdout/stderr/resize as
 * asked), then hands over CommandChannels. The kubelet gives the client 30 s to open them.
 */
export function spdyCommandStreamHandler(
  session: () => SpdySession,
  protocol: string,
  request: CommandRequest,
  onReady: (channels: CommandChannels) => void,
): (stream: SpdyStream) => void {
  const version = protocolVersion(protocol);
  const expected = new Set<string>(['error']);
  if (request.stdin) expected.add('stdin');
  if (request.stdout) expected.add('stdout');
  if (request.stderr && !request.tty) expected.add('stderr');
  if (request.tty && version >= 3) expected.add('resize');
  const received = new Map<string, SpdyStream>();
  let started = false;
  const timer = setTimeout(() => {
    if (!started) session().close();
  }, 30_000);
  timer.unref();
  return (stream) => {
    const type = stream.headers.streamtype ?? '';
    if (started || received.has(type)) {
      stream.destroy();
      return;
    }
    received.set(type, stream);
    // Streams we never read from must still be drained, or their FIN is never seen.
    if (type !== 'stdin' && type !== 'resize') stream.resume();
    if ([...expected].every((name) => received.has(name))) {
      started = true;
      clearTimeout(timer);
      onReady(new SpdyCommandChannels(session(), received, request, version));
    }
  };
}

class SpdyCommandChannels implements CommandChannels {
  readonly tty: boolean;
  readonly hasStdin: boolean;
  readonly hasStdout: boolean;
  readonly hasStderr: boolean;
  private finished = false;

  constructor(
    private readonly session: SpdySession,
    private readonly streams: Map<string, SpdyStream>,
    request: CommandRequest,
    private readonly version: number,
  ) {
    this.tty = request.tty;
    this.hasStdin = streams.has('stdin');
    this.hasStdout = streams.has('stdout');
    this.hasStderr = streams.has('stderr');
  }

  onStdin(data: (chunk: Buffer) => void, end: () => void): void {
    const stdin = this.streams.get('stdin');
    if (!stdin) return;
    stdin.on('data', data);
    stdin.on('end', end);
    stdin.on('close', end);
  }

  onResize(listener: (size: TerminalSize) => void): void {
    const resize = this.streams.get('resize');
    if (!resize) return;
    let pending = '';
    resize.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      for (const size of parseResizeMessages(pending)) listener(size);
      pending = pending.slice(pending.lastIndexOf('}') + 1);
      if (pending.length > 4096) pending = '';
    });
  }

  onClientGone(listener: () => void): void {
    const error = this.streams.get('error');
    error?.on('close', () => {
      if (!this.finished) listener();
    });
  }

  writeStdout(data: Buffer): void {
    this.write('stdout', data);
  }

  writeStderr(data: Buffer): void {
    this.write('stderr', data);
  }

  finish(status: KubeStatus): void {
    if (this.finished) return;
    this.finished = true;
    for (const name of ['stdout', 'stderr']) {
      const stream = this.streams.get(name);
      if (stream && !stream.destroyed) stream.end();
    }
    const error = this.streams.get('error');
    const payload = statusPayload(status, this.version);
    if (error && !error.destroyed) {
      if (payload) error.write(payload);
      error.end(() => this.session.close());
    } else {
      this.session.close();
    }
  }

  private write(name: string, data: Buffer): void {
    const stream = this.streams.get(name);
    if (stream && !stream.destroyed && !stream.writableEnded) stream.write(data);
  }
}

export class WebSocketCommandChannels implements CommandChannels {
  readonly hasStdin: boolean;
  readonly hasStdout: boolean;
  readonly hasStderr: boolean;
  private finished = false;
  private stdinListeners: { data: (chunk: Buffer) => void; end: () => void } | undefined;
  private resizeListener: ((size: TerminalSize) => void) | undefined;

  constructor(
    private readonly channel: ChannelWebSocket,
    request: CommandRequest,
    readonly tty: boolean = request.tty,
  ) {
    this.hasStdin = request.stdin;
    this.hasStdout = request.stdout;
    this.hasStderr = request.stderr && !request.tty;
    channel.onChannelData(
      (number, data) => {
        if (number === 0) this.stdinListeners?.data(data);
        else if (number === 4)
          for (const size of parseResizeMessages(data.toString('utf8'))) this.resizeListener?.(size);
      },
      (closed) => {
        if (closed === 0) this.stdinListeners?.end();
      },
    );
  }

  onStdin(data: (chunk: Buffer) => void, end: () => void): void {
    this.stdinListeners = { data, end };
  }

  onResize(listener: (size: TerminalSize) => void): void {
    this.resizeListener = listener;
  }

  onClientGone(listener: () => void): void {
    this.channel.ws.on('close', () => {
      if (!this.finished) listener();
    });
  }

  writeStdout(data: Buffer): void {
    if (this.hasStdout) this.channel.send(1, data);
  }

  writeStderr(data: Buffer): void {
    if (this.hasStderr) this.channel.send(2, data);
  }

  finish(status: KubeStatus): void {
    if (this.finished) return;
    this.finished = true;
    const payload = statusPayload(status, this.channel.version);
    if (payload) this.channel.send(3, payload, () => this.channel.close(1000));
    else this.channel.close(1000);
  }
}
