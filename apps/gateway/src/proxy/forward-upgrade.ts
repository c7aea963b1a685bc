// Step 6 for upgrades (exec, attach, port-forward over SPDY or WebSocket; proxy): bytes are piped
// only after the API server answers 101. Any other answer is relayed and the socket closed, so no
// further request can ride it (the CVE-2018-1002105 lesson).
import type * as http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { openUpstreamRequest, serviceUnavailable, streamingUpgradeOf, type RequestInfo } from '@kgw/kube';
import type { MappedIdentity } from '../identity/caller';
import { Refusal } from './chain-steps';
import { isProxiedContent, sanitizeResponseHeaders } from './header-sanitizer';
import { upstreamCall, upstreamHeaders, type Exchange } from './proxy-exchange';
import type { ForwardingChain } from './forwarding-chain';

export function forwardUpgrade(
  chain: ForwardingChain,
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
  identity: MappedIdentity,
  info: RequestInfo,
  exchange: Exchange,
): void {
  const { event } = exchange;
  const streaming = streamingUpgradeOf(req.headers, info);
  event.transport = streaming?.transport ?? 'upgrade';
  const headers = upstreamHeaders(chain.upstream, req, identity, exchange, true);
  const upstreamReq = openUpstreamRequest(chain.upstream, upstreamCall(req, headers));
  upstreamReq.on(
    'upgrade',
    (upstreamRes: http.IncomingMessage, upstreamSocket: Socket, upstreamHead: Buffer) => {
      event.code = 101;
      const lines = [`HTTP/1.1 101 ${upstreamRes.statusMessage || 'Switching Protocols'}`];
      for (let i = 0; i < upstreamRes.rawHeaders.length; i += 2) {
        lines.push(`${upstreamRes.rawHeaders[i]}: ${upstreamRes.rawHeaders[i + 1]}`);
      }
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      for (const s of [upstreamSocket, socket as Socket]) {
        if (typeof s.setKeepAlive === 'function') s.setKeepAlive(true, chain.streamKeepaliveMs);
        if (typeof s.setNoDelay === 'function') s.setNoDelay(true);
      }
      if (upstreamHead.length) socket.write(upstreamHead);
      if (head.length) upstreamSocket.write(head);
      upstreamSocket.on('data', (chunk: Buffer) => {
        event.bytesOut += chunk.length;
      });
      socket.on('data', (chunk: Buffer) => {
        event.bytesIn += chunk.length;
      });
      upstreamSocket.pipe(socket as NodeJS.WritableStream);
      socket.pipe(upstreamSocket);
      const close = (): void => {
        upstreamSocket.destroy();
        socket.destroy();
        chain.finish(exchange);
      };
      upstreamSocket.on('close', close);
      socket.on('close', close);
      upstreamSocket.on('error', close);
      socket.on('error', close);
    },
  );
  // Not a 101: relay the answer and close, so no further request can ride the socket.
  upstreamReq.on('response', (upstreamRes: http.IncomingMessage) => {
    event.code = upstreamRes.statusCode ?? 502;
    event.reason = `upgrade refused by the API server (${event.code})`;
    const lines = [`HTTP/1.1 ${event.code} ${upstreamRes.statusMessage ?? ''}`];
    const relayed = sanitizeResponseHeaders(upstreamRes.headers, { proxiedContent: isProxiedContent(event) });
    delete relayed['content-length'];
    for (const [name, value] of Object.entries(relayed)) {
      for (const v of ([] as Array<string | number>).concat(value ?? [])) lines.push(`${name}: ${v}`);
    }
    lines.push('Connection: close');
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    upstreamRes.on('data', (chunk: Buffer) => {
      event.bytesOut += chunk.length;
      socket.write(chunk);
    });
    upstreamRes.on('end', () => {
      socket.end();
      chain.finish(exchange);
    });
  });
  upstreamReq.on('error', (err) => {
    chain.metrics?.upstreamError('unreachable');
    chain.logger.warn({ err: err.message, requestId: exchange.requestId }, 'upstream upgrade failed');
    chain.refuseUpgrade(
      socket,
      exchange,
      new Refusal(
        serviceUnavailable('the Kubernetes API server could not be reached'),
        'error',
        `upstream: ${err.message}`,
      ),
    );
  });
  socket.on('close', () => upstreamReq.destroy());
  upstreamReq.end();
}
