// Joins a TCP socket (or any byte stream: the gateway's api mode bridges a port-forward stream
// through the API server) to a tunnel stream, both ways, keeping half-close and backpressure: the
// socket is paused while its stream has a window's worth queued, and bytes written to the socket
// return credit to the peer only once the socket has taken them (its write callback), so a
// reader that stalls holds back exactly its own stream. Used by the gateway (pod side) and the
// CLI (local side). The socket must be created with allowHalfOpen.
import type { Duplex } from 'node:stream';
import { ResetCode } from './frames';
import type { StreamEnd, TunnelStream } from './session';

export interface BridgeCounters {
  /** Bytes read from the socket and handed to the stream. */
  fromSocket: number;
  /** Bytes from the stream written to the socket. */
  toSocket: number;
}

export function bridgeSocket(
  socket: Duplex,
  stream: TunnelStream,
  onClose?: (end: StreamEnd, counters: BridgeCounters) => void,
): BridgeCounters {
  const counters: BridgeCounters = { fromSocket: 0, toSocket: 0 };
  let readEnded = false;

  socket.on('data', (chunk: Buffer) => {
    counters.fromSocket += chunk.length;
    if (!stream.write(chunk)) socket.pause();
  });
  stream.onDrain = () => socket.resume();
  socket.on('end', () => {
    readEnded = true;
    stream.end();
  });

  stream.onData = (chunk) => {
    counters.toSocket += chunk.length;
    if (socket.destroyed) {
      // The local side is gone but ended cleanly; keep the peer moving until its Fin.
      stream.consumed(chunk.length);
      return;
    }
    socket.write(chunk, () => stream.consumed(chunk.length));
  };
  stream.onEnd = () => {
    if (!socket.destroyed) socket.end();
  };

  socket.on('error', () => undefined); // 'close' follows with hadError
  socket.on('close', (hadError?: boolean) => {
    // Closed before its end of data, or on an error: the connection was reset.
    if (hadError || !readEnded) stream.reset(ResetCode.ConnectionReset, 'connection reset');
  });
  stream.onClose = (end) => {
    if (end.code !== undefined && !socket.destroyed) socket.destroy();
    onClose?.(end, counters);
  };
  return counters;
}
