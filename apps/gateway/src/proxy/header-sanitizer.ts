// Builds the headers the API server will see from the headers a client sent.
//
// Guards: the upstream request's identity and routing headers. Trusts: nothing the client sent.
// Refuses (drops): Authorization and every credential header, every Impersonate-* in any
// spelling, X-Remote-* (front-proxy identity), X-Forwarded-*/Forwarded (client-address claims),
// Cookie (the gateway's session must not travel upstream), hop-by-hop headers, and every header
// the client's Connection header names. Connection is applied to the client's headers only —
// ours are added afterwards — so `Connection: Impersonate-User, Authorization` cannot strip the
// headers the gateway sets.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { HOP_BY_HOP_HEADERS, isForbiddenClientHeader } from '@kgw/kube';

/** Headers the gateway never forwards for reasons of its own, beyond the shared forbidden list. */
const DROPPED = new Set(['host', 'cookie']);

/** Upgrade negotiation that must reach the API server for exec/attach/port-forward. */
const UPGRADE_HEADERS = new Set(['upgrade']);

export interface SanitizedHeaders {
  headers: OutgoingHttpHeaders;
  /** The client asked to switch protocols (WebSocket or SPDY) and the Upgrade header is kept. */
  upgrade: boolean;
}

export function sanitizeClientHeaders(raw: IncomingHttpHeaders, allowUpgrade: boolean): SanitizedHeaders {
  const namedByConnection = new Set(
    ([] as string[])
      .concat(raw.connection ?? [])
      .join(',')
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  );
  const upgradeRequested =
    allowUpgrade && namedByConnection.has('upgrade') && typeof raw.upgrade === 'string';
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (isForbiddenClientHeader(name) || DROPPED.has(name)) continue;
    if (upgradeRequested && UPGRADE_HEADERS.has(name)) {
      headers[name] = value;
      continue;
    }
    if (HOP_BY_HOP_HEADERS.has(name) || namedByConnection.has(name)) continue;
    headers[name] = value;
  }
  if (upgradeRequested) headers.connection = 'Upgrade';
  return { headers, upgrade: upgradeRequested };
}

/** Response headers a proxy must not copy through (RFC 9110 §7.6.1). */
export function sanitizeResponseHeaders(raw: IncomingHttpHeaders): OutgoingHttpHeaders {
  const namedByConnection = new Set(
    ([] as string[])
      .concat(raw.connection ?? [])
      .join(',')
      .split(',')
      .map((token) => token.trim().toLowerCase()),
  );
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name) || namedByConnection.has(name)) continue;
    headers[name] = value;
  }
  return headers;
}
