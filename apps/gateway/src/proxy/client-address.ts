// The client's address: the socket peer, unless that peer is a configured trusted proxy, in
// which case X-Forwarded-For is read right to left, skipping trusted hops. A client can put
// anything in X-Forwarded-For, so without a trusted peer the header is ignored entirely.
// Trusted proxies are addresses or CIDR ranges (an ingress controller's pods change address).
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

export class ClientAddressResolver {
  private readonly trustedList = new BlockList();
  /** No trusted proxy configured (the usual case): the peer is the client, nothing to check. */
  private readonly peerOnly: boolean;

  /** Throws on an entry that is neither an IP address nor a CIDR range, naming it. */
  constructor(trustedProxies: readonly string[]) {
    for (const entry of trustedProxies) {
      const [address, bits, ...rest] = normalize(entry.trim()).split('/');
      const family = isIP(address);
      const prefix = bits === undefined ? undefined : Number(bits);
      const max = family === 6 ? 128 : 32;
      if (family === 0 || rest.length > 0 || (prefix !== undefined && (!/^\d+$/.test(bits) || prefix > max)))
        throw new Error(`KGW_HTTP_TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR range`);
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (prefix === undefined) this.trustedList.addAddress(address, type);
      else this.trustedList.addSubnet(address, prefix, type);
    }
    this.peerOnly = trustedProxies.length === 0;
  }

  private isTrusted(address: string): boolean {
    // BlockList.check builds a SocketAddress per call: 1.5 % of a small GET's CPU for a list
    // that is empty unless the operator named a proxy.
    if (this.peerOnly) return false;
    const family = isIP(address);
    return family !== 0 && this.trustedList.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** Whether the socket peer is a configured trusted proxy (its forwarded headers count). */
  fromTrustedProxy(req: IncomingMessage): boolean {
    return this.isTrusted(normalize(req.socket.remoteAddress ?? ''));
  }

  resolve(req: IncomingMessage): string {
    const peer = normalize(req.socket.remoteAddress ?? '');
    if (!this.isTrusted(peer)) return peer;
    const forwarded = ([] as string[])
      .concat(req.headers['x-forwarded-for'] ?? [])
      .join(',')
      .split(',')
      .map((hop) => normalize(hop.trim()))
      .filter(Boolean);
    for (let i = forwarded.length - 1; i >= 0; i--) {
      const hop = forwarded[i];
      if (!isIP(hop)) return peer; // garbage from an untrusted hop: stop at the last address we can vouch for
      if (!this.isTrusted(hop)) return hop;
    }
    return forwarded[0] ?? peer;
  }
}

/** `::ffff:127.0.0.1` and `127.0.0.1` are the same client. */
function normalize(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
