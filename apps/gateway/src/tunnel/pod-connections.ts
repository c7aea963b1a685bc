// How a tunnel stream reaches its pod, in either mode (KGW_FORWARD_MODE):
// - direct: a TCP connection (or connected UDP socket) to the pod IP from the pod's status;
// - api: a port-forward stream through the API server under the caller's identity, on one
//   upstream connection per pod that every stream of the tunnel to that pod shares
//   (ApiPortForwards), closed when it has carried nothing for a while.
//
// Guards: the pod network. The address dialled in direct mode is always the pod IP the API
// server reported, never anything the client names; in api mode the API server authorizes the
// impersonated caller again for every upstream connection.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { PortForwardRefused, type PodPortForward, type PortForwardStream } from '@kgw/kube';
import {
  ResetCode,
  bridgeDatagrams,
  bridgeSocket,
  type BridgeCounters,
  type StreamEnd,
  type TunnelStream,
} from '@kgw/tunnel';
import { TargetError, type PodEndpoint } from './forward-targets';

/** A connection to a pod port, TCP or UDP, ready to be joined to its stream. */
export interface PodConnection {
  bridge(stream: TunnelStream, onClose: (end: StreamEnd, counters: BridgeCounters) => void): void;
  destroy(): void;
}

/** Connects to the pod (direct mode); a failure is a Refused TargetError in the kubelet's words. */
export async function dialDirect(pod: PodEndpoint): Promise<PodConnection> {
  const socket = await dialTcp(pod);
  return {
    bridge: (stream, onClose) => bridgeSocket(socket, stream, onClose),
    destroy: () => socket.destroy(),
  };
}

/**
 * A UDP socket connected to the pod port (direct mode): it takes datagrams from that address
 * only. One per flow, so the pod sees each local client as its own source port.
 */
export function dialDirectUdp(pod: PodEndpoint): Promise<PodConnection> {
  const socket = dgram.createSocket(net.isIPv6(pod.ip) ? 'udp6' : 'udp4');
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    socket.close();
  };
  return new Promise((resolve, reject) => {
    socket.once('error', (err) => {
      close();
      reject(new TargetError(ResetCode.Refused, `dial udp ${pod.ip}:${pod.port}: ${err.message}`));
    });
    socket.connect(pod.port, pod.ip, () => {
      socket.removeAllListeners('error');
      resolve({
        bridge(stream, onClose) {
          const bridge = bridgeDatagrams(
            { send: (datagram, done) => socket.send(datagram, done), close },
            stream,
            onClose,
          );
          socket.on('message', (datagram) => bridge.fromSocket(datagram));
          // ECONNREFUSED: the pod answered "port unreachable" to an earlier datagram.
          socket.on('error', (err) =>
            stream.reset(ResetCode.Refused, `udp ${pod.ip}:${pod.port}: ${err.message}`),
          );
        },
        destroy: close,
      });
    });
  });
}

function dialTcp(pod: PodEndpoint): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: pod.ip, port: pod.port, allowHalfOpen: true });
    socket.setNoDelay(true);
    socket.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new TargetError(
          ResetCode.Refused,
          `dial tcp ${pod.ip}:${pod.port}: connect: ${err.code === 'ECONNREFUSED' ? 'connection refused' : err.message}`,
        ),
      ),
    );
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/** Opens the upstream port-forward connection to one pod (as the tunnel's caller). */
export type OpenPortForward = (namespace: string, pod: string) => Promise<PodPortForward>;

/** How long an upstream connection with no stream stays open for the next one. */
const IDLE_CLOSE_MS = 30_000;

/** api mode: one tunnel's upstream connections, one per pod, shared by its streams. */
export class ApiPortForwards {
  private readonly byPod = new Map<string, Promise<PodPortForward>>();
  private readonly idle = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly open: OpenPortForward,
    private readonly idleCloseMs = IDLE_CLOSE_MS,
  ) {}

  /** A stream to `pod`'s port on the pod's shared connection (a new one if it went away). */
  async dial(namespace: string, pod: PodEndpoint): Promise<PodConnection & { wire: string }> {
    const key = `${namespace}/${pod.pod}`;
    let stream: PortForwardStream | undefined;
    let connection: PodPortForward | undefined;
    // A connection that closed (or got GOAWAY) since it was last used: one retry on a new one.
    for (let attempt = 0; !stream; attempt++) {
      connection = await this.connection(key, namespace, pod.pod);
      try {
        stream = await connection.connect(pod.port);
      } catch (error) {
        if (connection.usable || attempt > 0) throw asTargetError(error);
      }
    }
    const { data, failure } = stream;
    const shared = connection!;
    return {
      wire: shared.wire,
      bridge: (tunnelStream, onClose) => {
        bridgeSocket(data, tunnelStream, (end, counters) => {
          this.released(key, shared);
          onClose(end, counters);
        });
        // The kubelet could not connect (or the connection failed): say why, in its words.
        void failure.then((text) => {
          if (text !== undefined) tunnelStream.reset(ResetCode.Refused, text);
        });
      },
      destroy: () => {
        data.destroy();
        this.released(key, shared);
      },
    };
  }

  closeAll(): void {
    this.closed = true;
    for (const timer of this.idle.values()) clearTimeout(timer);
    this.idle.clear();
    for (const pending of this.byPod.values())
      pending.then(
        (c) => c.close(),
        () => undefined,
      );
    this.byPod.clear();
  }

  private connection(key: string, namespace: string, pod: string): Promise<PodPortForward> {
    if (this.closed) return Promise.reject(new TargetError(ResetCode.GoingAway, 'the tunnel is closing'));
    clearTimeout(this.idle.get(key));
    this.idle.delete(key);
    const existing = this.byPod.get(key);
    if (existing) {
      const ready = existing.then((c) => (c.usable ? c : this.reopen(key, namespace, pod, existing)));
      return ready;
    }
    return this.reopen(key, namespace, pod, undefined);
  }

  private reopen(
    key: string,
    namespace: string,
    pod: string,
    previous: Promise<PodPortForward> | undefined,
  ): Promise<PodPortForward> {
    // Concurrent callers that saw the same dead connection share one new one.
    const current = this.byPod.get(key);
    if (current && current !== previous) return current;
    const opening = this.open(namespace, pod).catch((error: unknown) => {
      if (this.byPod.get(key) === opening) this.byPod.delete(key);
      throw asTargetError(error);
    });
    this.byPod.set(key, opening);
    void opening.then((connection) =>
      connection.onClose(() => {
        if (this.byPod.get(key) === opening) this.byPod.delete(key);
      }),
    );
    return opening;
  }

  /** A stream ended: close the pod's connection once nothing used it for a while. */
  private released(key: string, connection: PodPortForward): void {
    if (this.closed || this.idle.has(key)) return;
    const check = () => {
      this.idle.delete(key);
      // Closing it also forgets it (the close listener set in reopen).
      if (connection.activeStreams === 0) connection.close();
    };
    const timer = setTimeout(check, this.idleCloseMs);
    timer.unref();
    this.idle.set(key, timer);
  }
}

function asTargetError(error: unknown): TargetError {
  if (error instanceof TargetError) return error;
  if (error instanceof PortForwardRefused) {
    const code =
      error.statusCode === 403
        ? ResetCode.Forbidden
        : error.statusCode === 404
          ? ResetCode.NotFound
          : ResetCode.Refused;
    return new TargetError(code, error.message);
  }
  return new TargetError(
    ResetCode.Refused,
    `port-forward through the API server failed: ${(error as Error).message}`,
  );
}
