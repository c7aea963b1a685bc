// Slow and abandoned requests: what a client that sends little, slowly, may hold.
//
// Guards: sockets and memory against clients that trickle headers or bodies (slowloris) or
// keep a refused request open by sending its body after the answer. Trusts: nothing about the
// client. Refuses: (1) a connection whose request body is still unread when the answer starts
// — a refusal (401, 403, 429, 400...) before the body was needed — gets `Connection: close`
// and is closed once the answer is out, instead of Node reading the rest of the body to find
// the next request; (2) a gateway route (/kgw/...) whose body has not fully arrived within
// the body timeout: those routes read the whole body before authenticating (it is small JSON
// or a form), so an anonymous client must not hold them open. Header timeouts are Node's
// (`headersTimeout`, checked every second here). Kubernetes paths authenticate on headers
// alone and stream bodies upstream for as long as they take once the caller is known.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';

/**
 * True when the request announced a body: HTTP/1.1 framing (RFC 9112 §6.3: Content-Length > 0 or
 * Transfer-Encoding); on HTTP/2, any request whose HEADERS frame did not end the stream (a
 * body there needs no Content-Length).
 */
export function hasBody(req: IncomingMessage): boolean {
  if (req.httpVersionMajor === 2) return !(req as unknown as Http2ServerRequest).stream.endAfterHeaders;
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** (1): an answer that starts before the body was read ends the connection. */
export function closeWhenBodyUnread(req: IncomingMessage, res: ServerResponse): void {
  if (!hasBody(req)) return;
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
  // Every way of answering (res.end, express's json/send, our Status writer) goes through
  // writeHead, explicitly or through _implicitHeader; shouldKeepAlive decided there is final.
  res.writeHead = (...args: unknown[]) => {
    if (!req.complete) res.shouldKeepAlive = false;
    return writeHead(...args);
  };
}

/** (2): the whole body within `timeoutMs`, or the socket is destroyed. */
export function bodyDeadline(req: IncomingMessage, timeoutMs: number): void {
  if (!hasBody(req) || req.complete) return;
  const timer = setTimeout(() => {
    if (!req.complete) req.socket.destroy();
  }, timeoutMs);
  timer.unref();
  const clear = (): void => clearTimeout(timer);
  req.once('end', clear);
  req.once('close', clear);
}
