// Data frames written straight onto a WebSocket's socket. ws.send takes a message as one Buffer,
// so every Data frame used to be a fresh 64 KiB allocation with the payload copied behind the
// 5-byte tunnel header. Those allocations, and the bytes each side keeps for a resume, drove
// V8 into major GCs several times a second on both ends of a busy tunnel (a quarter of the CLI's
// CPU in a profile). Here the WebSocket frame header and the tunnel header share one small
// (pooled) buffer and the payload goes out as it came from the socket read; a corked pair of
// writes is one writev, which TLS turns into one record sequence, as ws does itself.
//
// Interleaving with ws's own frames (control frames, Pongs, Close) is safe at frame boundaries:
// without permessage-deflate ws writes each frame synchronously, as this does. Nothing is
// written once the WebSocket is no longer open (its Close may already be on the wire).
import type { Duplex } from 'node:stream';
import { FrameType, HEADER_BYTES } from './frames';

/** What the writer needs of a `ws` WebSocket: its state (OPEN is 1, as in the standard API). */
export interface OpenState {
  readonly readyState: number;
}

const OPEN = 1;
/** FIN + binary opcode. */
const FIN_BINARY = 0x82;

/**
 * Returns `write(stream, payload)` for `socket`, the WebSocket's upgraded socket. `masked`: the
 * client side, which must set the mask bit (RFC 6455 5.3); it uses an all-zero key, which leaves
 * the payload as it is (the CLI's ws.send is configured the same way, see tunnel-client.ts).
 */
export function dataFrameWriter(
  ws: OpenState,
  socket: Duplex,
  masked: boolean,
): (stream: number, payload: Buffer) => void {
  return (stream, payload) => {
    if (ws.readyState !== OPEN) return;
    const length = HEADER_BYTES + payload.length;
    // 7-bit, 16-bit or 64-bit payload length (RFC 6455 5.2), then the key, then our header.
    const lengthBytes = length <= 125 ? 0 : length <= 0xffff ? 2 : 8;
    const head = Buffer.allocUnsafe(2 + lengthBytes + (masked ? 4 : 0) + HEADER_BYTES);
    head[0] = FIN_BINARY;
    const maskBit = masked ? 0x80 : 0;
    let at = 2;
    if (lengthBytes === 0) head[1] = maskBit | length;
    else if (lengthBytes === 2) {
      head[1] = maskBit | 126;
      head.writeUInt16BE(length, 2);
      at = 4;
    } else {
      head[1] = maskBit | 127;
      head.writeUInt32BE(0, 2);
      head.writeUInt32BE(length, 6);
      at = 10;
    }
    if (masked) {
      head.writeUInt32BE(0, at);
      at += 4;
    }
    head[at] = FrameType.Data;
    head.writeUInt32BE(stream, at + 1);
    socket.cork();
    socket.write(head);
    socket.write(payload);
    socket.uncork();
  };
}
