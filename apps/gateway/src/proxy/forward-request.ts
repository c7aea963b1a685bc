// Step 6 for plain requests: forward to the API server and stream the answer back unbuffered
// (watch and logs -f reach the client as they happen). An upstream that cannot be reached before
// the answer started is a 503 Status; after, the client connection is cut.
import type * as http from 'node:http';
import { openUpstreamRequest, serviceUnavailable } from '@kgw/kube';
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
  const upstreamReq = openUpstreamRequest(chain.upstream, upstreamCall(req, headers), (upstreamRes) => {
    const streaming = isStreamingResponse(event, upstreamRes);
    if (streaming) {
      for (const socket of [req.socket, upstreamRes.socket])
        socket.setKeepAlive(true, chain.streamKeepaliveMs);
    }
    res.writeHead(
      upstreamRes.statusCode ?? 502,
      sanitizeResponseHeaders(upstreamRes.headers, { proxiedContent: isProxiedContent(event) }),
    );
    // Watches must reach the client at once: the first event may be minutes away.
    if (streaming) res.flushHeaders();
    upstreamRes.on('data', (chunk: Buffer) => {
      event.bytesOut += chunk.length;
    });
    upstreamRes.pipe(res);
    event.code = upstreamRes.statusCode ?? 502;
  });
  upstreamReq.on('error', (err) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
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
  });
  // A client that goes away cancels the upstream request (and with it a watch or logs -f).
  res.on('close', () => {
    if (!res.writableFinished) upstreamReq.destroy();
    chain.finish(exchange);
  });
  // Nearly every request (get, list, watch, delete) has no body: end the upstream request now
  // instead of piping an empty stream, which costs a stream setup and a tick before the request
  // line leaves (seen in the bench profile). Node's server discards the unread empty body.
  if (!hasBody(req)) {
    upstreamReq.end();
    return;
  }
  req.on('data', (chunk: Buffer) => {
    event.bytesIn += chunk.length;
  });
  req.pipe(upstreamReq);
}

function isStreamingResponse(event: AuditEvent, res: http.IncomingMessage): boolean {
  return (
    event.verb === 'watch' ||
    event.subresource === 'log' ||
    (res.headers['content-length'] === undefined &&
      res.headers['transfer-encoding'] === 'chunked' &&
      event.verb !== 'list')
  );
}
