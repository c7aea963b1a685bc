// Joins a UDP socket to a datagram stream (one local flow, or its pod-side socket): each
// datagram is one Data frame, never split or merged. A datagram the stream has no credit for is
// dropped, as UDP may drop it; a datagram written to the socket returns its credit once sent.
// `send` writes one datagram to wherever this flow's datagrams go (a connected pod-side socket,
// or the local client's address on the CLI's shared listening socket).
import { ResetCode } from './frames';
import type { StreamEnd, TunnelStream } from './session';
import type { BridgeCounters } from './socket-bridge';

export interface DatagramFlow {
  /** Sends one datagram to the flow's far end; `done` once it has left this process. */
  send(datagram: Buffer, done: (err?: Error | null) => void): void;
  /** The flow is over (its stream ended): release what it holds. */
  close(): void;
}

export interface DatagramBridge {
  counters: BridgeCounters;
  /** A datagram from the flow's far end, to go through the tunnel. */
  fromSocket(datagram: Buffer): void;
}

export function bridgeDatagrams(
  flow: DatagramFlow,
  stream: TunnelStream,
  onClose?: (end: StreamEnd, counters: BridgeCounters) => void,
): DatagramBridge {
  const counters: BridgeCounters = { fromSocket: 0, toSocket: 0 };
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    flow.close();
  };
  stream.onData = (datagram) => {
    counters.toSocket += datagram.length;
    if (closed) return stream.consumed(datagram.length);
    flow.send(datagram, (err) => {
      stream.consumed(datagram.length);
      // A pod port with no listener answers ICMP "unreachable", which a connected UDP socket
      // reports on a later send: the flow has nowhere to go.
      if (err) stream.reset(ResetCode.Refused, `udp: ${err.message}`);
    });
  };
  // The peer ended the flow (idle, or the CLI stopped): end ours too, which finishes it.
  stream.onEnd = () => {
    close();
    stream.end();
  };
  stream.onClose = (end) => {
    close();
    onClose?.(end, counters);
  };
  return {
    counters,
    fromSocket(datagram) {
      if (closed || stream.isClosed) return;
      counters.fromSocket += datagram.length;
      stream.write(datagram);
    },
  };
}
