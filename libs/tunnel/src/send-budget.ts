// What one tunnel may make this side hold on its way out, all streams together: the bytes read
// from local sockets and waiting for the peer's credit (pending), the bytes sent and kept until
// the peer consumes them, for a resume (retained), and the link's own send buffer (a WebSocket
// whose peer does not read). The gateway sets a limit, because the peer decides each stream's
// share: its announced window (up to 2 MiB pending plus 2 MiB retained per stream), whether it
// grants credit, and whether it reads at all. Without the limit, a CLI that opens every stream
// to a talking pod and never grants or never reads makes the gateway hold gigabytes per tunnel.
//
// Guards: the gateway's memory. Trusts: nothing the peer says (a peer can grant credit for bytes
// it never read, which frees retained bytes and moves them into the link's buffer; that buffer
// counts too). Refuses: more bytes in, once the limit is reached: a stream's write() returns
// false (its socket is paused) and a datagram is dropped. The check comes after a chunk is
// taken, so each stream may run one read past the limit.
//
// Room comes back when the peer consumes (retained bytes go) and when the link drains. Streams
// waiting for room are all woken then, in the order they started waiting: each gets one read
// before it waits again at the back, so room is shared round-robin and none starves. Waking only
// some of them would risk waking idle ones while a busy one waits for a trigger that never comes.
// The CLI leaves the limit infinite: its memory is its user's own.

/** A stream that stopped reading because the tunnel had no room (TunnelStream). */
export interface RoomWaiter {
  roomAppeared(): void;
}

/**
 * A send buffer smaller than this does not count: only a buffer past a socket's high-water mark
 * (16 KiB) is sure to emit 'drain' when it empties, and a waiter counting on the link must be
 * woken by that drain.
 */
export const LINK_SLACK_BYTES = 64 * 1024;

export class SendBudget {
  /** Bytes read from local sockets, waiting for the peer's credit (all streams). */
  pending = 0;
  /** Data frames sent, kept until the peer consumes them (all streams), headers included. */
  retained = 0;
  /**
   * Bytes of frames other than Data given to the link since its buffer was last seen empty: at
   * least what of them still waits there. Mostly answers to the peer's frames (see answered()).
   */
  answers = 0;
  private waiting: RoomWaiter[] = [];
  /** The other half of a double buffer: waking never allocates. */
  private spare: RoomWaiter[] = [];
  private waking = false;

  constructor(
    /** Bytes; Infinity: no limit. */
    readonly limit: number,
    /** The link's send buffer in bytes (WebSocket bufferedAmount); 0 when no link is attached. */
    private linkBuffered: () => number = () => 0,
  ) {}

  /**
   * Pending bytes, plus retained frames or the link's buffer (beyond its slack), whichever is
   * more. A retained frame waiting in the link's buffer is one buffer in both (the stream keeps
   * the frame it sent), so the two are not added: the link's buffer counts where it holds more
   * than every retained frame (answers to the peer, or frames a lying peer granted credit for
   * without reading them). Sending a frame thus moves bytes; it does not grow what is held.
   */
  get held(): number {
    const link = this.linkBuffered() - LINK_SLACK_BYTES;
    return this.pending + (link > this.retained ? link : this.retained);
  }

  get full(): boolean {
    return this.limit !== Infinity && this.held >= this.limit;
  }

  /** Whether `bytes` more fit without passing the limit (for datagrams, which are never split). */
  fits(bytes: number): boolean {
    return this.limit === Infinity || this.held + bytes <= this.limit;
  }

  /** A new link (or none): its buffer is what counts from now on. */
  useLink(buffered: () => number): void {
    this.linkBuffered = buffered;
    this.answers = 0;
    this.roomMayHaveAppeared();
  }

  /**
   * A frame other than Data goes to the link. Data is bounded by the budget; these are not, and
   * most answer the peer (a Pong, a Window, a Reset), so a peer that sends and never reads would
   * have them pile up: the gateway stops reading it when they are many (answersPiledUp).
   */
  answered(bytes: number): void {
    if (this.linkBuffered() === 0) this.answers = 0;
    this.answers += bytes;
  }

  /**
   * Whether at least `bytes` of answers may wait in the link's buffer, and the buffer is past the
   * slack (so a 'drain' is sure to come and end the wait). Counting from when the buffer was last
   * empty overestimates: a link that never empties stops a well-behaved peer for a moment every
   * `bytes` of answers (Window frames: about 3 GB of uploads per 256 KiB of them).
   */
  answersPiledUp(bytes: number): boolean {
    if (this.answers < bytes) return false;
    const link = this.linkBuffered();
    if (link > LINK_SLACK_BYTES) return true;
    // Nearly empty: no more answers wait in it than it holds.
    this.answers = link;
    return false;
  }

  /** The link's buffer emptied. */
  linkDrained(): void {
    this.answers = 0;
    this.roomMayHaveAppeared();
  }

  wait(waiter: RoomWaiter): void {
    this.waiting.push(waiter);
  }

  /** A waiting stream is gone. */
  leave(waiter: RoomWaiter): void {
    const at = this.waiting.indexOf(waiter);
    if (at >= 0) this.waiting.splice(at, 1);
  }

  /** Bytes were released (retained bytes consumed, a stream gone, the link drained). */
  roomMayHaveAppeared(): void {
    if (this.waiting.length === 0 || this.waking || this.full) return;
    // Swap first: a woken stream that writes and finds the tunnel full again queues on the
    // other array, behind every stream woken now.
    const woken = this.waiting;
    this.waiting = this.spare;
    this.waking = true;
    try {
      for (const waiter of woken) waiter.roomAppeared();
    } finally {
      woken.length = 0;
      this.spare = woken;
      this.waking = false;
    }
  }

  /** Streams waiting for room (for tests and views). */
  get waiters(): number {
    return this.waiting.length;
  }
}
