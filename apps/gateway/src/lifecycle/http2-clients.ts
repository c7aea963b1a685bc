// HTTP/2 to clients on the TLS port, with the protections kube-apiserver has.
//
// The TLS server offers ALPN `h2` then `http/1.1`, as kube-apiserver does: kubectl and client
// libraries multiplex requests and watches on one connection, while upgrades (exec, attach,
// port-forward, the tunnel and web UI WebSockets) arrive on HTTP/1.1 connections, which the
// same server answers (`allowHTTP1`). Extended CONNECT (RFC 8441) is not offered, so browsers
// and kubectl open HTTP/1.1 connections for their WebSockets.
//
// Guards: the event loop and memory, against anyone who can open a TLS connection — all of
// this happens before a credential is looked at. Trusts: nothing the peer sends. Refuses:
//   1. more open streams on one connection than `http2.maxConcurrentStreams` (advertised in
//      SETTINGS; nghttp2 refuses the extra ones, and Node disconnects a peer that keeps opening
//      streams it was refused);
//   2. more than `http2.maxResets` streams reset within the window — HTTP/2 rapid reset
//      (CVE-2023-44487): a client that opens and cancels streams makes the server start work it
//      never pays for, without ever reaching the concurrency cap. GOAWAY ENHANCE_YOUR_CALM, closed;
//   3. a header list over `http2.maxHeaderListBytes`, and CONTINUATION floods (nghttp2 and Node
//      refuse them while decoding, before a request object exists);
//   4. a connection that was answered 401: it gets a graceful GOAWAY once that answer is out, so
//      an unauthenticated client cannot keep multiplexing on it (kube-apiserver's
//      UnauthenticatedHTTP2DOSMitigation, on by default since 1.29).
import {
  constants,
  createSecureServer,
  Http2ServerRequest,
  type Http2SecureServer,
  type Http2ServerResponse,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { GatewayConfig } from '@kgw/config';
import type { RequestServer, SessionDrain } from './graceful-shutdown';

/** An idle HTTP/2 connection (no open stream) is closed after this long, like HTTP/1.1 keep-alive. */
const IDLE_SESSION_MS = 65_000;

/**
 * Node's HTTP/2 compatibility request, plus the one IncomingMessage member the chain reads that
 * it lacks: `headersDistinct`. Built from the raw header fields, because `headers` joins
 * repeated fields with ", " — `kubectl --as-group a --as-group b` sends two Impersonate-Group
 * fields, which must stay two groups, not one named "a, b" (the API server keeps them apart).
 */
export class GatewayHttp2Request extends Http2ServerRequest {
  get headersDistinct(): Record<string, string[]> {
    const distinct: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toLowerCase();
      if (name.charCodeAt(0) === 0x3a) continue; // :method, :path... are not header fields
      (distinct[name] ??= []).push(raw[i + 1]);
    }
    return distinct;
  }
}

export type ClientRequest = IncomingMessage | GatewayHttp2Request;
export type ClientResponse = ServerResponse | Http2ServerResponse;

export function isHttp2Request(req: ClientRequest): req is GatewayHttp2Request {
  return req.httpVersionMajor === 2;
}

export interface Http2Clients extends SessionDrain {
  server: Http2SecureServer;
  /**
   * The same server, typed for what its HTTP/1.1 side offers: with allowHTTP1 Node runs the
   * http module's connection handling for those connections, reading these timers from it and
   * emitting 'upgrade' ('@types/node' declares none of this on Http2SecureServer).
   */
  http1: RequestServer;
  /** Graceful: GOAWAY to every connection, open streams finish. */
  closeSessions(): void;
  /** Cuts every HTTP/2 connection now. */
  destroySessions(): void;
}

/**
 * The TLS server for HTTP/2 and HTTP/1.1 clients. `onRequest` gets Node's HTTP/2 compatibility
 * request/response for h2 streams and ordinary ones for HTTP/1.1 connections.
 */
export function createHttp2Clients(
  tls: { cert: string; key: string },
  limits: GatewayConfig['http2'],
  onRequest: (req: ClientRequest, res: ClientResponse) => void,
  logger: Logger,
): Http2Clients {
  const server = createSecureServer(
    {
      cert: tls.cert,
      key: tls.key,
      allowHTTP1: true,
      Http2ServerRequest: GatewayHttp2Request,
      settings: {
        maxConcurrentStreams: limits.maxConcurrentStreams,
        maxHeaderListSize: limits.maxHeaderListBytes,
        enableConnectProtocol: false,
      },
      // Node also refuses a header block past this (ENHANCE_YOUR_CALM); keep it the same number.
      maxSendHeaderBlockLength: limits.maxHeaderListBytes,
    },
    onRequest,
  );
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    guardSession(session, limits, logger);
  });
  // The 401 rule (4) looks at every answer on an h2 connection.
  server.on('request', (req: ClientRequest, res: ClientResponse) => {
    if (!isHttp2Request(req)) return;
    const h2res = res as Http2ServerResponse;
    // Taken now: by 'finish' (emitted when the stream closes) the stream has left its session.
    const session = req.stream.session;
    const stream = req.stream;
    h2res.once('finish', () => {
      // Only a 401 the client received: a stream it reset is the reset budget's business (2).
      if (h2res.statusCode !== 401 || stream.rstCode !== constants.NGHTTP2_NO_ERROR) return;
      if (session && !session.closed && !session.destroyed) session.close();
    });
  });
  return {
    server,
    http1: server as unknown as RequestServer,
    closeSessions: () => {
      for (const session of sessions) if (!session.closed) session.close();
    },
    destroySessions: () => {
      for (const session of sessions) session.destroy();
    },
  };
}

/** Per connection: open streams (for the idle timer) and the reset budget (rule 2). */
function guardSession(session: ServerHttp2Session, limits: GatewayConfig['http2'], logger: Logger): void {
  const windowMs = limits.resetWindowSeconds * 1000;
  let open = 0;
  let windowStart = 0;
  let resets = 0;
  // A session error (the peer vanished, a protocol error) ends that connection only.
  session.on('error', (err: Error) => logger.debug({ err: err.message }, 'HTTP/2 connection error'));
  session.setTimeout(IDLE_SESSION_MS, () => {
    if (open === 0) session.close();
  });
  session.on('stream', (stream: ServerHttp2Stream) => {
    open++;
    stream.once('close', () => {
      open--;
      // NO_ERROR: the exchange completed. Anything else is a reset, whoever sent it.
      if (stream.rstCode === constants.NGHTTP2_NO_ERROR || session.destroyed) return;
      const now = performance.now();
      if (now - windowStart > windowMs) {
        windowStart = now;
        resets = 0;
      }
      if (++resets <= limits.maxResets) return;
      logger.warn(
        { remoteAddress: session.socket?.remoteAddress, resets, windowSeconds: limits.resetWindowSeconds },
        'HTTP/2 connection closed: too many stream resets (rapid reset)',
      );
      session.destroy(new Error('too many stream resets'), constants.NGHTTP2_ENHANCE_YOUR_CALM);
    });
  });
}
