// A tunnel's WebSocket as its session's send budget sees it (libs/tunnel send-budget.ts): what
// waits in the socket's send buffer counts against the budget, and the gateway stops reading a
// peer that lets that buffer grow. Every frame the peer sends can make the gateway answer (a Ping
// a Pong, an Open a Reset, Data a Window, a WebSocket ping a pong), so a peer that sends without
// reading would otherwise fill the gateway's memory with answers it never takes.
//
// Guards: the gateway's memory against a peer that does not read. Trusts: the socket's 'drain'
// (the buffer emptied: the peer is reading). Refuses: to read more from the peer while more than
// READ_PAUSE_BYTES wait for it; reading resumes when the buffer has drained. A well-behaved
// peer always reads, so the buffer drains and nothing waits on anything the peer would send.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { TunnelSession } from '@kgw/tunnel';

/**
 * Past this many bytes in the send buffer the gateway stops reading the peer. Small, because tiny
 * answers (a Pong is 13 bytes) cost far more memory than their bytes in Node's write queue;
 * above a socket's high-water mark (16 KiB), so a 'drain' is sure to follow.
 */
export const READ_PAUSE_BYTES = 1024 * 1024;

/** Joins `ws` (upgraded on `socket`) to `session`'s send budget; call once per WebSocket. */
export function joinLink(ws: WebSocket, socket: Duplex, session: TunnelSession): void {
  const checkBacklog = () => {
    if (ws.bufferedAmount >= READ_PAUSE_BYTES && !ws.isPaused) ws.pause();
  };
  // After the tunnel's own 'message' listener: the answers to this frame are in the buffer.
  ws.on('message', checkBacklog);
  ws.on('ping', checkBacklog);
  socket.on('drain', () => {
    if (ws.isPaused) ws.resume();
    session.linkDrained();
  });
}
