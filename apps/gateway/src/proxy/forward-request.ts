// Step 6 for plain requests: forward to the API server (HTTP/2 when it offers h2, else HTTP/1.1)
// and stream the answer back unbuffered (watch and logs -f reach the client as they happen). An
// upstream that cannot be reached before the answer started is a 503 Status; one that does not
// start its answer within the response timeout a 504 (never for long-running requests, whose
// head comes at once but whose body may wait for hours); after the answer started, a failure
// cuts the client connection, so a partial body never looks complete.
import type * as http from 'node:http';
import { Transform, type Readable } from 'node:stream';
import {
  gatewayTimeout,
  internal,
  requestUpstream,
  serviceUnavailable,
  writeStatus,
  type KubeStatus,
  type UpstreamResponse,
} from '@kgw/kube';
import type { AuditEvent } from '../audit/audit-event';
import type { MappedIdentity } from '../identity/caller';
import { hasBody } from '../lifecycle/slow-clients';
import {
  gatewayAddress,
  isApiVersionsRequest,
  MAX_API_VERSIONS_BYTES,
  rewriteApiVersions,
} from './api-versions';
import { bodyTooLarge, Refusal } from './chain-steps';
import { isProxiedContent, sanitizeResponseHeaders } from './header-sanitizer';
import { upstreamCall, upstreamHeaders, type Exchange } from './proxy-exchange';
import type { ForwardingChain } from './forwarding-chain';

export function forwardRequest(
  chain: ForwardingChain,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  identity: MappedIdentity,
  exchange: Exchange,
): void {
  const { event } = exchange;
  const headers = upstreamHeaders(chain.upstream, req, identity, exchange, false);
  const call = upstreamCall(req, headers);
  // Nearly every request (get, list, watch, delete) has no body: none is sent (HTTP/2: the
  // HEADERS frame ends the stream) instead of piping an empty stream, which costs a stream setup
  // and a tick (seen in the bench profile). Node's server discards the unread empty body.
  const headTimeoutMs = exchange.longRunning ? undefined : chain.responseTimeoutMs;
  const send =
    headTimeoutMs === undefined
      ? call
      : { ...call, headTimeoutMs, headTimeoutError: () => new UpstreamTimeout(headTimeoutMs) };
  // A body without Content-Length (chunked; HTTP/2 DATA frames) is counted as it streams: past
  // the limit the upstream request is cancelled (the API server never gets a complete request)
  // and the client gets the 413 a Content-Length over the limit gets up front (checkBodySize).
  let overLimit = false;
  const body = !hasBody(req)
    ? undefined
    : exchange.maxBodyBytes === undefined
      ? req
      : countedBody(req, exchange.maxBodyBytes, () => {
          overLimit = true;
          upstreamRequest.cancel();
          if (res.headersSent) return void res.destroy();
          chain.refuse(res, exchange, bodyTooLarge(exchange.maxBodyBytes!));
        });
  const upstreamRequest = requestUpstream(chain.upstream, body === undefined ? send : { ...send, body }, {
    onResponse: (upstreamRes) => {
      try {
        relayAnswer(chain, req, res, event, upstreamRes);
      } catch (err) {
        // The chain's last guard does not reach event handlers: one more here, so nothing in
        // relaying an answer (a header the client's protocol refuses, a client session gone)
        // escapes as an uncaught exception. 500 Status if nothing was sent yet, else a cut.
        chain.logger.error({ err, requestId: exchange.requestId }, 'relaying the answer failed');
        upstreamRequest.cancel();
        event.decision = 'error';
        event.reason = `internal error: ${(err as Error).message}`.slice(0, 500);
        event.code = 500;
        if (res.headersSent) res.destroy();
        else writeStatus(res, internal(exchange.requestId));
      }
    },
    onError: (err) => {
      if (overLimit) return;
      if (res.headersSent) {
        // The answer broke off: cut the client too, so a partial body never looks complete.
        chain.metrics?.upstreamError('broken');
        res.destroy();
        return;
      }
      const timedOut = err instanceof UpstreamTimeout;
      chain.metrics?.upstreamError(timedOut ? 'timeout' : 'unreachable');
      chain.logger.warn({ err: err.message, requestId: exchange.requestId }, 'upstream request failed');
      const status: KubeStatus = timedOut
        ? gatewayTimeout(err.message, 1)
        : serviceUnavailable('the Kubernetes API server could not be reached', 1);
      chain.refuse(res, exchange, new Refusal(status, 'error', `upstream: ${err.message}`));
    },
  });
  // A client that goes away cancels the upstream request (and with it a watch or logs -f). Not
  // writableFinished: on an HTTP/2 client's response it says true when the client reset an idle
  // stream or dropped the connection, and the upstream watch stayed open (the watch-scale bench
  // found it). writableEnded is true only once we ended the answer, i.e. the upstream did.
  res.on('close', () => {
    if (!res.writableEnded) upstreamRequest.cancel();
    event.bytesIn = upstreamRequest.bodyBytes;
    chain.finish(exchange);
  });
}

function relayAnswer(
  chain: ForwardingChain,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  event: AuditEvent,
  upstreamRes: UpstreamResponse,
): void {
  const streaming = isStreamingResponse(event, upstreamRes.headers);
  if (streaming) {
    // Over HTTP/2 req.socket is a proxy of the session's socket, with no setKeepAlive once the
    // client's session is gone (it can be, by the time the answer comes).
    const socket = req.socket as Partial<Pick<typeof req.socket, 'setKeepAlive'>> | undefined;
    if (typeof socket?.setKeepAlive === 'function') socket.setKeepAlive(true, chain.streamKeepaliveMs);
    upstreamRes.keepAlive(chain.streamKeepaliveMs);
  }
  event.code = upstreamRes.statusCode;
  const responseHeaders = sanitizeResponseHeaders(upstreamRes.headers, {
    proxiedContent: isProxiedContent(event),
  });
  if (
    upstreamRes.statusCode === 200 &&
    isApiVersionsRequest(req) &&
    !upstreamRes.headers['content-encoding']
  ) {
    answerApiVersions(req, res, upstreamRes.body, responseHeaders, event);
    return;
  }
  res.writeHead(upstreamRes.statusCode, responseHeaders);
  // Watches must reach the client at once: the first event may be minutes away.
  if (streaming) res.flushHeaders();
  upstreamRes.body.on('data', (chunk: Buffer) => {
    event.bytesOut += chunk.length;
  });
  if (streaming) upstreamRes.body.pipe(res);
  else relayWhole(upstreamRes.body, res);
}

/**
 * A finite answer (a get or a list) arrives in 16 KB pieces, one per TLS record or HTTP/2 frame,
 * each on its own tick; written as it comes, each piece cost the client socket a write of its own,
 * and those writes were the largest single cost of a 113 KB list in the profile. Held until the
 * end, the answer goes out in one writev (and fewer TLS records to a TLS client). Bounded: past
 * this many bytes the rest is piped as it arrives (with back-pressure), so a huge list is never
 * held whole. A watch or logs -f is never held (the caller pipes those).
 */
export const WHOLE_ANSWER_MAX_BYTES = 256 * 1024;

export function relayWhole(body: Readable, res: http.ServerResponse): void {
  const held: Buffer[] = [];
  let heldBytes = 0;
  const writeHeld = (): void => {
    for (const chunk of held) res.write(chunk);
    held.length = 0;
  };
  const hold = (chunk: Buffer): void => {
    held.push(chunk);
    heldBytes += chunk.length;
    if (heldBytes <= WHOLE_ANSWER_MAX_BYTES) return;
    body.off('data', hold);
    body.off('end', end);
    if (res.destroyed) return;
    writeHeld();
    body.pipe(res);
  };
  // An answer that breaks off never ends: what was held is dropped with the cut connection.
  const end = (): void => {
    if (res.destroyed) return;
    writeHeld();
    res.end();
  };
  body.on('data', hold);
  body.once('end', end);
}

/** `/api`'s small answer, read whole and sent with the gateway's address (api-versions.ts). */
function answerApiVersions(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: Readable,
  headers: http.OutgoingHttpHeaders,
  event: AuditEvent,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const collect = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.length;
    if (size <= MAX_API_VERSIONS_BYTES) return;
    // Too large to be an APIVersions: pass it on as it is.
    body.off('data', collect);
    body.off('end', rewrite);
    res.writeHead(200, headers);
    res.write(Buffer.concat(chunks));
    event.bytesOut = size;
    body.on('data', (more: Buffer) => (event.bytesOut += more.length));
    body.pipe(res);
  };
  const rewrite = (): void => {
    const original = Buffer.concat(chunks);
    const answer = rewriteApiVersions(original, gatewayAddress(req)) ?? original;
    event.bytesOut = answer.length;
    res.writeHead(200, { ...headers, 'content-length': answer.length });
    res.end(answer);
  };
  body.on('data', collect);
  body.on('end', rewrite);
  body.on('error', () => res.destroy());
}

function isStreamingResponse(event: AuditEvent, headers: http.IncomingHttpHeaders): boolean {
  // HTTP/2 has no Transfer-Encoding: an answer without Content-Length is open-ended there.
  return (
    event.verb === 'watch' ||
    event.subresource === 'log' ||
    (headers['content-length'] === undefined &&
      (headers['transfer-encoding'] === 'chunked' || headers['transfer-encoding'] === undefined) &&
      event.verb !== 'list')
  );
}

class UpstreamTimeout extends Error {
  constructor(timeoutMs: number) {
    super(`the Kubernetes API server did not answer within ${timeoutMs / 1000}s`);
  }
}

/** The request body, passed on until it exceeds `limit` bytes; then `onOver` runs, once. */
function countedBody(req: http.IncomingMessage, limit: number, onOver: () => void): Readable {
  let seen = 0;
  let over = false;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (over) return done();
      seen += chunk.length;
      if (seen <= limit) return done(null, chunk);
      over = true;
      req.unpipe(counted);
      // The rest of the body is read and dropped; the refusal closes the connection after it.
      req.resume();
      done();
      onOver();
    },
  });
  return req.pipe(counted);
}
