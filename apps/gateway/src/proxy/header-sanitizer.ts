// Builds the headers the API server will see from the headers a client sent.
//
// Guards: the upstream request's identity and routing headers. Trusts: nothing the client sent.
// Refuses (drops): Authorization and every credential header, every Impersonate-* in any
// spelling, X-Remote-* (front-proxy identity), X-Forwarded-*/Forwarded (client-address claims),
// Cookie (the gateway's session must not travel upstream), Audit-ID (the gateway sends its own
// request id), hop-by-hop headers, every header the client's Connection header names, and the
// WebSocket subprotocols that carry a credential (the page's `csrf.kgw.io.<token>`, the API
// server's `base64url.bearer.authorization.k8s.io.<token>`). Connection is applied to the
// client's headers only — ours are added afterwards — so `Connection: Impersonate-User,
// Authorization` cannot strip the headers the gateway sets.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { HOP_BY_HOP_HEADERS, isForbiddenClientHeader } from '@kgw/kube';
import { CSRF_SUBPROTOCOL_PREFIX } from '../auth/browser-sessions';

/** Subprotocol entries that are credentials, not protocols: never forwarded. */
const CREDENTIAL_SUBPROTOCOL_PREFIXES = [CSRF_SUBPROTOCOL_PREFIX, 'base64url.bearer.authorization.k8s.io.'];

/** Headers the gateway never forwards for reasons of its own, beyond the shared forbidden list. */
const DROPPED = new Set(['host', 'cookie']);

const COLON = 0x3a;

/** Upgrade negotiation that must reach the API server for exec/attach/port-forward. */
const UPGRADE_HEADERS = new Set(['upgrade']);

export interface SanitizedHeaders {
  headers: OutgoingHttpHeaders;
  /** The client asked to switch protocols (WebSocket or SPDY) and the Upgrade header is kept. */
  upgrade: boolean;
}

/** The header names a Connection header lists (none without one: HTTP/2, most HTTP/1.1). */
function namedByConnectionOf(raw: IncomingHttpHeaders): ReadonlySet<string> {
  if (raw.connection === undefined) return NONE;
  return new Set(
    ([] as string[])
      .concat(raw.connection)
      .join(',')
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  );
}

const NONE: ReadonlySet<string> = new Set();

export function sanitizeClientHeaders(raw: IncomingHttpHeaders, allowUpgrade: boolean): SanitizedHeaders {
  const namedByConnection = namedByConnectionOf(raw);
  const upgradeRequested =
    allowUpgrade && namedByConnection.has('upgrade') && typeof raw.upgrade === 'string';
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    // HTTP/2 pseudo-headers (:method, :path, :authority, :scheme) describe this hop only.
    if (name.charCodeAt(0) === COLON) continue;
    if (isForbiddenClientHeader(name) || DROPPED.has(name)) continue;
    if (upgradeRequested && UPGRADE_HEADERS.has(name)) {
      headers[name] = value;
      continue;
    }
    if (HOP_BY_HOP_HEADERS.has(name) || namedByConnection.has(name)) continue;
    if (name === 'sec-websocket-protocol') {
      const kept = withoutCredentialSubprotocols(value);
      if (kept) headers[name] = kept;
      continue;
    }
    headers[name] = value;
  }
  if (upgradeRequested) headers.connection = 'Upgrade';
  return { headers, upgrade: upgradeRequested };
}

function withoutCredentialSubprotocols(value: string | string[]): string {
  return ([] as string[])
    .concat(value)
    .join(',')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p && !CREDENTIAL_SUBPROTOCOL_PREFIXES.some((prefix) => p.startsWith(prefix)))
    .join(', ');
}

/**
 * The policy on everything a pod, service or node serves through the API server's proxy. That
 * content is not ours, yet it is served on the gateway's origin, next to a signed-in user's
 * session cookie: a page script could read /kgw/v1/me (with its CSRF token) and mint a token as
 * the user. `sandbox` without `allow-same-origin` gives the page an opaque origin — no cookies,
 * no same-origin reads of the gateway — while its scripts, forms and links still run.
 */
export const PROXIED_CONTENT_POLICY =
  'sandbox allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox allow-modals allow-downloads';

/** Headers proxied content may not set on the gateway's origin: cookies, site data, CORS grants. */
const PROXIED_CONTENT_DROPPED: ReadonlySet<string> = new Set([
  'set-cookie',
  'set-cookie2',
  'clear-site-data',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-headers',
  'access-control-allow-methods',
  'access-control-expose-headers',
]);

/** A pods/…/proxy, services/…/proxy or nodes/…/proxy answer (or the legacy /api/v1/proxy/…). */
export function isProxiedContent(attributes: { subresource?: string; verb?: string }): boolean {
  return attributes.subresource === 'proxy' || attributes.verb === 'proxy';
}

/**
 * Response headers a proxy must not copy through (RFC 9110 §7.6.1); for proxied content also the
 * headers that would act on the gateway's origin, and the sandbox policy added (a pod's own CSP
 * is kept: every policy given is enforced).
 */
export function sanitizeResponseHeaders(
  raw: IncomingHttpHeaders,
  options: { proxiedContent?: boolean } = {},
): OutgoingHttpHeaders {
  const namedByConnection = namedByConnectionOf(raw);
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name) || namedByConnection.has(name)) continue;
    if (options.proxiedContent && PROXIED_CONTENT_DROPPED.has(name)) continue;
    headers[name] = value;
  }
  if (options.proxiedContent) {
    // A comma separates policies in one header (CSP 3 §3.1); each is enforced.
    headers['content-security-policy'] = ([] as string[])
      .concat(raw['content-security-policy'] ?? [], PROXIED_CONTENT_POLICY)
      .join(', ');
    headers['x-content-type-options'] = 'nosniff';
  }
  return headers;
}
