// Client-to-server WebSocket frames are masked (RFC 6455 §5.3). Without the optional `bufferutil`
// addon, and on Node versions without `http.websocketUnmask`, `ws` unmasks in a JavaScript loop one
// byte at a time, which capped kubectl port-forward through the WebSocket tunnel at about a third
// of plain SPDY. This layer sits between the socket and `ws`: it walks the frame headers, unmasks
// each payload in place 32 bits at a time and zeroes the masking key, which `ws` then skips
// (it unmasks only when the key is non-zero). Nothing else about the frames changes: `ws` still
// validates them (the MASK bit stays set, lengths are untouched) and handles every opcode.
import { Duplex } from 'node:stream';

const enum State {
  First,
  Second,
  Length,
  Mask,
  Payload,
}

/** Unmasks a stream of client frames in place, chunk by chunk, however the frames are split. */
export class FrameUnmasker {
  private state = State.First;
  private masked = false;
  /** Extended-length bytes still to read. */
  private lengthBytes = 0;
  private remaining = 0;
  private readonly mask = new Uint8Array(4);
  private maskBytes = 0;
  /** Position in the mask of the next payload byte. */
  private phase = 0;

  /** Rewrites `chunk` in place (payload unmasked, masking keys zeroed) and returns it. */
  process(chunk: Buffer): Buffer {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.state) {
        case State.First:
          i += 1;
          this.state = State.Second;
          break;
        case State.Second: {
          const byte = chunk[i++];
          this.masked = (byte & 0x80) !== 0;
          const length = byte & 0x7f;
          this.remaining = length < 126 ? length : 0;
          this.lengthBytes = length === 126 ? 2 : length === 127 ? 8 : 0;
          this.maskBytes = 0;
          this.state = this.lengthBytes > 0 ? State.Length : this.afterLength();
          break;
        }
        case State.Length:
          this.remaining = this.remaining * 256 + chunk[i++];
          this.lengthBytes -= 1;
          if (this.lengthBytes === 0) this.state = this.afterLength();
          break;
        case State.Mask:
          this.mask[this.maskBytes++] = chunk[i];
          chunk[i++] = 0;
          if (this.maskBytes === 4) {
            this.phase = 0;
            this.state = this.remaining > 0 ? State.Payload : State.First;
          }
          break;
        case State.Payload: {
          const take = Math.min(this.remaining, n - i);
          if (this.masked) this.unmask(chunk, i, i + take);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = State.First;
          break;
        }
      }
    }
    return chunk;
  }

  private afterLength(): State {
    if (this.masked) return State.Mask;
    // An unmasked client frame passes through untouched; `ws` refuses it.
    return this.remaining > 0 ? State.Payload : State.First;
  }

  private unmask(buffer: Buffer, start: number, end: number): void {
    const mask = this.mask;
    let i = start;
    let phase = this.phase;
    // Bytes up to a 4-byte aligned address, then whole words, then the tail.
    while (i < end && (buffer.byteOffset + i) % 4 !== 0) {
      buffer[i++] ^= mask[phase];
      phase = (phase + 1) & 3;
    }
    const words = (end - i) >>> 2;
    if (words > 0) {
      // Little- or big-endian alike: the word's bytes in memory order are the mask from `phase`.
      const key = Buffer.from([
        mask[phase],
        mask[(phase + 1) & 3],
        mask[(phase + 2) & 3],
        mask[(phase + 3) & 3],
      ]);
      const word = new Uint32Array(key.buffer, key.byteOffset, 1)[0];
      const view = new Uint32Array(buffer.buffer, buffer.byteOffset + i, words);
      for (let w = 0; w < words; w++) view[w] ^= word;
      i += words * 4;
    }
    while (i < end) {
      buffer[i++] ^= mask[phase];
      phase = (phase + 1) & 3;
    }
    this.phase = phase;
  }
}

/**
 * The socket as `ws` sees it: reads come through a FrameUnmasker, writes go straight through.
 * `head` (bytes that arrived with the upgrade request) is unmasked first; give `ws` an empty head.
 */
export class UnmaskingSocket extends Duplex {
  private readonly unmasker = new FrameUnmasker();

  constructor(
    private readonly socket: Duplex,
    head: Buffer,
  ) {
    super({ allowHalfOpen: false });
    if (head.length > 0) this.push(this.unmasker.process(Buffer.from(head)));
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(this.unmasker.process(chunk))) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (error) => this.destroy(error));
    socket.on('close', () => this.destroy());
  }

  setNoDelay(noDelay?: boolean): void {
    (this.socket as { setNoDelay?: (on?: boolean) => void }).setNoDelay?.(noDelay);
  }

  setTimeout(ms: number): this {
    (this.socket as { setTimeout?: (ms: number) => void }).setTimeout?.(ms);
    return this;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.socket.write(chunk)) callback();
    else this.socket.once('drain', () => callback());
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    let writable = true;
    for (const { chunk } of chunks) writable = this.socket.write(chunk);
    if (writable) callback();
    else this.socket.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }
}
