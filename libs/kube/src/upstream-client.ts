// The one way to the API server: every request the gateway sends upstream (proxied traffic,
// upgrades, SubjectAccessReviews, TokenRequests, readiness, /kgw/v1/me's reads) is opened here,
// over the upstream's keep-alive TLS pool (its CA, client certificate, tls-server-name), on its
// base path.
//
// What it guards: which credential and which identity a request carries. The gateway's own
// credential may only impersonate and create reviews/tokens, so a request that forgets
// withImpersonation() fails closed at the API server. What it trusts: the headers handed in
// (the proxy sanitizes the client's before they get here; impersonation headers come only from
// the mapped Identity, via impersonationHeaders()). Tunnels (pod port-forwards under
// impersonation) and an HTTP/2 upstream plug in here.
import type * as http from 'node:http';
import * as https from 'node:https';
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
  /** Socket idle timeout; the caller decides what a timeout means (`'timeout'` event). */
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

/** Opens a request to the API server; the caller writes the body (if any) and ends it. */
export function openUpstreamRequest(
  upstream: Upstream,
  call: UpstreamCall,
  onResponse?: (response: http.IncomingMessage) => void,
): http.ClientRequest {
  return https.request(upstreamRequestOptions(upstream, call), onResponse);
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
        ? call.headers
        : { ...call.headers, 'Content-Length': Buffer.byteLength(call.body) };
    const outgoing = openUpstreamRequest(upstream, { ...call, headers }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (call.maxResponseBytes !== undefined && size > call.maxResponseBytes) {
          const statusCode = response.statusCode ?? 0;
          response.destroy(call.tooLargeError?.(statusCode) ?? new Error('response too large'));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () =>
        resolve({ statusCode: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', reject);
    });
    outgoing.on('timeout', () => outgoing.destroy(call.timeoutError()));
    outgoing.on('error', reject);
    outgoing.end(call.body);
  });
}
