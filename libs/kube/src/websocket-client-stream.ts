// The client side of WebSocket framing (RFC 6455) on a connection the API server upgraded, as
// one byte stream: the tunnelled port-forward (`SPDY/3.1+portforward.k8s.io`) carries a SPDY
// byte stream cut into binary messages anywhere, so message boundaries mean nothing here.
// Hand-written because the `ws` client refuses that subprotocol name (`/` is not a token
// character) and would open its own connection instead of the upstream client's.
//
// Guards: frames from the API server. A masked frame, a reserved bit, an unknown opcode, a
// control frame over 125 bytes or a frame longer than MAX_FRAME_BYTES is a protocol error: the
// connection is closed (1002) and the stream destroyed. Trusts: nothing in the payload (the SPDY
// reader checks it). Masking: every frame we send carries an all-zero masking key, so the
// payload goes out as it is (no byte-by-byte pass in JavaScript). Masking protects proxies from
// frames a browser script crafts; no untrusted script runs here and the connection is TLS to
// the API server — the same choice as the kgw CLI's tunnel.
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { ByteQueue } from './byte-queue';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_FRAME_BYTES = 16 * 1024 * 1024;

const enum Opcode {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xa,
}

/** A fresh Sec-WebSocket-Key and the Sec-WebSocket-Accept the server must answer with. */
export function webSocketKey(): { key: string; accept: string } {
  const key = randomBytes(16).toString('base64');
  return {
    key,
    accept: createHash('sha1')
      .update(key + GUID)
      .digest('base64'),
  };
}

/** The request headers of a WebSocket upgrade offering `protocol`. */
export function webSocketUpgradeHeaders(key: string, protocol: string): Record<string, string> {
  return {
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-version': '13',
    'sec-websocket-key': key,
    'sec-websocket-protocol': protocol,
  };
}

/** Header of a final, masked frame of `length` bytes whose masking key is zero. */
function frameHeader(opcode: Opcode, length: number): Buffer {
  let header: Buffer;
  if (length < 126) {
    header = Buffer.alloc(6);
    header[1] = 0x80 | length;
  } else if (length < 0x10000) {
    header = Buffer.alloc(8);
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(14);
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  header[0] = 0x80 | opcode;
  return header;
}

/**
 * The binary payload of the WebSocket on `socket`, both ways: each write (or corked batch of
 * writes) goes out as one binary message; every data frame's payload is read as it arrives.
 */
export class WebSocketClientStream extends Duplex {
  private readonly input = new ByteQueue();
  /** The frame being read: its opcode and payload bytes still to come (data frames stream through). */
  private frame: { opcode: Opcode; left: number; control: Buffer[] } | undefined;
  private closeSent = false;

  constructor(
    private readonly socket: Socket,
    head: Buffer,
  ) {
    super({ allowHalfOpen: false });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('end', () => this.push(null));
    socket.on('error', (error) => this.destroy(error));
    socket.on('close', () => this.destroy());
    if (head.length > 0) process.nextTick(() => this.receive(head));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.send(Opcode.Binary, [chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.send(
      Opcode.Binary,
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.sendClose(1000);
    this.socket.end(callback);
  }

  override _read(): void {
    this.socket.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }

  private send(opcode: Opcode, payload: Buffer[], callback?: (error?: Error | null) => void): void {
    if (this.socket.destroyed) return callback?.(new Error('the WebSocket to the API server is closed'));
    const length = payload.reduce((sum, b) => sum + b.length, 0);
    this.socket.cork();
    let writable = this.socket.write(frameHeader(opcode, length));
    for (const piece of payload) writable = this.socket.write(piece);
    this.socket.uncork();
    if (!callback) return;
    if (writable) callback();
    else this.socket.once('drain', () => callback());
  }

  private sendClose(code: number): void {
    if (this.closeSent) return;
    this.closeSent = true;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.send(Opcode.Close, [payload]);
  }

  private fail(reason: string): void {
    this.sendClose(1002);
    this.socket.end();
    this.destroy(new Error(`WebSocket protocol error from the API server: ${reason}`));
  }

  private receive(chunk: Buffer): void {
    this.input.push(chunk);
    while (!this.destroyed) {
      if (!this.frame && !this.readHeader()) return;
      const frame = this.frame!;
      // Data streams through without waiting for the whole frame, a chunk at a time (no copy).
      while (frame.left > 0 && this.input.length > 0) {
        const piece = this.input.take(Math.min(frame.left, this.input.firstChunkLength));
        frame.left -= piece.length;
        if (frame.opcode >= Opcode.Close) frame.control.push(piece);
        else if (!this.push(piece)) this.socket.pause();
      }
      if (frame.left > 0) return;
      this.frame = undefined;
      if (frame.opcode >= Opcode.Close) this.control(frame.opcode, Buffer.concat(frame.control));
    }
  }

  /** Reads a frame header when enough bytes are there; false when more are needed. */
  private readHeader(): boolean {
    if (this.input.length < 2) return false;
    const start = this.input.peek(Math.min(this.input.length, 10));
    const opcode = (start[0] & 0x0f) as Opcode;
    if ((start[0] & 0x70) !== 0) return this.failed('reserved bits set');
    if ((start[1] & 0x80) !== 0) return this.failed('masked frame from the server');
    if (![0, 1, 2, 8, 9, 10].includes(opcode)) return this.failed(`unknown opcode ${opcode}`);
    let length = start[1] & 0x7f;
    let headerBytes = 2;
    if (length === 126) {
      if (start.length < 4) return false;
      length = start.readUInt16BE(2);
      headerBytes = 4;
    } else if (length === 127) {
      if (start.length < 10) return false;
      const long = start.readBigUInt64BE(2);
      if (long > BigInt(MAX_FRAME_BYTES)) return this.failed('frame too long');
      length = Number(long);
      headerBytes = 10;
    }
    if (opcode >= Opcode.Close && (length > 125 || (start[0] & 0x80) === 0))
      return this.failed('bad control frame');
    if (length > MAX_FRAME_BYTES) return this.failed('frame too long');
    this.input.take(headerBytes);
    this.frame = { opcode, left: length, control: [] };
    return true;
  }

  private failed(reason: string): false {
    this.fail(reason);
    return false;
  }

  private control(opcode: Opcode, payload: Buffer): void {
    if (opcode === Opcode.Ping) this.send(Opcode.Pong, [payload]);
    else if (opcode === Opcode.Close) {
      // The server is done: answer the close and end both ways.
      this.sendClose(1000);
      this.socket.end();
      this.push(null);
    }
  }
}
