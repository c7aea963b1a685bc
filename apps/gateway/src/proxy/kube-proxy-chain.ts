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
// Forwarding uses Node's http directly rather than http-proxy-middleware: the chain must run
// async authentication and authorization before a single byte goes upstream, upgrades must be
// piped only after the upstream's 101 (http-proxy pipes as soon as it sees a response), and the
// hot path is measured against kubectl proxy, so it carries no framework layers.
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  accessAttributesFor,
  authorizationVerbFor,
  encodeStatus,
  internal,
  writeStatus,
  type KubeStatus,
  type RequestInfo,
  type Upstream,
} from '@kgw/kube';
import type { AuditSink } from '../audit/audit-sink';
import type { AuthenticatedCaller } from '../auth/authenticator';
import type { GatewayPolicy } from '../auth/gateway-policy';
import type { OpenStreams } from '../auth/open-streams';
import type { MappedIdentity } from '../identity/identity-mapper';
import type { ServiceAccountTokenSource } from '../identity/service-account-tokens';
import { assignRequestId } from '../logging/request-id';
import {
  auditUnavailable,
  checkPolicy,
  checkRbac,
  checkUpgrade,
  identifyCaller,
  Refusal,
  resolveTarget,
  serviceAccountCredential,
  type AccessReviews,
  type CallerIdentification,
  gatewayForbidden,
} from './chain-steps';
import type { ClientAddressResolver } from './client-address';
import { forwardRequest } from './forward-request';
import { forwardUpgrade } from './forward-upgrade';
import type { ForwardingChain } from './forwarding-chain';
import { impersonatedIdentity, impersonationChecks, requestedImpersonation } from './requested-impersonation';
import { openExchange, recordCaller, recordIdentity, recordTarget, type Exchange } from './proxy-exchange';

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
  /** Open exchanges by personal-token id, so a revocation can cut them (auth/open-streams.ts). */
  openStreams?: OpenStreams;
  /** Tokens for `serviceAccountMode: token-request` identities; without it they are refused (503). */
  serviceAccountTokens?: ServiceAccountTokenSource;
}

type Admitted = { identity: MappedIdentity; info: RequestInfo };

export class KubeProxyChain implements ForwardingChain {
  readonly upstream: Upstream;
  readonly streamKeepaliveMs: number;
  readonly logger: Logger;
  private readonly finished = new WeakSet<Exchange>();

  constructor(private readonly deps: KubeProxyChainDeps) {
    this.upstream = deps.upstream;
    this.streamKeepaliveMs = deps.streamKeepaliveMs;
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
        // A revoked token's watch or logs -f is cut at once, not when it ends by itself.
        this.deps.openStreams?.track(exchange.event.tokenId, res);
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
        // Likewise exec, attach and port-forward sessions of a revoked token.
        this.deps.openStreams?.track(exchange.event.tokenId, socket);
        forwardUpgrade(this, req, socket, head, admitted.identity, admitted.info, exchange);
      })
      .catch((err: unknown) => {
        this.failed(exchange, err, 'upgrade failed');
        writeRawStatus(socket, internal(exchange.requestId), exchange.requestId);
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
    const acting = await this.actingIdentity(req, who, upgrade, exchange);
    if (acting instanceof Refusal) return acting;
    const info = resolveTarget(req);
    if (info instanceof Refusal) return info;
    recordTarget(event, info);
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
    return { identity: acting, info };
  }

  /**
   * 3b. `kubectl --as …`: the identity asked for, when the caller's mapped identity may
   * impersonate every part of it (requested-impersonation.ts); else the caller's own.
   */
  private async actingIdentity(
    req: http.IncomingMessage,
    who: { caller: AuthenticatedCaller; identity: MappedIdentity },
    upgrade: boolean,
    exchange: Exchange,
  ): Promise<MappedIdentity | Refusal> {
    const asked = requestedImpersonation(req);
    if (asked === undefined) return who.identity;
    if ('error' in asked) return new Refusal(asked.error, 'deny', 'impersonation: malformed request');
    if (who.identity.tokenRequest) {
      const message = 'impersonation is not available to callers mapped to a service account token';
      return new Refusal(gatewayForbidden(message), 'deny', `impersonation: ${message}`);
    }
    for (const attributes of impersonationChecks(asked)) {
      const narrowed = checkPolicy(this.deps.policy, who.caller, attributes, { upgrade });
      if (narrowed) return narrowed;
      const allowed = await checkRbac(this.deps.accessReviews, who.identity, attributes);
      if (allowed instanceof Refusal)
        return new Refusal(allowed.status, 'deny', `impersonation of "${asked.user}": ${allowed.reason}`);
    }
    const acting = impersonatedIdentity(asked, who.identity);
    recordIdentity(exchange.event, acting);
    exchange.impersonation = `impersonating "${acting.username}" as asked by "${who.identity.username}"`;
    return acting;
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
    writeRawStatus(socket, refusal.status, exchange.requestId);
    this.finish(exchange);
  }

  finish(exchange: Exchange): void {
    if (this.finished.has(exchange)) return;
    this.finished.add(exchange);
    const { event } = exchange;
    event.latencyMs = Math.round((performance.now() - exchange.started) * 1000) / 1000;
    if (event.transport || event.verb === 'watch' || event.subresource === 'log')
      event.streamMs = event.latencyMs;
    try {
      this.deps.audit.record(event);
    } catch (err) {
      this.logger.error({ err, requestId: exchange.requestId }, 'audit sink failed');
    }
  }
}

function recordRefusal(exchange: Exchange, refusal: Refusal): void {
  const { event } = exchange;
  if (refusal.caller) recordCaller(event, refusal.caller);
  event.decision = refusal.decision;
  event.reason = refusal.reason;
  event.code = refusal.status.code;
}

/** A Status on a socket that was about to be upgraded; always closes it afterwards. */
function writeRawStatus(socket: Duplex, status: KubeStatus, requestId: string): void {
  const body = encodeStatus(status);
  socket.end(
    `HTTP/1.1 ${status.code} ${http.STATUS_CODES[status.code] ?? ''}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\nAudit-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
}
