// The Kubernetes proxy chain, in one place and in this order (ARCHITECTURE.md, request pipeline):
//
//   0. audit open?        auditUnavailable        nothing is served unaudited
//   1. authenticate  ┐    identifyCaller          the same code as the /kgw/ routes (GatewayAuth)
//   3. map identity  ┘
//   4. resolve            resolveTarget           RequestInfo on the canonical path (+ checkUpgrade)
//   5. authorize          checkPolicy, checkRbac  gateway policy, then SubjectAccessReview
//                         serviceAccountCredential  token-request mode's own token
//   2. sanitize           (at forward time)       client headers rebuilt from scratch
//   6. forward            forwardRequest, forwardUpgrade
//   7. audit              finish                  one record per exchange
//
// Each step (chain-steps.ts) returns its value or a Refusal; refuse() is the one place a refusal
// becomes a response and an audit record. What it guards: the cluster, which the gateway reaches
// with a credential that may only impersonate. What it trusts: the authenticator's verdict, the
// operator's mapping rules, the API server's answers. What it refuses: a request without a
// credential (401, never the gateway's own identity), an identity that cannot be mapped (403), a
// path the API server could read differently from us (400), anything RBAC denies (403, worded
// like the API server), and an upgrade the API server did not accept with 101.
//
// Forwarding uses Node's http, not http-proxy-middleware: docs/proxy.md says why.
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  accessAttributesFor,
  authorizationVerbFor,
  internal,
  writeSocketStatus,
  writeStatus,
  type RequestInfo,
  type Upstream,
} from '@kgw/kube';
import type { AuditSink } from '../audit/audit-sink';
import type { GatewayPolicy } from '../auth/gateway-policy';
import type { OpenStreams } from '../auth/open-streams';
import type { AuthenticatedCaller, MappedIdentity } from '../identity/caller';
import type { ServiceAccountTokenSource } from '../identity/service-account-tokens';
import type { RequestLimits } from '../limits/request-limits';
import type { GatewayMetrics } from '../metrics/gateway-metrics';
import { assignRequestId } from '../logging/request-id';
import {
  actingIdentity,
  auditUnavailable,
  bodyLimitFor,
  checkBodySize,
  checkPolicy,
  checkRbac,
  checkRequestRate,
  checkUpgrade,
  identifyCaller,
  isLongRunning,
  longRunningKindOf,
  openLongRunning,
  Refusal,
  resolveTarget,
  serviceAccountCredential,
  type AccessReviews,
  type CallerIdentification,
} from './chain-steps';
import type { ClientAddressResolver } from './client-address';
import { forwardRequest } from './forward-request';
import { forwardUpgrade } from './forward-upgrade';
import type { ForwardingChain } from './forwarding-chain';
import {
  openExchange,
  recordCaller,
  recordIdentity,
  recordRefusal,
  recordTarget,
  stampEnd,
  type Exchange,
} from './proxy-exchange';

export interface KubeProxyChainDeps {
  /** Who is calling (GatewayAuth: authenticators + identity mapper). */
  auth: CallerIdentification;
  /** Gateway rules (personal-token scopes) checked before RBAC. */
  policy: GatewayPolicy;
  clientAddress: ClientAddressResolver;
  accessReviews: AccessReviews;
  upstream: Upstream;
  audit: AuditSink;
  logger: Logger;
  instance: string;
  streamKeepaliveMs: number;
  /** KGW_KUBE_RESPONSE_TIMEOUT_SECONDS in ms (ForwardingChain.responseTimeoutMs); absent: none. */
  responseTimeoutMs?: number;
  /** Largest API request body forwarded (KGW_HTTP_MAX_BODY_BYTES); larger ones get a 413 Status. */
  maxBodyBytes?: number;
  /** Open exchanges by credential, cut at its revocation, logout or expiry (auth/open-streams.ts). */
  openStreams?: OpenStreams;
  /** Tokens for `serviceAccountMode: token-request` identities; without it they are refused (503). */
  serviceAccountTokens?: ServiceAccountTokenSource;
  /** Per-caller request rates and concurrent long-running requests (absent: unlimited). */
  limits?: RequestLimits;
  /** Counts and times every exchange (kgw_requests_total, kgw_request_duration_seconds...). */
  metrics?: GatewayMetrics;
}

type Admitted = { caller: AuthenticatedCaller; identity: MappedIdentity; info: RequestInfo };

export class KubeProxyChain implements ForwardingChain {
  readonly upstream: Upstream;
  readonly streamKeepaliveMs: number;
  readonly responseTimeoutMs: number | undefined;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics | undefined;
  private readonly finished = new WeakSet<Exchange>();

  constructor(private readonly deps: KubeProxyChainDeps) {
    this.metrics = deps.metrics;
    this.upstream = deps.upstream;
    this.streamKeepaliveMs = deps.streamKeepaliveMs;
    this.responseTimeoutMs = deps.responseTimeoutMs;
    this.logger = deps.logger;
  }

  handleRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const exchange = this.open(req, assignRequestId(req, res));
    // The API server echoes the Audit-ID we send (step 6); our own refusals carry it too.
    res.setHeader('Audit-Id', exchange.requestId);
    // The last guard: whatever throws in a step or in forwarding, sync or async (an authenticator,
    // a SubjectAccessReview that cannot be made, a header the writer refuses), ends here as a
    // 500 Status and an audit record — never as an exception out of the chain.
    this.admit(req, exchange, false)
      .then((admitted) => {
        if (admitted instanceof Refusal) return this.refuse(res, exchange, admitted);
        // A watch or logs -f ends with its credential (revoked, logged out, expired), not when it
        // ends by itself.
        this.deps.openStreams?.track(admitted.caller, res);
        forwardRequest(this, req, res, admitted.identity, exchange);
      })
      .catch((err: unknown) => {
        this.failed(exchange, err, 'proxy chain failed');
        if (res.headersSent) res.destroy();
        else writeStatus(res, internal(exchange.requestId));
      });
  }

  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const exchange = this.open(req, assignRequestId(req));
    socket.on('error', () => socket.destroy());
    this.admit(req, exchange, true)
      .then((admitted) => {
        if (admitted instanceof Refusal) return this.refuseUpgrade(socket, exchange, admitted);
        // Likewise exec, attach and port-forward sessions.
        this.deps.openStreams?.track(admitted.caller, socket);
        forwardUpgrade(this, req, socket, head, admitted.identity, admitted.info, exchange);
      })
      .catch((err: unknown) => {
        this.failed(exchange, err, 'upgrade failed');
        writeSocketStatus(socket, internal(exchange.requestId), exchange.requestId);
      });
  }

  /** An exchange that ended in an exception: logged, and audited as an error with its 500. */
  private failed(exchange: Exchange, err: unknown, what: string): void {
    this.logger.error({ err, requestId: exchange.requestId }, what);
    const { event } = exchange;
    event.decision = 'error';
    event.code = 500;
    event.reason = `internal error: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500);
    this.finish(exchange);
  }

  /** Steps 0–5 in order, each recording what it learned on the audit event; the first refusal ends it. */
  private async admit(
    req: http.IncomingMessage,
    exchange: Exchange,
    upgrade: boolean,
  ): Promise<Admitted | Refusal> {
    const { deps } = this;
    const { event } = exchange;
    const closed = auditUnavailable(deps.audit);
    if (closed) return closed;
    const who = await identifyCaller(deps.auth, req);
    if (who instanceof Refusal) return who;
    recordCaller(event, who.caller);
    recordIdentity(event, who.identity);
    const throttled = checkRequestRate(deps.limits, who.caller, deps.metrics);
    if (throttled) return throttled;
    const asked = await actingIdentity(deps.policy, deps.accessReviews, req, who, upgrade);
    if (asked instanceof Refusal) return asked;
    const acting = asked.identity;
    if (asked.impersonation) {
      recordIdentity(event, acting);
      exchange.impersonation = asked.impersonation;
    }
    const info = resolveTarget(req);
    if (info instanceof Refusal) return info;
    recordTarget(event, info);
    exchange.longRunning = upgrade || isLongRunning(info);
    if (deps.maxBodyBytes !== undefined) {
      exchange.maxBodyBytes = bodyLimitFor(info, deps.maxBodyBytes);
      const tooLarge = checkBodySize(req, exchange.maxBodyBytes);
      if (tooLarge) return tooLarge;
    }
    const notStreaming = upgrade ? checkUpgrade(req, info) : undefined;
    if (notStreaming) return notStreaming;
    // exec/attach/portforward are authorized as `create` whether they arrive as GET or POST, and
    // so is an upgrade through nodes/…/proxy (the kubelet's exec).
    const attributes = accessAttributesFor(info, authorizationVerbFor(info, upgrade));
    event.verb = attributes.verb;
    const narrowed = checkPolicy(deps.policy, who.caller, attributes, { upgrade });
    if (narrowed) return narrowed;
    const allowed = await checkRbac(deps.accessReviews, acting, attributes);
    if (allowed instanceof Refusal) return allowed;
    const kind = longRunningKindOf(req, info, upgrade);
    if (kind) {
      const end = openLongRunning(deps.limits, who.caller, deps.metrics);
      if (end instanceof Refusal) return end;
      const unmeter = deps.metrics?.longRunningStarted(kind);
      exchange.endLongRunning = () => {
        end();
        unmeter?.();
      };
    }
    const credential = await serviceAccountCredential(
      deps.serviceAccountTokens,
      acting,
      this.logger,
      exchange.requestId,
    );
    if (credential instanceof Refusal) return credential;
    exchange.serviceAccountAuthorization = credential;
    event.decision = 'allow';
    event.reason =
      [exchange.impersonation, allowed.reason].filter((part): part is string => !!part).join('; ') ||
      undefined;
    return { caller: who.caller, identity: acting, info };
  }

  private open(req: http.IncomingMessage, requestId: string): Exchange {
    return openExchange(req, requestId, this.deps.instance, this.deps.clientAddress);
  }

  refuse(res: http.ServerResponse, exchange: Exchange, refusal: Refusal): void {
    recordRefusal(exchange, refusal);
    res.on('close', () => this.finish(exchange));
    writeStatus(res, refusal.status);
  }

  refuseUpgrade(socket: Duplex, exchange: Exchange, refusal: Refusal): void {
    recordRefusal(exchange, refusal);
    writeSocketStatus(socket, refusal.status, exchange.requestId);
    this.finish(exchange);
  }

  finish(exchange: Exchange): void {
    if (this.finished.has(exchange)) return;
    this.finished.add(exchange);
    if (exchange.endLongRunning) exchange.endLongRunning();
    const event = stampEnd(exchange);
    this.deps.metrics?.requestFinished(event, exchange.endLongRunning !== undefined);
    try {
      this.deps.audit.record(event);
    } catch (err) {
      this.logger.error({ err, requestId: exchange.requestId }, 'audit sink failed');
    }
  }
}
