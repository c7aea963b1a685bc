// Step 6 for plain requests: forward to the API server (HTTP/2 when it offers h2, else HTTP/1.1)
// and stream the answer back unbuffered (watch and logs -f reach the client as they happen). An upstream that cannot be reached before
// the answer started is a 503 Status; after, the client connection is cut.
import type * as http from 'node:http';
import { requestUpstream, serviceUnavailable } from '@kgw/kube';
import type { AuditEvent } from '../audit/audit-event';
import type { MappedIdentity } from '../identity/caller';
import { hasBody } from '../lifecycle/slow-clients';
import { Refusal } from './chain-steps';
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
  const upstreamRequest = requestUpstream(chain.upstream, !hasBody(req) ? call : { ...call, body: req }, {
    onResponse: (upstreamRes) => {
      const streaming = isStreamingResponse(event, upstreamRes.headers);
      if (streaming) {
        req.socket.setKeepAlive(true, chain.streamKeepaliveMs);
        upstreamRes.keepAlive(chain.streamKeepaliveMs);
      }
      event.code = upstreamRes.statusCode;
      res.writeHead(
        upstreamRes.statusCode,
        sanitizeResponseHeaders(upstreamRes.headers, { proxiedContent: isProxiedContent(event) }),
      );
      // Watches must reach the client at once: the first event may be minutes away.
      if (streaming) res.flushHeaders();
      upstreamRes.body.on('data', (chunk: Buffer) => {
        event.bytesOut += chunk.length;
      });
      upstreamRes.body.pipe(res);
    },
    onError: (err) => {
      if (res.headersSent) {
        // The answer broke off: cut the client too, so a partial body never looks complete.
        chain.metrics?.upstreamError('broken');
        res.destroy();
        return;
      }
      chain.metrics?.upstreamError('unreachable');
      chain.logger.warn({ err: err.message, requestId: exchange.requestId }, 'upstream request failed');
      chain.refuse(
        res,
        exchange,
        new Refusal(
          serviceUnavailable('the Kubernetes API server could not be reached'),
          'error',
          `upstream: ${err.message}`,
        ),
      );
    },
  });
  // A client that goes away cancels the upstream request (and with it a watch or logs -f).
  res.on('close', () => {
    if (!res.writableFinished) upstreamRequest.cancel();
    event.bytesIn = upstreamRequest.bodyBytes;
    chain.finish(exchange);
  });
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
