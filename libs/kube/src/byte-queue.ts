// Bytes that arrived in arbitrary pieces, read back by count: the frame readers of the
// port-forward transports (spdy-client.ts, websocket-client-stream.ts) keep the unread bytes as
// a list of chunks, so a frame that arrives in many tiny pieces costs one copy, not one per piece,
// and a frame inside one chunk costs none.
export class ByteQueue {
  private readonly chunks: Buffer[] = [];
  /** Bytes held. */
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Size of the first held chunk (0 when empty): take() that much without copying. */
  get firstChunkLength(): number {
    return this.chunks[0]?.length ?? 0;
  }

  /** The first `count` bytes (at most what is held), left in the queue. */
  peek(count: number): Buffer {
    const first = this.chunks[0];
    if (first.length >= count) return first.subarray(0, count);
    return Buffer.concat(this.chunks).subarray(0, count);
  }

  /** Removes and returns the first `count` bytes; the caller checks `length` first. */
  take(count: number): Buffer {
    if (count === 0) return Buffer.alloc(0);
    this.length -= count;
    const first = this.chunks[0];
    if (first.length >= count) {
      if (first.length === count) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
      return first.subarray(0, count);
    }
    const out = Buffer.allocUnsafe(count);
    let filled = 0;
    while (filled < count) {
      const piece = this.chunks[0];
      const used = Math.min(piece.length, count - filled);
      piece.copy(out, filled, 0, used);
      filled += used;
      if (used === piece.length) this.chunks.shift();
      else this.chunks[0] = piece.subarray(used);
    }
    return out;
  }
}
