// One side of a kgw tunnel, independent of the transport: the streams multiplexed on it, each
// with its own credit in each direction (so a stream whose reader stalls stops only itself), the
// bytes the peer has not yet acknowledged (so streams resume on a new link after a drop), and
// the keepalive. The gateway and the CLI each run one per tunnel; a link (a WebSocket) is
// attached and detached under it. It trusts nothing the peer sends: a frame that breaks the
// protocol resets its stream, or ends the tunnel when it cannot be pinned to one.
import {
  FrameType,
  LIMITS,
  ProtocolError,
  ResetCode,
  decodeFrame,
  HEADER_BYTES,
  encodeData,
  encodeFrame,
  type Frame,
  type Hello,
  type StreamProgress,
  type Welcome,
} from './frames';
import { SendBudget, type RoomWaiter } from './send-budget';

export interface SessionOptions {
  /** Credit each direction of a stream starts with, both ways (default LIMITS.initialWindow). */
  initialWindow?: number;
  /**
   * What the peer grants each of our streams before its first Window: its receive window, as it
   * announced it (the gateway's in the Welcome, the CLI's in the Hello). Default initialWindow.
   */
  sendWindow?: number;
  /** What we grant each of the peer's streams before our first Window (default initialWindow). */
  receiveWindow?: number;
  maxDataPayload?: number;
  maxStreams?: number;
  /**
   * Bytes this side may hold for sending, all streams together (send-budget.ts); default no
   * limit. The gateway sets it: the peer decides how much each stream would otherwise hold.
   */
  sendBudget?: number;
  /** Keepalive: a Ping this often while a link is attached (default 25 s). */
  pingIntervalMs?: number;
  /** No frame from the peer for this long: the link is dead (default 60 s). */
  deadPeerMs?: number;
}

export interface SessionEvents {
  /** Gateway side: the peer opened a stream to target index `target`. */
  open?(stream: TunnelStream, target: number): void;
  /** Gateway side: streams to target index `target` carry datagrams (a UDP target). */
  datagrams?(target: number): boolean;
  hello?(hello: Hello): void;
  welcome?(welcome: Welcome): void;
  /** The peer ended the whole tunnel (Reset on stream 0). */
  tunnelReset?(code: number, reason: string): void;
  /** The peer broke the protocol beyond one stream; the link should be closed. */
  protocolError?(error: ProtocolError): void;
  /** Keepalive expired: nothing heard for deadPeerMs. The link should be closed. */
  dead?(): void;
  /** A stream is gone from `streams` (one less toward the peer's maxStreams). */
  forgotten?(stream: TunnelStream): void;
}

export interface StreamEnd {
  /** Undefined when the stream finished normally (both sides sent Fin). */
  code?: number;
  reason?: string;
  /** Who ended it: this side (`local`) or the peer. */
  by?: 'local' | 'peer';
}

export class TunnelSession {
  readonly streams = new Map<number, TunnelStream>();
  /** The peer's receive window: how far ahead of its Windows we may send, per stream. */
  readonly sendWindow: number;
  /** Our receive window: how far ahead of our Windows the peer may send, per stream. */
  readonly receiveWindow: number;
  readonly maxDataPayload: number;
  readonly maxStreams: number;
  /** What this side holds for sending (pending, retained, the link's buffer), and its limit. */
  readonly budget: SendBudget;
  private link: ((frame: Buffer) => void) | undefined;
  private dataLink: ((stream: number, payload: Buffer) => void) | undefined;
  private lastOpened = 0;
  private lastHeard = Date.now();
  private keepalive: NodeJS.Timeout | undefined;
  private closed = false;
  /** Pings carry a sequence number; a Pong proves the peer has every frame sent before it. */
  private pingSeq = 0;
  private readonly pingIntervalMs: number;
  private readonly deadPeerMs: number;

  constructor(
    private readonly events: SessionEvents = {},
    options: SessionOptions = {},
  ) {
    const window = options.initialWindow ?? LIMITS.initialWindow;
    this.sendWindow = options.sendWindow ?? window;
    this.receiveWindow = options.receiveWindow ?? window;
    this.maxDataPayload = Math.min(options.maxDataPayload ?? LIMITS.maxDataPayload, LIMITS.maxDataPayload);
    this.maxStreams = options.maxStreams ?? LIMITS.maxStreams;
    this.budget = new SendBudget(options.sendBudget ?? Infinity);
    this.pingIntervalMs = options.pingIntervalMs ?? 25_000;
    this.deadPeerMs = options.deadPeerMs ?? 60_000;
  }

  get attached(): boolean {
    return this.link !== undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * A link is up: frames go out through `send`; `buffered` tells how many bytes its send buffer
   * holds (they count against the send budget); Data frames go through `sendData` when given (a
   * writer that frames them without copying the payload: data-frame-writer.ts). Streams resume
   * only after `resume()`.
   */
  attach(
    send: (frame: Buffer) => void,
    link: { buffered?: () => number; sendData?: (stream: number, payload: Buffer) => void } = {},
  ): void {
    this.link = send;
    this.dataLink = link.sendData;
    if (link.buffered) this.budget.useLink(link.buffered);
    this.lastHeard = Date.now();
    clearInterval(this.keepalive);
    if (this.pingIntervalMs > 0) {
      this.keepalive = setInterval(() => this.tick(), this.pingIntervalMs);
      this.keepalive.unref();
    }
  }

  /** The link went down; streams keep their state (and their unacknowledged bytes). */
  detach(): void {
    this.link = undefined;
    this.dataLink = undefined;
    clearInterval(this.keepalive);
    this.keepalive = undefined;
    this.budget.useLink(() => 0);
  }

  /**
   * The link's send buffer emptied (the socket's 'drain'): the peer is reading, so it is alive,
   * and what the buffer held no longer counts against the send budget.
   */
  linkDrained(): void {
    this.lastHeard = Date.now();
    this.budget.linkDrained();
  }

  private tick(): void {
    if (!this.link) return;
    if (Date.now() - this.lastHeard > this.deadPeerMs) {
      this.detach();
      this.events.dead?.();
      return;
    }
    this.ping();
  }

  /** Sends a Ping; returns its sequence number. */
  ping(): number {
    const seq = ++this.pingSeq;
    const payload = Buffer.alloc(8);
    payload.writeBigUInt64BE(BigInt(seq));
    this.sendFrame({ type: FrameType.Ping, stream: 0, payload });
    return seq;
  }

  /** Sends a frame other than Data (those go through sendData, from the streams). */
  sendFrame(frame: Frame): void {
    if (!this.link) return;
    const bytes = encodeFrame(frame);
    this.budget.answered(bytes.length);
    this.link(bytes);
  }

  /** @internal */
  sendData(stream: number, payload: Buffer): void {
    if (this.dataLink) this.dataLink(stream, payload);
    else this.link?.(encodeData(stream, payload));
  }

  /** Client side: opens stream `id` (ids strictly increase) to target index `target`. */
  open(target: number, datagrams = false): TunnelStream {
    const id = ++this.lastOpened;
    const stream = new TunnelStream(this, id, datagrams);
    this.streams.set(id, stream);
    this.sendFrame({ type: FrameType.Open, stream: id, target });
    return stream;
  }

  /** This side's progress on every open stream (sent in a resume Hello or Welcome). */
  progress(): StreamProgress[] {
    return [...this.streams.values()].map((s) => s.progress());
  }

  /**
   * After a new link is attached: continue every stream the peer still has from where the peer
   * stands; end (GoingAway) the ones it no longer has.
   */
  resume(peer: StreamProgress[]): void {
    const theirs = new Map(peer.map((p) => [p.id, p]));
    for (const stream of [...this.streams.values()]) {
      const progress = theirs.get(stream.id);
      if (progress) stream.resumeFrom(progress);
      else stream.endLocally({ code: ResetCode.GoingAway, reason: 'the stream was not resumed', by: 'peer' });
    }
  }

  /** Ends the tunnel: resets every stream (telling the peer when a link is up). */
  close(code: number = ResetCode.GoingAway, reason = 'tunnel closed'): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of [...this.streams.values()]) stream.endLocally({ code, reason, by: 'local' });
    this.sendFrame({ type: FrameType.Reset, stream: 0, code, reason });
    this.detach();
  }

  /** A message from the link. */
  receive(message: Buffer): void {
    this.lastHeard = Date.now();
    let frame: Frame;
    try {
      frame = decodeFrame(message);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      // A frame we cannot read: if it names a stream, reset just that stream.
      const stream = message.length >= 5 ? this.streams.get(message.readUInt32BE(1)) : undefined;
      if (stream) stream.reset(ResetCode.Protocol, err.message);
      else this.events.protocolError?.(err);
      return;
    }
    switch (frame.type) {
      case FrameType.Hello:
        this.events.hello?.(frame.hello);
        return;
      case FrameType.Welcome:
        this.events.welcome?.(frame.welcome);
        return;
      case FrameType.Ping:
        this.sendFrame({ type: FrameType.Pong, stream: 0, payload: frame.payload });
        return;
      case FrameType.Pong: {
        // Every frame sent before that Ping has arrived: finished streams can be forgotten.
        const seq = Number(frame.payload.readBigUInt64BE(0));
        for (const stream of [...this.streams.values()]) stream.pongReceived(seq);
        return;
      }
      case FrameType.Open:
        this.acceptOpen(frame.stream, frame.target);
        return;
      case FrameType.Reset:
        if (frame.stream === 0) {
          this.closed = true;
          for (const stream of [...this.streams.values()])
            stream.endLocally({ code: frame.code, reason: frame.reason, by: 'peer' });
          this.detach();
          this.events.tunnelReset?.(frame.code, frame.reason);
          return;
        }
        this.streams.get(frame.stream)?.endLocally({ code: frame.code, reason: frame.reason, by: 'peer' });
        return;
      case FrameType.OpenAck:
      case FrameType.Data:
      case FrameType.Window:
      case FrameType.Fin: {
        const stream = this.streams.get(frame.stream);
        // A frame for a stream that just ended locally crossed our Reset: not an error.
        if (!stream) return;
        stream.receive(frame);
        return;
      }
    }
  }

  private acceptOpen(id: number, target: number): void {
    if (!this.events.open || id <= this.lastOpened) {
      this.sendFrame({
        type: FrameType.Reset,
        stream: id,
        code: ResetCode.Protocol,
        reason: this.events.open ? 'stream ids must increase' : 'this side does not accept streams',
      });
      return;
    }
    this.lastOpened = id;
    if (this.streams.size >= this.maxStreams) {
      this.sendFrame({
        type: FrameType.Reset,
        stream: id,
        code: ResetCode.Limit,
        reason: `more than ${this.maxStreams} streams on one tunnel`,
      });
      return;
    }
    const stream = new TunnelStream(this, id, this.events.datagrams?.(target) ?? false);
    this.streams.set(id, stream);
    this.events.open(stream, target);
  }

  /** @internal */
  forget(stream: TunnelStream): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    this.events.forgotten?.(stream);
  }
}

/**
 * One stream. Sending: `write` queues bytes, sent as credit allows; it returns false once a
 * window's worth is waiting, and `onDrain` fires when the queue empties. Receiving: `onData`
 * gets the peer's bytes in order; call `consumed(n)` when n of them have left this process (a
 * socket write completed), which returns credit to the peer.
 */
export class TunnelStream implements RoomWaiter {
  onData: (chunk: Buffer) => void = () => undefined;
  /** The peer half-closed (Fin). */
  onEnd: () => void = () => undefined;
  onDrain: () => void = () => undefined;
  onOpenAck: (pod: string) => void = () => undefined;
  /** The stream is gone: finished both ways, or reset (by either side, or the tunnel ended). */
  onClose: (end: StreamEnd) => void = () => undefined;

  // Sending. Absolute byte offsets of this side's data.
  private sent = 0;
  /** The peer lets us send up to here. */
  private limit: number;
  /**
   * Bytes from `retainedFrom` to `sent`: sent, perhaps not received (kept for a resume). Kept as
   * the payloads the Data frames carried: with the link's data writer (data-frame-writer.ts) the
   * very buffers its send queue holds until they leave, so a byte waiting there costs its memory
   * once.
   */
  private retained: Buffer[] = [];
  private retainedFrom = 0;
  /** The retained bytes with their frames' headers (what they cost). */
  private retainedBytes = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** A window's worth is pending: the peer's credit is what this stream waits for. */
  private blocked = false;
  /** Queued in the session's send budget: the tunnel's room is what this stream waits for. */
  private waitingForRoom = false;
  private ending = false;
  private finSent = false;
  // Receiving.
  private received = 0;
  /** We let the peer send up to here (initial window + what we announced). */
  private granted: number;
  private consumedTotal = 0;
  private finReceived = false;
  /** Forgotten by the session (reset, or finished and known delivered). */
  private ended = false;
  /** onClose has been called (finished both ways, or reset). */
  private closedForApp = false;
  /** Finished both ways; kept until a Pong proves the peer has our last frames (see finish). */
  private lingerSeq: number | undefined;

  constructor(
    private readonly session: TunnelSession,
    readonly id: number,
    /** UDP: each write is one datagram, sent whole (never split or merged). */
    readonly datagrams: boolean,
  ) {
    this.limit = session.sendWindow;
    this.granted = session.receiveWindow;
  }

  get isClosed(): boolean {
    return this.ended || this.closedForApp;
  }

  /**
   * Queues bytes for the peer. False: a window's worth is waiting, or the tunnel's send budget is
   * spent; pause until onDrain.
   */
  write(chunk: Buffer): boolean {
    if (this.isClosed || this.ending) return false;
    const budget = this.session.budget;
    if (this.datagrams) {
      if (chunk.length > this.session.maxDataPayload) return true; // too big for a frame: dropped, as UDP may
      // No room: dropped, as UDP may.
      if (this.pendingBytes + chunk.length > this.session.sendWindow || !budget.fits(chunk.length))
        return false;
    }
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      budget.pending += chunk.length;
    }
    this.flush();
    if (this.pendingBytes >= this.session.sendWindow) this.blocked = true;
    if (!this.datagrams && !this.waitingForRoom && budget.full) {
      this.waitingForRoom = true;
      budget.wait(this);
    }
    return !this.blocked && !this.waitingForRoom;
  }

  /** @internal The send budget has room again: read on, unless the window still holds us. */
  roomAppeared(): void {
    this.waitingForRoom = false;
    if (!this.blocked && !this.isClosed) this.onDrain();
  }

  /** Half-close: a Fin follows the queued bytes. */
  end(): void {
    if (this.isClosed || this.ending) return;
    this.ending = true;
    this.flush();
  }

  /** Gateway side: the pod connection is up. */
  acknowledgeOpen(pod: string): void {
    if (!this.ended) this.session.sendFrame({ type: FrameType.OpenAck, stream: this.id, pod });
  }

  /** Ends the stream both ways now, telling the peer why. */
  reset(code: number, reason: string): void {
    if (this.isClosed) return;
    this.session.sendFrame({ type: FrameType.Reset, stream: this.id, code, reason });
    this.endLocally({ code, reason, by: 'local' });
  }

  /** n bytes received from the peer have been delivered onward: give the peer credit back. */
  consumed(n: number): void {
    if (this.ended || n <= 0) return;
    // Once finished, nothing more will come: no credit to give back.
    if (this.finReceived && this.closedForApp) return;
    this.consumedTotal += n;
    this.announceWindow(false);
  }

  private announceWindow(force: boolean): void {
    const increment = this.consumedTotal + this.session.receiveWindow - this.granted;
    // Batch: a Window per quarter window consumed keeps frames few and the pipe full.
    if (increment <= 0 || (!force && increment < this.session.receiveWindow / 4)) return;
    if (!this.session.attached) return;
    this.granted += increment;
    this.session.sendFrame({ type: FrameType.Window, stream: this.id, increment });
  }

  progress(): StreamProgress {
    return { id: this.id, received: this.received, limit: this.granted, finReceived: this.finReceived };
  }

  /** @internal After a new link: rewind to what the peer has, then send the rest again. */
  resumeFrom(peer: StreamProgress): void {
    // What the peer received must lie within what we kept: [retainedFrom, sent].
    if (peer.received < this.retainedFrom || peer.received > this.sent) {
      this.reset(ResetCode.Protocol, 'resume: the peer claims bytes that were not kept or never sent');
      return;
    }
    // Bytes [peer.received, sent) go out again, ahead of anything still queued.
    let skip = peer.received - this.retainedFrom;
    const again: Buffer[] = [];
    for (const piece of this.retained) {
      if (skip >= piece.length) {
        skip -= piece.length;
        continue;
      }
      again.push(skip > 0 ? piece.subarray(skip) : piece);
      skip = 0;
    }
    const againBytes = this.sent - peer.received;
    this.pending = [...again, ...this.pending];
    this.pendingBytes += againBytes;
    // The peer has [retainedFrom, peer.received): released; the rest goes back to pending.
    const budget = this.session.budget;
    budget.retained -= this.retainedBytes;
    budget.pending += againBytes;
    this.retainedBytes = 0;
    this.retained = [];
    this.retainedFrom = peer.received;
    this.sent = peer.received;
    this.limit = Math.max(this.limit, peer.limit);
    if (this.finSent && !peer.finReceived) this.finSent = false;
    this.lingerSeq = undefined;
    // Our Window frames may have been lost: announce our edge again.
    this.announceWindow(true);
    this.flush();
    budget.roomMayHaveAppeared();
    this.closeIfDone();
  }

  /** @internal */
  receive(frame: Frame): void {
    switch (frame.type) {
      case FrameType.OpenAck:
        this.onOpenAck(frame.pod);
        return;
      case FrameType.Data: {
        if (this.finReceived) return this.reset(ResetCode.Protocol, 'data after fin');
        if (this.received + frame.data.length > this.granted)
          return this.reset(ResetCode.FlowControl, 'data beyond the window');
        this.received += frame.data.length;
        this.onData(frame.data);
        return;
      }
      case FrameType.Window: {
        this.limit += frame.increment;
        if (this.limit - this.sent > this.session.sendWindow * 2)
          return this.reset(ResetCode.FlowControl, 'window grown beyond its bound');
        this.flush();
        return;
      }
      case FrameType.Fin:
        if (this.finReceived) return;
        this.finReceived = true;
        this.onEnd();
        this.closeIfDone();
        return;
      case FrameType.Hello:
      case FrameType.Welcome:
      case FrameType.Open:
      case FrameType.Reset:
      case FrameType.Ping:
      case FrameType.Pong:
        // Handled by the session.
        return;
    }
  }

  private flush(): void {
    if (this.ended) return;
    while (this.pending.length > 0 && this.session.attached) {
      const credit = this.limit - this.sent;
      const head = this.pending[0];
      if (credit <= 0 || (this.datagrams && credit < head.length)) break;
      const size = Math.min(credit, this.session.maxDataPayload, head.length);
      const piece = size === head.length ? head : head.subarray(0, size);
      if (size === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(size);
      this.pendingBytes -= size;
      this.retained.push(piece);
      this.retainedBytes += HEADER_BYTES + size;
      this.session.budget.pending -= size;
      this.session.budget.retained += HEADER_BYTES + size;
      this.sent += size;
      this.session.sendData(this.id, piece);
    }
    this.trimRetained();
    if (this.pending.length === 0 && this.ending && !this.finSent && this.session.attached) {
      this.finSent = true;
      this.session.sendFrame({ type: FrameType.Fin, stream: this.id });
      this.closeIfDone();
    }
    if (this.blocked && this.pendingBytes < this.session.sendWindow && !this.ended) {
      this.blocked = false;
      if (!this.waitingForRoom) this.onDrain();
    }
  }

  /** Drops kept bytes the peer has consumed (it granted credit past them). */
  private trimRetained(): void {
    const consumedByPeer = this.limit - this.session.sendWindow;
    const before = this.retainedBytes;
    while (this.retained.length > 0 && this.retainedFrom + this.retained[0].length <= consumedByPeer) {
      const piece = this.retained.shift()!;
      this.retainedFrom += piece.length;
      this.retainedBytes -= HEADER_BYTES + piece.length;
    }
    if (this.retainedBytes !== before) {
      this.session.budget.retained -= before - this.retainedBytes;
      this.session.budget.roomMayHaveAppeared();
    }
  }

  private closeIfDone(): void {
    if (!(this.finSent && this.finReceived && this.pending.length === 0)) return;
    // Finished both ways. Our last Data and Fin may still be lost with the link, so the stream
    // stays (for a resume) until the Pong of a Ping sent after them: the link is FIFO.
    if (!this.closedForApp) {
      this.closedForApp = true;
      this.onClose({});
    }
    if (this.lingerSeq === undefined && this.session.attached) this.lingerSeq = this.session.ping();
  }

  /** @internal */
  pongReceived(seq: number): void {
    if (this.lingerSeq !== undefined && seq >= this.lingerSeq) this.forgetNow();
  }

  private forgetNow(): void {
    this.ended = true;
    const budget = this.session.budget;
    budget.pending -= this.pendingBytes;
    budget.retained -= this.retainedBytes;
    this.pendingBytes = 0;
    this.retainedBytes = 0;
    this.retainedFrom = this.sent;
    this.pending = [];
    this.retained = [];
    if (this.waitingForRoom) {
      // Out of the queue now: a hostile peer resetting streams that wait must not grow it.
      this.waitingForRoom = false;
      budget.leave(this);
    }
    this.session.forget(this);
    budget.roomMayHaveAppeared();
  }

  /** @internal Ends the stream without a frame (the peer knows, or cannot be told). */
  endLocally(end: StreamEnd): void {
    if (this.ended) return;
    this.forgetNow();
    if (this.closedForApp) return;
    this.closedForApp = true;
    this.onClose(end);
  }
}
