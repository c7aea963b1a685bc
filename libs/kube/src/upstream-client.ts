// The one way to the API server: every request the gateway sends upstream (proxied traffic,
// upgrades, SubjectAccessReviews, TokenRequests, readiness, /kgw/v1/me's reads) is opened here,
// over the upstream's keep-alive TLS pool (its CA, client certificate, tls-server-name), on its
// base path.
//
// What it guards: which credential and which identity a request carries. The gateway's own
// credential may only impersonate and create reviews/tokens, so a request that forgets
// withImpersonation() fails closed at the API server. What it trusts: the headers handed in
// (the proxy sanitizes the client's before they get here; impersonation headers come only from
// the mapped Identity, via impersonationHeaders()). Tunnels in api mode open their pod
// port-forwards under impersonation here too (upgradeUpstream, used by pod-port-forward.ts).
//
// Protocol: requestUpstream() speaks HTTP/2 when the API server offers h2 by ALPN (the session
// pool in upstream-http2.ts), HTTP/1.1 over undici's connection pool when it does not (or with
// KGW_KUBE_HTTP2=off); upgrades (exec, attach, port-forward, proxy) always go over HTTP/1.1
// through openUpstreamRequest() and the https agent, as kubectl sends them. Either way the answer
// is streamed as it arrives, never buffered.
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { impersonationHeaders, type Identity } from './impersonation';
import type { Upstream } from './upstream';

export interface UpstreamCall {
  readonly method: string;
  /**
   * Path and query on the API server, without the upstream's base path. Sent as given: the proxy
   * passes the client's raw target, which was checked as unambiguous and must not be rewritten.
   */
  readonly path: string;
  readonly headers: http.OutgoingHttpHeaders;
  /**
   * The caller decides what a timeout means. openUpstreamRequest (https.request, upgrades): the
   * socket's idle timeout (`'timeout'` event). requestUpstream over HTTP/1.1 (undici): a deadline
   * for the head from the call — time queued for a pooled connection, connecting and TLS
   * included — then an idle timeout between body chunks; over HTTP/2 the stream's idle timeout.
   */
  readonly timeoutMs?: number;
}

/** The request options of every call to the API server. */
export function upstreamRequestOptions(upstream: Upstream, call: UpstreamCall): https.RequestOptions {
  const options: https.RequestOptions = {
    hostname: upstream.url.hostname.replace(/^\[|\]$/g, ''),
    port: upstream.url.port || 443,
    method: call.method,
    path: upstream.basePath + call.path,
    headers: call.headers,
    agent: upstream.agent,
    servername: upstream.tlsServerName,
  };
  if (call.timeoutMs !== undefined) options.timeout = call.timeoutMs;
  return options;
}

/**
 * Opens an HTTP/1.1 request to the API server; the caller writes the body (if any) and ends it.
 * For upgrades (exec, attach, port-forward): everything else goes through requestUpstream().
 */
export function openUpstreamRequest(
  upstream: Upstream,
  call: UpstreamCall,
  onResponse?: (response: http.IncomingMessage) => void,
): http.ClientRequest {
  return https.request(upstreamRequestOptions(upstream, call), onResponse);
}

/** An upgrade the API server accepted (101): the raw connection, now speaking the new protocol. */
export interface UpstreamUpgrade {
  readonly socket: Socket;
  /** Bytes of the new protocol that arrived with the 101. */
  readonly head: Buffer;
  readonly headers: http.IncomingHttpHeaders;
}

/** The API server answered an upgrade with something other than 101. */
export class UpstreamUpgradeRefused extends Error {
  override readonly name = 'UpstreamUpgradeRefused';
  constructor(
    readonly statusCode: number,
    /** The answer's body (a Kubernetes Status, usually), at most MAX_REFUSAL_BODY bytes. */
    readonly body: string,
  ) {
    super(`the API server answered ${statusCode} to the upgrade`);
  }
}

const MAX_REFUSAL_BODY = 64 * 1024;

/**
 * Sends an upgrade request (GET or POST with Connection: Upgrade, over HTTP/1.1) and resolves
 * with the upgraded connection, or rejects with UpstreamUpgradeRefused (any other answer), a
 * timeout (`call.timeoutMs` until the answer) or a connection error. For the gateway's own
 * upgrades (tunnels in api mode); the proxy pipes client upgrades itself (forward-upgrade.ts).
 */
export function upgradeUpstream(upstream: Upstream, call: UpstreamCall): Promise<UpstreamUpgrade> {
  return new Promise<UpstreamUpgrade>((resolve, reject) => {
    const request = openUpstreamRequest(upstream, call);
    request.once('upgrade', (response: http.IncomingMessage, socket: Socket, head: Buffer) => {
      request.setTimeout(0);
      socket.setTimeout(0);
      resolve({ socket, head, headers: response.headers });
    });
    request.once('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        if (size < MAX_REFUSAL_BODY) chunks.push(chunk);
        size += chunk.length;
      });
      const refuse = () =>
        reject(
          new UpstreamUpgradeRefused(
            response.statusCode ?? 502,
            Buffer.concat(chunks).subarray(0, MAX_REFUSAL_BODY).toString('utf8'),
          ),
        );
      response.once('end', refuse);
      response.once('aborted', refuse);
    });
    request.once('timeout', () => {
      reject(new Error('the API server did not answer the upgrade in time'));
      request.destroy();
    });
    request.once('error', reject);
    request.end();
  });
}

/** `headers` with the gateway's own credential as Authorization (when it has a token; else mTLS). */
export function withGatewayCredential(
  upstream: Upstream,
  headers: http.OutgoingHttpHeaders,
): http.OutgoingHttpHeaders {
  const credential = upstream.authorizationHeader();
  if (credential) headers.authorization = credential;
  return headers;
}

/**
 * `headers` with the Impersonate-* headers that make the API server act as `identity` (see
 * impersonation.ts), added to any of the same name already there. Throws ImpersonationError for
 * an identity that would not survive the trip through HTTP.
 */
export function withImpersonation(
  headers: http.OutgoingHttpHeaders,
  identity: Identity,
): http.OutgoingHttpHeaders {
  for (const [name, value] of impersonationHeaders(identity)) {
    const existing = headers[name];
    headers[name] =
      existing === undefined ? value : ([] as string[]).concat(existing as string | string[], value);
  }
  return headers;
}

export interface UpstreamSend extends UpstreamCall {
  /**
   * The request body: a string, or a stream piped as it arrives (read only once the request is
   * on its way, so nothing is lost while a session connects); none for GET, watch, DELETE….
   * The headers must say its length (or nothing, for a stream of unknown length).
   */
  readonly body?: Readable | string;
  /** With timeoutMs: the error a timeout fails the request with (it is cancelled upstream too). */
  readonly timeoutError?: () => Error;
  /**
   * The head of the answer must arrive within this long from now — connecting included — or the
   * request fails with `headTimeoutError()` and is cancelled upstream. For requests that answer
   * at once (get, list, create…), never for long-running ones: a watch or logs -f may wait
   * minutes for its first byte, but its head comes at once anyway.
   */
  readonly headTimeoutMs?: number;
  readonly headTimeoutError?: () => Error;
}

/** The head of the API server's answer and its body, streamed. */
export interface UpstreamResponse {
  readonly protocol: 'h2' | 'http/1.1';
  readonly statusCode: number;
  readonly statusMessage: string;
  /** Lowercased names, HTTP/2 pseudo-headers removed. */
  readonly headers: http.IncomingHttpHeaders;
  /** The body as it arrives: a watch event or a log line is readable the moment it comes. */
  readonly body: Readable;
  /**
   * TCP keepalive for a long-running answer (HTTP/2 sessions and undici's HTTP/1.1 connections
   * have it from the start).
   */
  keepAlive(delayMs: number): void;
}

export interface UpstreamHandlers {
  onResponse(response: UpstreamResponse): void;
  /**
   * No answer (connect, TLS, refused stream, timeout), or the answer broke off after onResponse
   * (connection lost, stream reset): at most once, and never after cancel().
   */
  onError(error: Error): void;
}

export interface UpstreamRequest {
  /**
   * The caller is gone: stop the request. Over HTTP/2 an RST_STREAM (CANCEL) reaches the API
   * server, which ends a watch or logs -f; over HTTP/1.1 the connection is closed (a request
   * still waiting for a connection is dropped when it gets one, before anything is sent).
   */
  cancel(): void;
  /** Request body bytes sent so far (for the audit record). */
  readonly bodyBytes: number;
}

/**
 * Sends a request to the API server and hands its answer to `handlers`. `call.headers` is taken
 * over (HTTP/2 adds its pseudo-headers to it): pass an object built for this request.
 */
export function requestUpstream(
  upstream: Upstream,
  call: UpstreamSend,
  handlers: UpstreamHandlers,
): UpstreamRequest {
  const exchange = new UpstreamExchange(upstream, call, handlers);
  if (call.headTimeoutMs !== undefined) exchange.startHeadTimer(call.headTimeoutMs, call.headTimeoutError);
  dispatch(exchange);
  exchange.returned = true;
  return exchange;
}

function dispatch(exchange: UpstreamExchange): void {
  const pool = exchange.upstream.http2;
  const choice = pool === undefined ? 'http/1.1' : pool.acquire();
  if (choice === 'http/1.1') exchange.overHttp1();
  else if (choice instanceof Promise) {
    // A session is being opened: ask the pool again once it is up (or ALPN said http/1.1).
    choice.then(
      () => {
        if (!exchange.settled) dispatch(exchange);
      },
      (error: Error) => exchange.fail(error),
    );
  } else exchange.overHttp2(choice);
}

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;

/** One request in flight, over whichever protocol the pool chose (a class: one allocation). */
class UpstreamExchange implements UpstreamRequest {
  bodyBytes = 0;
  /** Cancelled by the caller or failed: nothing more reaches the handlers. */
  settled = false;
  /**
   * requestUpstream() has returned. Until then a failure waits a microtask: undici's dispatch()
   * (a closed pool, a header or path it refuses) and session.request() fail synchronously, and
   * callers refer to the request they are given from onError (a `const` still uninitialised).
   */
  returned = false;
  private http1: Http1Answer | undefined;
  private stream: http2.ClientHttp2Stream | undefined;
  private session: http2.ClientHttp2Session | undefined;
  private headTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly upstream: Upstream,
    private readonly call: UpstreamSend,
    private readonly handlers: UpstreamHandlers,
  ) {}

  cancel(): void {
    if (this.settled) return;
    this.settled = true;
    this.stopHeadTimer();
    this.http1?.cancel();
    if (this.stream !== undefined && !this.stream.closed) this.stream.close(NGHTTP2_CANCEL);
  }

  fail(error: Error): void {
    if (this.settled) return;
    if (!this.returned) {
      queueMicrotask(() => this.fail(error));
      return;
    }
    this.settled = true;
    this.stopHeadTimer();
    this.handlers.onError(error);
  }

  startHeadTimer(timeoutMs: number, timeoutError: (() => Error) | undefined): void {
    this.headTimer = setTimeout(() => {
      this.headTimer = undefined;
      if (this.settled) return;
      this.fail(timeoutError?.() ?? new Error('the API server did not answer in time'));
      this.http1?.cancel();
      if (this.stream !== undefined && !this.stream.closed) this.stream.close(NGHTTP2_CANCEL);
      // A session that answers nothing may be dead under us (a half-open connection): if it does
      // not answer a PING either, it leaves the pool, so the next request connects afresh.
      if (this.session !== undefined) this.upstream.http2?.probe(this.session);
    }, timeoutMs);
  }

  private stopHeadTimer(): void {
    if (this.headTimer !== undefined) clearTimeout(this.headTimer);
    this.headTimer = undefined;
  }

  answered(response: UpstreamResponse): void {
    this.stopHeadTimer();
    this.handlers.onResponse(response);
  }

  overHttp1(): void {
    const { call } = this;
    const { headers } = call;
    // The gateway's server already answered the client's Expect: 100-continue; undici refuses
    // to send one (it would wait for a 100 the API server owes nobody).
    if (headers.expect !== undefined) delete headers.expect;
    // No timeout unless asked: undici's defaults (300 s for the head, 300 s between body
    // chunks) would cut a quiet watch or logs -f. Asked, it is an idle timeout as a socket's
    // was: for the head (from now, so connecting and the TLS handshake count, which undici's
    // headersTimeout would not) and between body chunks.
    const timeoutMs = call.timeoutMs ?? 0;
    if (call.timeoutMs !== undefined && this.headTimer === undefined)
      this.startHeadTimer(call.timeoutMs, call.timeoutError);
    const answer = new Http1Answer(this);
    this.http1 = answer;
    this.upstream.http1.dispatch(
      {
        method: call.method,
        path: this.upstream.basePath + call.path,
        // Numbers (content-length) are sent as their decimal text, as https.request does.
        headers: headers as Record<string, string | string[]>,
        body: typeof call.body === 'object' ? ownBody(call.body) : (call.body ?? null),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      },
      answer as unknown as Dispatcher.DispatchHandler,
    );
  }

  /** A failure of the HTTP/1.1 request, worded as today's callers expect. */
  http1Failed(error: Error & { code?: string }): void {
    const timedOut = error.code === 'UND_ERR_HEADERS_TIMEOUT' || error.code === 'UND_ERR_BODY_TIMEOUT';
    this.fail(
      timedOut ? (this.call.timeoutError?.() ?? new Error('the API server did not answer in time')) : error,
    );
  }

  overHttp2(session: http2.ClientHttp2Session): void {
    const { call } = this;
    const headers = call.headers;
    headers[':method'] = call.method;
    headers[':path'] = this.upstream.basePath + call.path;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: call.body === undefined });
    } catch (error) {
      // A header HTTP/2 refuses (the sanitizer drops the connection-specific ones) or a session
      // that closed a moment ago.
      this.fail(error as Error);
      return;
    }
    this.stream = stream;
    this.session = session;
    this.upstream.http2?.track(session, stream);
    stream.on('error', (error: Error) => this.fail(error));
    stream.once('response', (head) => {
      // A stream the server resets mid-answer still ends its readable side (Node pushes the end
      // so buffered data can be read); the reset code tells a cut answer from a complete one.
      // Registered before the caller pipes the body, so the caller hears of it first.
      stream.once('end', () => {
        const code = stream.rstCode;
        if (code !== undefined && code !== NGHTTP2_NO_ERROR)
          this.fail(new Error(`the API server reset the stream (HTTP/2 error code ${code})`));
      });
      const statusCode = Number(head[':status']);
      this.answered({
        protocol: 'h2',
        statusCode,
        statusMessage: http.STATUS_CODES[statusCode] ?? '',
        headers: withoutPseudoHeaders(head),
        body: stream,
        keepAlive: () => undefined,
      });
    });
    stream.once('close', () => {
      if (!this.settled && stream.rstCode !== NGHTTP2_NO_ERROR && !stream.readableEnded)
        this.fail(new Error(`the API server closed the stream (HTTP/2 error code ${stream.rstCode})`));
    });
    if (call.timeoutMs !== undefined) {
      stream.setTimeout(call.timeoutMs, () => {
        this.fail(call.timeoutError?.() ?? new Error('the API server did not answer in time'));
        if (!stream.closed) stream.close(NGHTTP2_CANCEL);
      });
    }
    if (call.body !== undefined) this.sendBody(stream);
  }

  private sendBody(destination: http2.ClientHttp2Stream): void {
    const { body } = this.call;
    if (body === undefined) {
      destination.end();
    } else if (typeof body === 'string') {
      this.bodyBytes = Buffer.byteLength(body);
      destination.end(body);
    } else {
      body.on('data', (chunk: Buffer) => {
        this.bodyBytes += chunk.length;
      });
      body.pipe(destination);
    }
  }
}

/**
 * undici destroys the body stream it sends once done or failed; the caller's stream (the
 * client's request: destroying it drops its socket) must outlive that, so undici gets its own.
 * The caller's errors still reach it (a client that broke off fails the upstream request).
 */
function ownBody(body: Readable): Readable {
  const own = new PassThrough();
  body.once('error', (error) => own.destroy(error));
  return body.pipe(own);
}

/**
 * One HTTP/1.1 request on undici's pool, through dispatch()'s handler interface: no fetch, no
 * Response objects, the head's raw lines turned into Node's header object once. (The classic
 * handler methods are undici 7's own; its newer controller interface wraps them, at a cost per
 * request.) The body is a Readable fed as the bytes arrive, with back-pressure: undici stops
 * reading the connection while the body is full.
 */
class Http1Answer {
  private abort: ((error?: Error) => void) | undefined;
  private cancelled = false;
  private body: Readable | undefined;
  private resumeReading: (() => void) | undefined;
  private complete = false;

  constructor(private readonly exchange: UpstreamExchange) {}

  /** Closes the connection under the request; one still queued is dropped once it gets one. */
  cancel(): void {
    this.cancelled = true;
    this.abort?.();
    this.body?.destroy();
  }

  onConnect(abort: (error?: Error) => void): void {
    if (this.cancelled) abort();
    else this.abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // 1xx (103 Early Hints…): informational, the answer follows.
    if (statusCode < 200) return true;
    this.resumeReading = resume;
    const body = new Readable({
      read: () => this.resumeReading?.(),
      destroy: (error, done) => {
        // The reader gave up on the answer (it was destroyed): the rest must not be read.
        if (!this.complete) this.abort?.();
        done(error);
      },
    });
    this.body = body;
    this.exchange.answered({
      protocol: 'http/1.1',
      statusCode,
      statusMessage: statusText,
      headers: nodeHeaders(rawHeaders),
      body,
      keepAlive: () => undefined,
    });
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.body!.push(chunk);
  }

  onComplete(): void {
    this.complete = true;
    this.body?.push(null);
  }

  onError(error: Error): void {
    // Before the head: no answer. After it: the answer broke off, and must not end as if whole
    // (no 'end' on the body; the caller hears of it through onError and cuts its client).
    this.exchange.http1Failed(error);
    this.body?.destroy();
  }

  onBodySent(chunk: Buffer | string): void {
    this.exchange.bodyBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
  }
}

/** Header names that Node's HTTP parser keeps once (the first), as the proxy has always seen them. */
const SINGLE_VALUED_HEADERS = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/**
 * The head's raw name/value lines as Node's IncomingMessage.headers has them: names lowercased,
 * values as latin1 text, a repeated header joined with ', ' (cookie with '; ', set-cookie kept
 * as a list, the single-valued ones kept first).
 *
 * The names are the API server's — or a pod's, through pods/proxy — so hostile: `constructor`
 * must not find Object.prototype's member as an earlier value (own properties only), and
 * `__proto__` is stored as a plain header, never as the prototype.
 */
export function nodeHeaders(raw: Buffer[]): http.IncomingHttpHeaders {
  const headers: http.IncomingHttpHeaders = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toString('latin1').toLowerCase();
    const value = raw[i + 1].toString('latin1');
    const existing = Object.hasOwn(headers, name) ? headers[name] : undefined;
    if (existing === undefined) {
      const first = name === 'set-cookie' ? [value] : value;
      if (name === '__proto__')
        Object.defineProperty(headers, name, {
          value: first,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      else headers[name] = first;
    } else if (Array.isArray(existing)) existing.push(value);
    else if (!SINGLE_VALUED_HEADERS.has(name))
      headers[name] = `${existing}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return headers;
}

function withoutPseudoHeaders(head: http2.IncomingHttpHeaders): http.IncomingHttpHeaders {
  const headers: http.IncomingHttpHeaders = {};
  for (const name in head) {
    if (name.charCodeAt(0) !== 0x3a /* ':' */) headers[name] = head[name];
  }
  return headers;
}

export interface BufferedUpstreamCall extends UpstreamCall {
  readonly body?: string;
  readonly timeoutMs: number;
  /** The error a timeout fails with (worded for what was asked). */
  readonly timeoutError: () => Error;
  /** A longer answer fails with `tooLargeError(statusCode)`; unbounded when absent. */
  readonly maxResponseBytes?: number;
  readonly tooLargeError?: (statusCode: number) => Error;
}

export interface BufferedUpstreamResponse {
  readonly statusCode: number;
  readonly body: string;
}

/** One small request and its whole answer (reviews, TokenRequest, readiness, /kgw/v1/me). */
export function exchangeWithUpstream(
  upstream: Upstream,
  call: BufferedUpstreamCall,
): Promise<BufferedUpstreamResponse> {
  return new Promise<BufferedUpstreamResponse>((resolve, reject) => {
    const headers =
      call.body === undefined
        ? { ...call.headers }
        : { ...call.headers, 'content-length': Buffer.byteLength(call.body) };
    const request = requestUpstream(
      upstream,
      { ...call, headers },
      {
        onResponse: (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.body.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (call.maxResponseBytes !== undefined && size > call.maxResponseBytes) {
              request.cancel();
              reject(call.tooLargeError?.(response.statusCode) ?? new Error('response too large'));
              return;
            }
            chunks.push(chunk);
          });
          response.body.on('end', () =>
            resolve({ statusCode: response.statusCode, body: Buffer.concat(chunks).toString('utf8') }),
          );
        },
        onError: reject,
      },
    );
  });
}
