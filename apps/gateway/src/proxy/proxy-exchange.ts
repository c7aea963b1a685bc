// One exchange through the proxy chain: its request id, start time, the audit event that the
// chain's steps fill in as they learn things, and the headers it is forwarded with.
import type * as http from 'node:http';
import { withGatewayCredential, withImpersonation, type RequestInfo, type Upstream } from '@kgw/kube';
import type { AuditEvent } from '../audit/audit-event';
import { redactQuery } from '../logging/query-redaction';
import type { AuthenticatedCaller, MappedIdentity } from '../identity/caller';
import type { Refusal } from './chain-steps';
import type { ClientAddressResolver } from './client-address';
import { sanitizeClientHeaders } from './header-sanitizer';

export interface Exchange {
  requestId: string;
  started: number;
  event: AuditEvent;
  /**
   * `Bearer <token>` of the mapped service account (token-request mode): sent upstream in place
   * of the gateway credential and the Impersonate-* headers. Never copied into the audit event.
   */
  serviceAccountAuthorization?: string;
  /** Set when the caller asked to act as someone else and may: who, and on whose behalf. */
  impersonation?: string;
  /** The most body bytes this request may send upstream (undefined: unlimited, proxied content). */
  maxBodyBytes?: number;
  /**
   * Long-running as the API server counts it (watch, proxy, exec, attach, log, portforward): no
   * response timeout applies.
   */
  longRunning?: boolean;
  /** A long-running request: ends its count (the user's limit, the kgw_longrunning_requests gauge). */
  endLongRunning?: () => void;
}

/** The exchange of a request that just arrived: nothing decided yet (decision `error` until then). */
export function openExchange(
  req: http.IncomingMessage,
  requestId: string,
  instance: string,
  clientAddress: ClientAddressResolver,
): Exchange {
  const rawUrl = req.url ?? '/';
  const queryStart = rawUrl.indexOf('?');
  return {
    requestId,
    started: performance.now(),
    event: {
      time: new Date(),
      requestId,
      instance,
      kubeGroups: [],
      clientAddress: clientAddress.resolve(req),
      userAgent: req.headers['user-agent'],
      path: queryStart < 0 ? rawUrl : rawUrl.slice(0, queryStart),
      query: queryStart < 0 ? undefined : redactQuery(rawUrl.slice(queryStart + 1)),
      code: 0,
      decision: 'error',
      latencyMs: 0,
      bytesIn: 0,
      bytesOut: 0,
    },
  };
}

export function recordCaller(event: AuditEvent, caller: AuthenticatedCaller): void {
  event.authUser = caller.name;
  event.authMethod = caller.method;
  event.tokenId = caller.tokenId;
}

export function recordIdentity(event: AuditEvent, identity: MappedIdentity): void {
  event.kubeUser = identity.username;
  event.kubeGroups = [...identity.groups];
  event.serviceAccount = identity.serviceAccount;
}

export function recordTarget(event: AuditEvent, info: RequestInfo): void {
  event.verb = info.verb;
  event.apiGroup = info.apiGroup || undefined;
  event.apiVersion = info.apiVersion || undefined;
  event.resource = info.resource || undefined;
  event.subresource = info.subresource || undefined;
  event.namespace = info.namespace || undefined;
  event.name = info.name || undefined;
}

export function recordRefusal(exchange: Exchange, refusal: Refusal): void {
  const { event } = exchange;
  if (refusal.caller) recordCaller(event, refusal.caller);
  event.decision = refusal.decision;
  event.reason = refusal.reason;
  event.code = refusal.status.code;
}

/** The event as it is audited when the exchange ends: its latency, and a stream's duration. */
export function stampEnd(exchange: Exchange): AuditEvent {
  const { event } = exchange;
  event.latencyMs = Math.round((performance.now() - exchange.started) * 1000) / 1000;
  if (event.transport || event.verb === 'watch' || event.subresource === 'log')
    event.streamMs = event.latencyMs;
  return event;
}

/**
 * The headers sent upstream: the sanitized client headers (sanitize, step 2: rebuilt from
 * scratch, so nothing before this reads any header but the credential and the Upgrade
 * negotiation), then ours, set last.
 */
export function upstreamHeaders(
  upstream: Upstream,
  req: http.IncomingMessage,
  identity: MappedIdentity,
  exchange: Exchange,
  upgrade: boolean,
): http.OutgoingHttpHeaders {
  const { headers } = sanitizeClientHeaders(req.headers, upgrade);
  if (exchange.serviceAccountAuthorization !== undefined) {
    // Token-request mode: the API server authenticates the service account itself; no
    // Impersonate-* (the sanitizer already dropped the client's), no gateway credential.
    headers.authorization = exchange.serviceAccountAuthorization;
  } else {
    withImpersonation(withGatewayCredential(upstream, headers), identity);
  }
  if (exchange.event.clientAddress) headers['x-forwarded-for'] = exchange.event.clientAddress;
  // The API server takes Audit-ID as the ID of its own audit event: its log and ours join on it.
  headers['audit-id'] = exchange.requestId;
  return headers;
}

/** The raw target, exactly as received: it was validated as unambiguous, not rewritten. */
export function upstreamCall(
  req: http.IncomingMessage,
  headers: http.OutgoingHttpHeaders,
): { method: string; path: string; headers: http.OutgoingHttpHeaders } {
  return { method: req.method ?? 'GET', path: req.url ?? '/', headers };
}
