// Upgrade handshakes for exec/attach/port-forward: SPDY/3.1 (raw 101 on the socket) and
// WebSocket (through `ws`).
//
// Guards: the negotiation headers. The client's protocol list is matched against a fixed list of
// ours, in the client's order (as httpstream.Handshake and wsstream do); nothing the client sends
// is echoed except a protocol name from our list. `ws` refuses `SPDY/3.1+portforward.k8s.io`
// (`/` is not a token character) and answers 400, after which kubectl silently falls back to
// SPDY: we map that name to a token before `ws` parses the header and echo the exact name back.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { badRequest, KubeStatusError, writeStatusToSocket } from './kube-status';
import { UnmaskingSocket } from './websocket-unmask';

export const SPDY_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';
/** What `ws` sees instead of the tunnel name: any valid token that no client would offer. */
const SPDY_TUNNEL_TOKEN = 'kube-sim.spdy-3.1-portforward-tunnel';

export function isSpdyUpgrade(req: IncomingMessage): boolean {
  return (
    (req.headers.upgrade ?? '').toLowerCase() === 'spdy/3.1' &&
    /\bupgrade\b/i.test(req.headers.connection ?? '')
  );
}

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

function headerList(value: string | string[] | undefined): string[] {
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return values
    .flatMap((entry) => entry.split(','))
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/**
 * Answers an SPDY upgrade with 101, or refuses it (403 when no protocol version matches, as
 * httpstream.Handshake does). Returns the chosen protocol, or undefined after a refusal.
 */
export function acceptSpdyUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  supported: readonly string[],
): string | undefined {
  const offered = headerList(req.headers['x-stream-protocol-version']);
  // A client that negotiates nothing gets the oldest protocol, as Kubernetes 1.0 clients did.
  const chosen =
    offered.length === 0
      ? supported[supported.length - 1]
      : offered.find((protocol) => supported.includes(protocol));
  if (!chosen) {
    const error = new KubeStatusError(
      403,
      `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server supports [${supported.join(' ')}]`,
    );
    writeStatusToSocket(socket, error, { 'X-Accepted-Stream-Protocol-Versions': supported.join(', ') });
    return undefined;
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Connection: Upgrade\r\n' +
      'Upgrade: SPDY/3.1\r\n' +
      `X-Stream-Protocol-Version: ${chosen}\r\n\r\n`,
  );
  if ('setNoDelay' in socket && typeof socket.setNoDelay === 'function')
    (socket as { setNoDelay(on: boolean): void }).setNoDelay(true);
  return chosen;
}

const chosenProtocols = new WeakMap<IncomingMessage, string>();

/** One `ws` server (noServer) shared by every stream upgrade. */
export class StreamWebSocketServer {
  private readonly server = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // Channel messages are small; cap them so a hostile length cannot make us buffer much.
    maxPayload: 16 * 1024 * 1024,
    handleProtocols: (_offered, req) => chosenProtocols.get(req) ?? false,
  });

  /**
   * Completes a WebSocket upgrade with the first client-offered protocol we support (the exact
   * name is echoed, including the tunnel's), or answers 400 when none matches.
   */
  accept(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    supported: readonly string[],
    onOpen: (ws: WebSocket, protocol: string) => void,
  ): void {
    const offered = headerList(req.headers['sec-websocket-protocol']);
    // No subprotocol at all: the kubelet treats that as the plain channel protocol.
    const chosen = offered.length === 0 ? '' : offered.find((protocol) => supported.includes(protocol));
    if (chosen === undefined) {
      writeStatusToSocket(
        socket,
        badRequest(
          `unable to upgrade: requested protocol(s) [${offered.join(' ')}] are not supported, supported: [${supported.join(' ')}]`,
        ),
      );
      return;
    }
    if (chosen) chosenProtocols.set(req, chosen);
    if (req.headers['sec-websocket-protocol'] !== undefined) {
      req.headers['sec-websocket-protocol'] = offered
        .map((protocol) => (protocol === SPDY_TUNNEL_PROTOCOL ? SPDY_TUNNEL_TOKEN : protocol))
        .join(', ');
    }
    // `ws` reads through a fast unmasking layer (see websocket-unmask.ts).
    this.server.handleUpgrade(req, new UnmaskingSocket(socket, head), Buffer.alloc(0), (ws) =>
      onOpen(ws, chosen === '' ? 'channel.k8s.io' : chosen),
    );
  }

  close(): void {
    for (const client of this.server.clients) client.terminate();
    this.server.close();
  }
}
