// The server side of one SPDY/3.1 connection, as the kubelet's spdystream behaves toward kubectl.
//
// Guards: stream ids and frame order from the client. Refuses even (server-initiated) or
// non-increasing SYN_STREAM ids with RST_STREAM PROTOCOL_ERROR, answers DATA on unknown streams
// with RST_STREAM INVALID_STREAM, and tears the connection down (GOAWAY PROTOCOL_ERROR) on any
// framing error. Trusts nothing about flow control: kubectl never sends WINDOW_UPDATE or SETTINGS,
// so we neither wait for windows nor enforce ours; backpressure is TCP's (a full stream pauses
// the whole transport, the way a slow reader would stall spdystream's connection).
import { Duplex } from 'node:stream';
import {
  encodeDataFrame,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  MAX_DATA_FRAME_PAYLOAD,
  RstStatus,
  SpdyFrame,
  SpdyFrameReader,
  SpdyHeaderCodec,
  SpdyHeaders,
  SpdyProtocolError,
} from './spdy-framing';

const GOAWAY_PROTOCOL_ERROR = 1;

/** One client-initiated stream; a Duplex whose readable side is the client's DATA. */
export class SpdyStream extends Duplex {
  /** Set when the peer reset the stream, so we do not reset it back. */
  resetByPeer = false;

  constructor(
    private readonly session: SpdySession,
    readonly id: number,
    readonly headers: SpdyHeaders,
  ) {
    super({ allowHalfOpen: true });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.session.sendData(this.id, chunk, false, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    // An empty DATA frame with FIN is SPDY's half-close.
    this.session.sendData(this.id, Buffer.alloc(0), true, callback);
  }

  override _read(): void {
    this.session.resumeInput();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.session.forgetStream(this, !(this.writableFinished && this.readableEnded) && !this.resetByPeer);
    callback(error);
  }
}

export interface SpdySessionOptions {
  /** Called once per SYN_STREAM, after the SYN_REPLY went out. */
  onStream(stream: SpdyStream): void;
  /** Called once when the connection is gone. */
  onClose?(): void;
}

export class SpdySession {
  private readonly codec = new SpdyHeaderCodec();
  private readonly reader = new SpdyFrameReader();
  /** Frames wait here while a header block before them inflates (asynchronously). */
  private readonly queue: SpdyFrame[] = [];
  private draining = false;
  private readonly streams = new Map<number, SpdyStream>();
  private lastClientStreamId = 0;
  private closed = false;
  private inputPaused = false;
  private readonly waitingForDrain: Array<(error?: Error | null) => void> = [];

  constructor(
    private readonly transport: Duplex,
    private readonly options: SpdySessionOptions,
    head?: Buffer,
  ) {
    transport.on('data', (chunk: Buffer) => this.receive(chunk));
    transport.on('error', () => this.teardown());
    transport.on('close', () => this.teardown());
    // The client may close its write side after GOAWAY; we still owe it our pending frames.
    transport.on('end', () => this.teardown());
    // Bytes that came with the upgrade request: handled after the constructor returns, so the
    // caller holds the session before any stream handler runs.
    if (head && head.length > 0) process.nextTick(() => this.receive(head));
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Sends DATA in frames of at most 32 KB; calls back when the transport can take more. */
  sendData(streamId: number, payload: Buffer, fin: boolean, callback: (error?: Error | null) => void): void {
    if (this.closed) {
      callback(new Error('SPDY connection closed'));
      return;
    }
    let writable = true;
    if (payload.length === 0) {
      writable = this.transport.write(encodeDataFrame(streamId, payload, fin));
    }
    for (let offset = 0; offset < payload.length; offset += MAX_DATA_FRAME_PAYLOAD) {
      const end = Math.min(offset + MAX_DATA_FRAME_PAYLOAD, payload.length);
      writable = this.transport.write(
        encodeDataFrame(streamId, payload.subarray(offset, end), fin && end === payload.length),
      );
    }
    if (writable) return callback();
    // Every stream waiting for the transport, woken by one 'drain' listener (a port-forward
    // connection may carry a hundred streams).
    this.waitingForDrain.push(callback);
    if (this.waitingForDrain.length === 1)
      this.transport.once('drain', () => {
        for (const waiting of this.waitingForDrain.splice(0)) waiting();
      });
  }

  resumeInput(): void {
    if (this.inputPaused && !this.closed) {
      this.inputPaused = false;
      this.transport.resume();
    }
  }

  forgetStream(stream: SpdyStream, sendReset: boolean): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    if (sendReset && !this.closed) this.transport.write(encodeRstStream(stream.id, RstStatus.Cancel));
  }

  /** Ends the connection politely: GOAWAY, then our half of the transport. */
  close(): void {
    if (this.closed) return;
    this.transport.write(encodeGoAway(this.lastClientStreamId));
    this.transport.end();
    this.teardown();
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    let frames: SpdyFrame[];
    try {
      frames = this.reader.push(chunk);
    } catch (error) {
      if (!(error instanceof SpdyProtocolError)) throw error;
      this.transport.write(encodeGoAway(this.lastClientStreamId, GOAWAY_PROTOCOL_ERROR));
      this.transport.end();
      this.teardown();
      return;
    }
    for (const frame of frames) this.queue.push(frame);
    void this.drain();
  }

  /** Handles queued frames in order; only a SYN_STREAM's header block makes it wait. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const frame = this.queue.shift()!;
        if (frame.kind === 'synStream') {
          const headers = await this.codec.decode(frame.headerBlock);
          if (this.closed) return;
          this.openStream(frame, headers);
        } else if (frame.kind === 'headers' || frame.kind === 'synReply') {
          // Ignored, but its block must still pass through the inflater to keep it in step.
          await this.codec.decode(frame.headerBlock);
        } else {
          this.handle(frame);
        }
      }
    } catch {
      // A bad header block (or anything unexpected) leaves the zlib context unusable: hang up.
      if (!this.closed) this.transport.write(encodeGoAway(this.lastClientStreamId, GOAWAY_PROTOCOL_ERROR));
      this.transport.end();
      this.teardown();
    } finally {
      this.draining = false;
    }
  }

  private openStream(frame: Extract<SpdyFrame, { kind: 'synStream' }>, headers: SpdyHeaders): void {
    if (frame.streamId % 2 === 0 || frame.streamId <= this.lastClientStreamId) {
      this.transport.write(encodeRstStream(frame.streamId, RstStatus.ProtocolError));
      return;
    }
    this.lastClientStreamId = frame.streamId;
    const stream = new SpdyStream(this, frame.streamId, headers);
    this.streams.set(frame.streamId, stream);
    // kubectl drops DATA that arrives before the SYN_REPLY, and waits 30 s for it: reply now.
    this.transport.write(encodeSynReply(this.codec, frame.streamId, {}));
    if (frame.fin) stream.push(null);
    this.options.onStream(stream);
  }

  private handle(frame: SpdyFrame): void {
    switch (frame.kind) {
      case 'synStream':
        return;
      case 'data': {
        const stream = this.streams.get(frame.streamId);
        if (!stream) {
          // A late frame for a stream we already closed both ways is normal; say so once.
          this.transport.write(encodeRstStream(frame.streamId, RstStatus.InvalidStream));
          return;
        }
        if (stream.readableEnded) return;
        if (frame.payload.length > 0 && !stream.push(frame.payload) && !this.inputPaused) {
          this.inputPaused = true;
          this.transport.pause();
        }
        if (frame.fin) stream.push(null);
        return;
      }
      case 'rstStream': {
        const stream = this.streams.get(frame.streamId);
        if (stream) {
          stream.resetByPeer = true;
          stream.destroy();
        }
        return;
      }
      case 'ping':
        this.transport.write(encodePing(frame.id));
        return;
      case 'goAway':
        // kubectl sends GOAWAY as it leaves, then closes the socket; nothing to do until then.
        return;
      case 'headers':
      case 'synReply':
      case 'settings':
      case 'windowUpdate':
      case 'unknown':
        return;
    }
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.codec.close();
    for (const stream of [...this.streams.values()]) {
      stream.resetByPeer = true;
      stream.destroy();
    }
    this.streams.clear();
    if (!this.transport.destroyed) {
      // Give the kernel our last frames, then drop the socket.
      this.transport.end();
      setTimeout(() => this.transport.destroy(), 5000).unref();
    }
    this.options.onClose?.();
  }
}
