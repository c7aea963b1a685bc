// The client side of SPDY/3.1 as kubectl's port-forward speaks it to the API server (directly
// after an `Upgrade: SPDY/3.1`, or tunnelled in a WebSocket): streams we open with SYN_STREAM,
// whose SYN_REPLY we wait for, DATA both ways, FIN as half-close, RST_STREAM, PING echoed.
//
// Guards: frames from the API server (kubelet). A control frame with another version or over
// MAX_CONTROL_FRAME_BYTES, a data frame over MAX_DATA_FRAME_BYTES, or a truncated control frame
// ends the connection (GOAWAY PROTOCOL_ERROR). Trusts nothing in header blocks: the server's
// are never inflated (a port-forward needs nothing from a SYN_REPLY), so no zlib runs on its
// bytes. A server-initiated SYN_STREAM is refused.
//
// Flow control: SPDY/3.1 has windows, but kubectl and the kubelet (spdystream) never use them,
// so neither do we. Backpressure is the connection's: a stream whose reader is more than
// STREAM_BUFFER_BYTES behind pauses the whole connection until it catches up — every stream to
// that pod waits (the protocol cannot hold back one stream alone).
import { Duplex } from 'node:stream';
import { ByteQueue } from './byte-queue';

const SPDY_VERSION = 3;
const FLAG_FIN = 0x01;
const FRAME_HEADER_BYTES = 8;
const MAX_CONTROL_FRAME_BYTES = 1024 * 1024;
const MAX_DATA_FRAME_BYTES = 16 * 1024 * 1024;
/** Our DATA frames: large enough to keep per-frame costs low, small enough to interleave streams. */
const MAX_DATA_PAYLOAD = 64 * 1024;
/** What one stream may hold unread before the connection pauses (its readable high-water mark). */
const STREAM_BUFFER_BYTES = 1024 * 1024;
const REPLY_TIMEOUT_MS = 30_000;

const enum Control {
  SynStream = 1,
  SynReply = 2,
  RstStream = 3,
  Ping = 6,
  GoAway = 7,
}

const RST_REFUSED_STREAM = 3;
const RST_CANCEL = 5;
const GOAWAY_PROTOCOL_ERROR = 1;

/**
 * Adler-32 of the SPDY/3 header dictionary (draft 3, 2.6.10.1): the DICTID our header blocks
 * announce. We only write stored deflate blocks, which use no dictionary, but the peer's
 * inflater is primed with it and checks the id (spdy-client.spec.ts recomputes it).
 */
export const SPDY3_DICTIONARY_ADLER32 = 0xe3c6a7c2;

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b;
}

function controlFrame(type: Control, flags: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  header.writeUInt16BE(type, 2);
  header.writeUInt32BE(((flags & 0xff) << 24) | payload.length, 4);
  return Buffer.concat([header, payload]);
}

function dataFrameHeader(streamId: number, length: number, fin: boolean): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(streamId & 0x7fffffff, 0);
  header.writeUInt32BE(((fin ? FLAG_FIN : 0) << 24) | length, 4);
  return header;
}

/**
 * Header blocks as one zlib stream of *stored* deflate blocks: valid for any inflater primed
 * with the SPDY dictionary, synchronous, and no compression state to keep. Each block ends with
 * the empty stored block Z_SYNC_FLUSH writes, which Go's inflater needs to hand out the bytes.
 */
class HeaderBlockWriter {
  private started = false;

  encode(headers: Record<string, string>): Buffer {
    const entries = Object.entries(headers);
    const parts: Buffer[] = [u32(entries.length)];
    for (const [name, value] of entries) {
      const n = Buffer.from(name.toLowerCase(), 'utf8');
      const v = Buffer.from(value, 'utf8');
      parts.push(u32(n.length), n, u32(v.length), v);
    }
    const raw = Buffer.concat(parts);
    const out: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      // CMF 0x78 (deflate, 32 KiB window), FLG 0xBB (FDICT set, check bits), then the DICTID.
      out.push(Buffer.from([0x78, 0xbb]), u32(SPDY3_DICTIONARY_ADLER32));
    }
    for (let at = 0; at < raw.length; at += 0xffff) {
      const piece = raw.subarray(at, Math.min(at + 0xffff, raw.length));
      out.push(storedBlock(piece.length), piece);
    }
    out.push(storedBlock(0));
    return Buffer.concat(out);
  }
}

/** A stored (uncompressed) deflate block header: BFINAL=0, BTYPE=00, LEN, NLEN. */
function storedBlock(length: number): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt16LE(length, 1);
  header.writeUInt16LE(~length & 0xffff, 3);
  return header;
}

export class SpdyConnectionError extends Error {
  override readonly name = 'SpdyConnectionError';
}

/** One stream we opened: a Duplex whose readable side is the server's DATA. */
export class SpdyClientStream extends Duplex {
  /** Set when the server reset the stream (or the connection went), so we do not reset it back. */
  resetByPeer = false;

  constructor(
    private readonly session: SpdyClientSession,
    readonly id: number,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: STREAM_BUFFER_BYTES });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.session.sendData(this.id, chunk, false, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.session.sendData(this.id, Buffer.alloc(0), true, callback);
  }

  override _read(): void {
    this.session.caughtUp(this);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.session.forget(this, !this.resetByPeer && !(this.readableEnded && this.writableFinished));
    callback(error);
  }
}

interface PendingOpen {
  stream: SpdyClientStream;
  resolve(stream: SpdyClientStream): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class SpdyClientSession {
  private readonly headers = new HeaderBlockWriter();
  private readonly input = new ByteQueue();
  private nextId = 1;
  private readonly streams = new Map<number, SpdyClientStream>();
  private readonly opening = new Map<number, PendingOpen>();
  /** Streams whose reader is behind: the transport stays paused while any is. */
  private readonly behind = new Set<SpdyClientStream>();
  private readonly waitingForDrain: Array<(error?: Error | null) => void> = [];
  private closed = false;
  /** The server sent GOAWAY: no new streams on this connection. */
  goingAway = false;
  private readonly closeListeners: Array<(error?: Error) => void> = [];

  constructor(
    private readonly transport: Duplex,
    head?: Buffer,
  ) {
    transport.on('data', (chunk: Buffer) => this.receive(chunk));
    transport.on('error', (error: Error) => this.teardown(error));
    transport.on('end', () => this.teardown());
    transport.on('close', () => this.teardown());
    if (head && head.length > 0) process.nextTick(() => this.receive(head));
  }

  /** Open streams, and streams waiting for their SYN_REPLY. */
  get activeStreams(): number {
    return this.streams.size;
  }

  get usable(): boolean {
    return !this.closed && !this.goingAway;
  }

  onClose(listener: (error?: Error) => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  /**
   * Opens a stream with `headers` (and half-closes it at once when `fin`, as kubectl does its
   * error stream: an empty DATA frame with FIN after the SYN_STREAM) and resolves when the server's
   * SYN_REPLY arrives; rejects on RST_STREAM, a closed connection or no reply in 30 s.
   */
  open(headers: Record<string, string>, fin = false): Promise<SpdyClientStream> {
    if (!this.usable) return Promise.reject(new SpdyConnectionError('the SPDY connection is closing'));
    const id = this.nextId;
    this.nextId += 2;
    const stream = new SpdyClientStream(this, id);
    this.streams.set(id, stream);
    const fixed = Buffer.alloc(10);
    fixed.writeUInt32BE(id, 0);
    this.transport.write(
      controlFrame(Control.SynStream, 0, Buffer.concat([fixed, this.headers.encode(headers)])),
    );
    if (fin) stream.end();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.opening.delete(id);
        stream.destroy();
        reject(new SpdyConnectionError('the API server did not answer a new port-forward stream in 30 s'));
      }, REPLY_TIMEOUT_MS);
      timer.unref();
      this.opening.set(id, { stream, resolve, reject, timer });
    });
  }

  /** DATA in frames of at most 64 KiB; calls back when the transport can take more. */
  sendData(id: number, payload: Buffer, fin: boolean, callback: (error?: Error | null) => void): void {
    if (this.closed) return callback(new SpdyConnectionError('the SPDY connection is closed'));
    let writable = true;
    this.transport.cork();
    if (payload.length === 0) {
      writable = this.transport.write(dataFrameHeader(id, 0, fin));
    }
    for (let at = 0; at < payload.length; at += MAX_DATA_PAYLOAD) {
      const end = Math.min(at + MAX_DATA_PAYLOAD, payload.length);
      this.transport.write(dataFrameHeader(id, end - at, fin && end === payload.length));
      writable = this.transport.write(payload.subarray(at, end));
    }
    this.transport.uncork();
    if (writable) return callback();
    // Every stream waiting for the transport, woken by one 'drain' listener.
    this.waitingForDrain.push(callback);
    if (this.waitingForDrain.length === 1)
      this.transport.once('drain', () => {
        for (const waiting of this.waitingForDrain.splice(0)) waiting();
      });
  }

  caughtUp(stream: SpdyClientStream): void {
    if (!this.behind.delete(stream)) return;
    if (this.behind.size === 0 && !this.closed) this.transport.resume();
  }

  forget(stream: SpdyClientStream, sendReset: boolean): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    this.caughtUp(stream);
    if (sendReset && !this.closed) this.transport.write(rstStream(stream.id, RST_CANCEL));
  }

  /** Ends the connection: GOAWAY, then our side of the transport; open streams are reset. */
  close(): void {
    if (this.closed) return;
    this.transport.write(controlFrame(Control.GoAway, 0, Buffer.concat([u32(0), u32(0)])));
    this.transport.end();
    this.teardown();
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.input.push(chunk);
    try {
      while (this.input.length >= FRAME_HEADER_BYTES && !this.closed) {
        const header = this.input.peek(FRAME_HEADER_BYTES);
        const length = header.readUInt32BE(4) & 0xffffff;
        const isControl = (header[0] & 0x80) !== 0;
        if (isControl && (header.readUInt16BE(0) & 0x7fff) !== SPDY_VERSION)
          throw new SpdyConnectionError('the API server spoke another SPDY version');
        if (length > (isControl ? MAX_CONTROL_FRAME_BYTES : MAX_DATA_FRAME_BYTES))
          throw new SpdyConnectionError('oversized SPDY frame from the API server');
        if (this.input.length < FRAME_HEADER_BYTES + length) return;
        this.input.take(FRAME_HEADER_BYTES);
        const payload = this.input.take(length);
        if (isControl) this.control(header.readUInt16BE(2), header[4], payload);
        else this.data(header.readUInt32BE(0) & 0x7fffffff, (header[4] & FLAG_FIN) !== 0, payload);
      }
    } catch (error) {
      this.transport.write(
        controlFrame(Control.GoAway, 0, Buffer.concat([u32(0), u32(GOAWAY_PROTOCOL_ERROR)])),
      );
      this.transport.end();
      this.teardown(error as Error);
    }
  }

  private data(id: number, fin: boolean, payload: Buffer): void {
    const stream = this.streams.get(id);
    if (!stream || stream.readableEnded || stream.destroyed) return;
    if (payload.length > 0 && !stream.push(payload) && !this.behind.has(stream)) {
      this.behind.add(stream);
      this.transport.pause();
    }
    if (fin) stream.push(null);
  }

  private control(type: Control, flags: number, payload: Buffer): void {
    const need = (bytes: number) => {
      if (payload.length < bytes) throw new SpdyConnectionError(`truncated SPDY control frame ${type}`);
    };
    switch (type) {
      case Control.SynReply: {
        need(4);
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        const pending = this.opening.get(id);
        if (!pending) return;
        this.opening.delete(id);
        clearTimeout(pending.timer);
        if ((flags & FLAG_FIN) !== 0) pending.stream.push(null);
        pending.resolve(pending.stream);
        return;
      }
      case Control.RstStream: {
        need(8);
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        const status = payload.readUInt32BE(4);
        const error = new SpdyConnectionError(`the API server reset the stream (SPDY status ${status})`);
        const pending = this.opening.get(id);
        const stream = this.streams.get(id);
        if (stream) stream.resetByPeer = true;
        if (pending) {
          // Nobody holds the stream yet: the promise carries the error.
          this.opening.delete(id);
          clearTimeout(pending.timer);
          pending.reject(error);
          stream?.destroy();
        } else stream?.destroy(error);
        return;
      }
      case Control.SynStream: {
        need(4);
        // The server opening a stream is not part of port-forward.
        this.transport.write(rstStream(payload.readUInt32BE(0) & 0x7fffffff, RST_REFUSED_STREAM));
        return;
      }
      case Control.Ping:
        need(4);
        this.transport.write(controlFrame(Control.Ping, 0, payload.subarray(0, 4)));
        return;
      case Control.GoAway:
        this.goingAway = true;
        return;
      default:
        // SETTINGS, WINDOW_UPDATE, HEADERS and unknown control frames: nothing to do.
        return;
    }
  }

  private teardown(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    const gone = error ?? new SpdyConnectionError('the port-forward connection to the API server closed');
    const pending = [...this.opening.values()];
    this.opening.clear();
    for (const { stream, timer, reject } of pending) {
      clearTimeout(timer);
      stream.resetByPeer = true;
      stream.destroy();
      reject(gone);
    }
    for (const stream of [...this.streams.values()]) {
      stream.resetByPeer = true;
      // A stream that finished both ways is already gone; the rest were cut.
      stream.destroy(gone);
    }
    this.streams.clear();
    if (!this.transport.destroyed) {
      this.transport.end();
      setTimeout(() => this.transport.destroy(), 5000).unref();
    }
    for (const waiting of this.waitingForDrain.splice(0)) waiting(gone);
    for (const listener of this.closeListeners.splice(0)) listener(error);
  }
}

function rstStream(id: number, status: number): Buffer {
  return controlFrame(Control.RstStream, 0, Buffer.concat([u32(id), u32(status)]));
}
