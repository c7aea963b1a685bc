// port-forward to a pod's loopback listeners, over SPDY (also when tunnelled in a WebSocket) and
// over the WebSocket channel protocol.
//
// Guards: the `port` and `requestid` headers / `ports` query from the client. A port must be a
// decimal 1–65535; only the pod's own listeners are ever dialled (the pod's own address and port,
// or 127.0.0.1 and a port we allocated), so a client cannot reach anything else on this host through a forward. Unpaired
// streams are dropped after 30 s, like the kubelet's stream-creation timeout.
import * as net from 'node:net';
import { ChannelWebSocket } from './channel-websocket';
import type { PodRuntime } from './pod-backends';
import type { SpdyStream } from './spdy-session';

const STREAM_PAIR_TIMEOUT_MS = 30_000;

/** Connects to a pod port, or explains the failure in the kubelet's (containerd's) words. */
export function dialPodPort(
  runtime: PodRuntime,
  port: number,
  onResult: (error: string | undefined, socket?: net.Socket) => void,
): void {
  const refused = (detail: string): string => {
    const sandbox = runtime.pod.uid.replace(/-/g, '').padEnd(64, '0').slice(0, 64);
    return (
      `error forwarding port ${port} to pod ${sandbox}, uid : failed to execute portforward in network namespace ` +
      `"/var/run/netns/cni-${runtime.pod.uid}": failed to connect to localhost:${port} inside namespace "${sandbox}", ` +
      `IPv4: dial tcp4 127.0.0.1:${port}: ${detail} IPv6 dial tcp6 [::1]:${port}: ${detail} `
    );
  };
  const backend = runtime.backendFor(port);
  if (!backend) {
    onResult(refused('connect: connection refused'));
    return;
  }
  const socket = net.connect({ host: backend.host, port: backend.port, allowHalfOpen: true });
  const onError = (error: NodeJS.ErrnoException): void => {
    onResult(refused(error.code === 'ECONNREFUSED' ? 'connect: connection refused' : error.message));
  };
  socket.once('error', onError);
  socket.once('connect', () => {
    socket.off('error', onError);
    socket.setNoDelay(true);
    onResult(undefined, socket);
  });
}

function parsePort(value: string | undefined): number | undefined {
  if (!value || !/^\d{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** Pipes a forwarded connection both ways, keeping each direction's half-close. */
function splice(stream: SpdyStream, socket: net.Socket): void {
  stream.pipe(socket);
  socket.pipe(stream);
  socket.on('error', () => stream.destroy());
  stream.on('error', () => socket.destroy());
  // The client reset the stream (or the connection went): drop the pod side at once.
  stream.on('close', () => {
    if (!socket.destroyed && !(stream.readableEnded && stream.writableFinished)) socket.destroy();
  });
}

/** Pairs the error and data streams of each forwarded connection (by `requestid`) and serves them. */
export function spdyPortForwardStreamHandler(runtime: PodRuntime): (stream: SpdyStream) => void {
  const pairs = new Map<string, { error?: SpdyStream; data?: SpdyStream; timer: NodeJS.Timeout }>();
  const serve = (requestId: string): void => {
    const pair = pairs.get(requestId);
    if (!pair?.error || !pair.data) return;
    clearTimeout(pair.timer);
    pairs.delete(requestId);
    const { error, data } = pair;
    const port = parsePort(data.headers.port);
    if (port === undefined) {
      error.end(`invalid port header: ${JSON.stringify(data.headers.port ?? '')}`);
      data.end();
      return;
    }
    dialPodPort(runtime, port, (message, socket) => {
      if (message || !socket) {
        // kubectl prints this as "an error occurred forwarding L -> P: <message>".
        error.end(message);
        data.end();
        data.resume();
        return;
      }
      error.end();
      splice(data, socket);
    });
  };
  return (stream) => {
    const type = stream.headers.streamtype;
    // Pre-requestid clients (kubectl < 1.4) paired by order; everyone today sends requestid.
    const requestId = stream.headers.requestid ?? '';
    if (type !== 'error' && type !== 'data') {
      stream.destroy();
      return;
    }
    if (type === 'error') stream.resume();
    let pair = pairs.get(requestId);
    if (!pair) {
      const timer = setTimeout(() => {
        const stale = pairs.get(requestId);
        pairs.delete(requestId);
        stale?.error?.destroy();
        stale?.data?.destroy();
      }, STREAM_PAIR_TIMEOUT_MS);
      timer.unref();
      pair = { timer };
      pairs.set(requestId, pair);
    }
    if (pair[type]) {
      stream.destroy();
      return;
    }
    pair[type] = stream;
    serve(requestId);
  };
}

/** `?ports=80,8080` (client-node) or repeated `port=` (kubelet's name). */
export function parseWebSocketForwardPorts(query: URLSearchParams): number[] | string {
  const raw = [...query.getAll('ports'), ...query.getAll('port')].flatMap((value) => value.split(','));
  if (raw.length === 0) return 'query parameter "port" is required';
  const ports: number[] = [];
  for (const value of raw) {
    const port = parsePort(value.trim());
    if (port === undefined) return `unable to parse "${value}" as a port: invalid port`;
    ports.push(port);
  }
  return ports;
}

/**
 * The channel protocol: port i has data channel 2i and error channel 2i+1, each opened by a
 * message carrying the port as u16 little-endian. One WebSocket per TCP connection; it closes
 * when every port's connection is done.
 */
export function serveWebSocketPortForward(
  channel: ChannelWebSocket,
  runtime: PodRuntime,
  ports: number[],
): void {
  const sockets: Array<net.Socket | undefined> = [];
  // Client data that arrives before the dial completes waits here (bounded by ws maxPayload per message).
  const early: Buffer[][] = ports.map(() => []);
  let open = ports.length;
  const oneDone = (): void => {
    open -= 1;
    if (open <= 0) channel.close(1000);
  };
  ports.forEach((port, index) => {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port);
    channel.send(2 * index, prefix);
    channel.send(2 * index + 1, prefix);
    dialPodPort(runtime, port, (message, socket) => {
      if (message || !socket) {
        channel.send(2 * index + 1, message ?? 'dial failed');
        oneDone();
        return;
      }
      if (channel.ws.readyState !== channel.ws.OPEN) {
        socket.destroy();
        return;
      }
      sockets[index] = socket;
      for (const chunk of early[index]) socket.write(chunk);
      early[index] = [];
      socket.on('data', (chunk: Buffer) => {
        // Backpressure: stop reading the pod while ws has a lot queued for the client.
        channel.send(2 * index, chunk);
        if (channel.ws.bufferedAmount > 4 * 1024 * 1024) {
          socket.pause();
          const waitForDrain = (): void => {
            if (channel.ws.bufferedAmount > 1024 * 1024 && channel.ws.readyState === channel.ws.OPEN)
              setTimeout(waitForDrain, 5);
            else socket.resume();
          };
          setTimeout(waitForDrain, 5);
        }
      });
      socket.on('end', oneDone);
      socket.on('error', (error) => {
        channel.send(2 * index + 1, error.message);
        oneDone();
      });
    });
  });
  channel.onChannelData((number, data) => {
    if (number % 2 !== 0) return;
    const index = number / 2;
    if (index >= ports.length) return;
    const socket = sockets[index];
    if (!socket) {
      early[index].push(Buffer.from(data));
      return;
    }
    if (!socket.destroyed && !socket.destroyed && !socket.write(data)) {
      channel.ws.pause();
      socket.once('drain', () => channel.ws.resume());
    }
  });
  channel.ws.on('close', () => {
    for (const socket of sockets) socket?.destroy();
  });
}
