// Which long-lived exchanges (watches, logs -f, exec/attach/port-forward upgrades, tunnels) each
// personal token holds open, so that revoking the token can cut them at once. Revocation of a
// credential must not leave a stream it opened running for hours.
//
// Guards: the promise that a revoked token stops working everywhere. Trusts: the proxy chain to
// register every exchange it forwards for a token. Tracks only token ids, never tokens.
export interface ClosableStream {
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
}

export class OpenStreams {
  private readonly byToken = new Map<string, Set<ClosableStream>>();

  /** Remembers `stream` under the token until it closes; no-op for callers without a token id. */
  track(tokenId: string | undefined, stream: ClosableStream): void {
    if (!tokenId) return;
    let streams = this.byToken.get(tokenId);
    if (!streams) this.byToken.set(tokenId, (streams = new Set()));
    streams.add(stream);
    stream.once('close', () => {
      const current = this.byToken.get(tokenId);
      if (!current) return;
      current.delete(stream);
      if (current.size === 0) this.byToken.delete(tokenId);
    });
  }

  /** Destroys every open exchange of the token; returns how many were cut. */
  closeAll(tokenId: string): number {
    const streams = this.byToken.get(tokenId);
    if (!streams) return 0;
    this.byToken.delete(tokenId);
    for (const stream of streams) stream.destroy();
    return streams.size;
  }

  count(tokenId: string): number {
    return this.byToken.get(tokenId)?.size ?? 0;
  }
}
