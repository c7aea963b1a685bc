// The client's address: the socket peer, unless that peer is a configured trusted proxy, in
// which case X-Forwarded-For is read right to left, skipping trusted hops. A client can put
// anything in X-Forwarded-For, so without a trusted peer the header is ignored entirely.
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

export class ClientAddressResolver {
  private readonly trusted: Set<string>;

  constructor(trustedProxies: readonly string[]) {
    this.trusted = new Set(trustedProxies.map(normalize));
  }

  resolve(req: IncomingMessage): string {
    const peer = normalize(req.socket.remoteAddress ?? '');
    if (!this.trusted.has(peer)) return peer;
    const forwarded = ([] as string[])
      .concat(req.headers['x-forwarded-for'] ?? [])
      .join(',')
      .split(',')
      .map((hop) => normalize(hop.trim()))
      .filter(Boolean);
    for (let i = forwarded.length - 1; i >= 0; i--) {
      const hop = forwarded[i];
      if (!isIP(hop)) return peer; // garbage from an untrusted hop: stop at the last address we can vouch for
      if (!this.trusted.has(hop)) return hop;
    }
    return forwarded[0] ?? peer;
  }
}

/** `::ffff:127.0.0.1` and `127.0.0.1` are the same client. */
function normalize(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
