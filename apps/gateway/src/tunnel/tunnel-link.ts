// A tunnel's WebSocket as its session's send budget sees it (libs/tunnel send-budget.ts): what
// waits in the socket's send buffer counts against the budget, and the gateway stops reading a
// peer that lets answers pile up there. Every frame the peer sends can make the gateway answer (a
// Ping a Pong, an Open a Reset, Data a Window, a WebSocket ping a pong), so a peer that sends
// without reading would otherwise fill the gateway's memory with answers it never takes.
//
// Guards: the gateway's memory against a peer that does not read. Trusts: the socket's 'drain'
// (the buffer emptied: the peer is reading). Refuses: to read more from the peer while
// READ_PAUSE_BYTES of answers may wait for it; reading resumes when the buffer has drained. Data
// frames do not count here (the send budget bounds them): a download whose frames fill the
// buffer must not stop the gateway reading the client's Windows, which would stall it. A
// well-behaved peer always reads, so the buffer drains and nothing waits on what the peer sends.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { TunnelSession } from '@kgw/tunnel';

/**
 * With this many bytes of answers waiting, the gateway stops reading the peer. Small, because tiny
 * answers (a Pong is 13 bytes) cost far more memory than their bytes in Node's write queue (1 MiB
 * of Pongs took about 24 MiB of heap).
 */
export const READ_PAUSE_BYTES = 256 * 1024;

/** Joins `ws` (upgraded on `socket`) to `session`'s send budget; call once per WebSocket. */
export function joinLink(ws: WebSocket, socket: Duplex, session: TunnelSession): void {
  const budget = session.budget;
  const checkBacklog = () => {
    if (!ws.isPaused && budget.answersPiledUp(READ_PAUSE_BYTES)) ws.pause();
  };
  // After the tunnel's own 'message' listener: the answers to this frame are in the buffer.
  ws.on('message', checkBacklog);
  ws.on('ping', (data: Buffer) => {
    budget.answered(data.length + 2); // ws answers with a pong of the same payload
    checkBacklog();
  });
  socket.on('drain', () => {
    if (ws.isPaused) ws.resume();
    session.linkDrained();
  });
}
