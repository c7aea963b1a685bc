// The Kubernetes proxy chain, in one place and in this order:
//
//   authenticate → sanitize → map identity → resolve attributes → authorize → forward → audit
//
// Every path outside /kgw/ comes through here, plain requests and upgrades alike. What it
// guards: the cluster, which the gateway reaches with a credential that may only impersonate.
// What it trusts: the authenticator's verdict, the operator's mapping rules, the API server's
// answers. What it refuses: a request without a credential (401, never the gateway's own
// identity), an identity that cannot be mapped (403), a path the API server could read
// differently from us (400), anything RBAC denies (403, worded like the API server), and an
// upgrade the API server did not accept with 101 (answer relayed, socket closed — the
// CVE-2018-1002105 lesson).
//
// Forwarding uses Node's http directly rather than http-proxy-middleware: the chain must run
// async authentication and authorization before a single byte goes upstream, upgrades must be
// piped only after the upstream's 101 (http-proxy pipes as soon as it sees a response), and the
// hot path is measured against kubectl proxy, so it carries no framework layers.
import * as http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  accessAttributesFor,
  badRequest,
  encodeStatus,
  forbiddenStatusFor,
  internal,
  isRequestRejection,
  openUpstreamRequest,
  resolveRequestInfo,
  serviceUnavailable,
  streamingUpgradeOf,
  tooManyRequests,
  unauthorized,
  withGatewayCredential,
  withImpersonation,
  writeStatus,
  type AccessDecision,
  type AccessAttributes,
  type Identity,
  type KubeStatus,
  type RequestInfo,
  type Upstream,
  type UpstreamCall,
} from '@kgw/kube';
import type { AuditEvent, AuditSink } from '../audit/audit-sink';
import { redactQuery } from '../audit/audit-sink';
import type { Authenticator } from '../auth/authenticator';
import type { GatewayPolicy } from '../auth/gateway-policy';
import type { OpenStreams } from '../auth/open-streams';
import type { IdentityMapper, MappedIdentity } from '../identity/identity-mapper';
import type { ServiceAccountTokenSource } from '../identity/service-account-tokens';
import { assignRequestId } from '../logging/request-id';
import type { ClientAddressResolver } from './client-address';
import { sanitizeClientHeaders, sanitizeResponseHeaders } from './header-sanitizer';

export interface KubeProxyChainDeps {
  authenticator: Authenticator;
  identityMapper: IdentityMapper;
  clientAddress: ClientAddressResolver;
  /** The SubjectAccessReview cache (AccessReviewCache) or a stand-in with the same shape. */
  accessReviews: { check(identity: Identity, attributes: AccessAttributes): Promise<AccessDecision> };
  upstream: Upstream;
  /** Gateway rules (personal-token scopes) checked before RBAC. */
  policy: GatewayPolicy;
  audit: AuditSink;
  logger: Logger;
  instance: string;
  streamKeepaliveMs: number;
  /** Open exchanges by personal-token id, so a revocation can cut them (auth/open-streams.ts). */
  openStreams?: OpenStreams;
  /**
   * Tokens for identities mapped with `serviceAccountMode: token-request`. Without it such an
   * identity is refused with 503 rather than sent upstream under the gateway's credential.
   */
  serviceAccountTokens?: ServiceAccountTokenSource;
}

/** What the chain learned about one request, for the audit record. */
interface Exchange {
  requestId: string;
  started: number;
  event: AuditEvent;
  /**
   * `Bearer <token>` of the mapped service account (token-request mode): sent upstream in place
   * of the gateway credential and the Impersonate-* headers. Never copied into the audit event.
   */
  serviceAccountAuthorization?: string;
}

type Decision =
  | { ok: true; identity: MappedIdentity; info: RequestInfo; exchange: Exchange }
  | { ok: false; status: KubeStatus; exchange: Exchange };

export class KubeProxyChain {
  constructor(private readonly deps: KubeProxyChainDeps) {}

  handleRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const requestId = assignRequestId(req, res);
    this.decide(req, requestId, false).then(
      (decision) => {
        if (!decision.ok) return this.refuse(res, decision.status, decision.exchange);
        // A revoked token's watch or logs -f is cut at once, not when it ends by itself.
        this.deps.openStreams?.track(decision.exchange.event.tokenId, res);
        this.forward(req, res, decision.identity, decision.exchange);
      },
      (err: unknown) => this.fail(res, err, requestId),
    );
  }

  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const requestId = assignRequestId(req);
    socket.on('error', () => socket.destroy());
    this.decide(req, requestId, true).then(
      (decision) => {
        if (!decision.ok) return this.refuseUpgrade(socket, decision.status, decision.exchange);
        // Likewise exec, attach and port-forward sessions of a revoked token.
        this.deps.openStreams?.track(decision.exchange.event.tokenId, socket);
        this.forwardUpgrade(req, socket, head, decision.identity, decision.info, decision.exchange);
      },
      (err: unknown) => {
        this.deps.logger.error({ err, requestId }, 'upgrade failed');
        writeRawStatus(socket, internal(requestId), requestId);
      },
    );
  }

  /** Steps 1–5: authenticate, (sanitize happens at forward time from the raw headers), map, resolve, authorize. */
  private async decide(req: http.IncomingMessage, requestId: string, upgrade: boolean): Promise<Decision> {
    const rawUrl = req.url ?? '/';
    const queryStart = rawUrl.indexOf('?');
    const exchange: Exchange = {
      requestId,
      started: performance.now(),
      event: {
        time: new Date(),
        requestId,
        instance: this.deps.instance,
        kubeGroups: [],
        clientAddress: this.deps.clientAddress.resolve(req),
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
    const event = exchange.event;

    // 0. Nothing is served unaudited: when the audit trail cannot take records, refuse.
    if (!this.deps.audit.accepting()) {
      event.decision = 'error';
      event.reason = 'audit unavailable';
      return {
        ok: false,
        status: serviceUnavailable('kgw cannot record an audit trail right now; retry shortly', 5),
        exchange,
      };
    }

    // 1. Authenticate: reads only the credential headers.
    const authn = await this.deps.authenticator.authenticate(req);
    if (authn.outcome === 'throttled') {
      event.decision = 'unauthenticated';
      event.reason = 'too many failed authentications from this address';
      return {
        ok: false,
        status: tooManyRequests(
          'too many failed authentication attempts from this address; retry later',
          authn.retryAfterSeconds,
        ),
        exchange,
      };
    }
    if (authn.outcome !== 'authenticated') {
      event.decision = 'unauthenticated';
      event.reason = authn.outcome === 'rejected' ? 'credential rejected' : 'no credential';
      return { ok: false, status: unauthorized(), exchange };
    }
    const caller = authn.caller;
    event.authUser = caller.name;
    event.authMethod = caller.method;
    event.tokenId = caller.tokenId;

    // 2. Sanitize: the client's headers are rebuilt from scratch in forward(); nothing below reads
    //    any header but the credential above and the Upgrade negotiation.

    // 3. Map identity.
    const mapped = this.deps.identityMapper.map(caller);
    if (!mapped.ok) {
      event.decision = 'deny';
      event.reason = `identity mapping: ${mapped.message}`;
      return { ok: false, status: gatewayForbidden(mapped.message), exchange };
    }
    const identity = mapped.identity;
    event.kubeUser = identity.username;
    event.kubeGroups = [...identity.groups];
    event.serviceAccount = identity.serviceAccount;

    // 4. Resolve the request's attributes on the canonical path, as the API server will.
    const info = resolveRequestInfo(req.method ?? 'GET', req.url ?? '/');
    if (isRequestRejection(info)) {
      event.decision = 'deny';
      event.reason = `rejected path: ${info.code}`;
      return { ok: false, status: badRequest(info.message), exchange };
    }
    Object.assign(event, {
      verb: info.verb,
      apiGroup: info.apiGroup || undefined,
      apiVersion: info.apiVersion || undefined,
      resource: info.resource || undefined,
      subresource: info.subresource || undefined,
      namespace: info.namespace || undefined,
      name: info.name || undefined,
    });
    if (upgrade && !streamingUpgradeOf(req.headers, info) && info.subresource !== 'proxy') {
      event.decision = 'deny';
      event.reason = 'upgrade to a path that does not stream';
      return {
        ok: false,
        status: badRequest('upgrade requests are only served for exec, attach, portforward and proxy'),
        exchange,
      };
    }

    // 5. Authorize: exec/attach/portforward as `create` whether they arrive as GET or POST.
    //    Gateway policy first (it can only narrow), then RBAC for the mapped identity.
    const attributes = accessAttributesFor(info);
    event.verb = attributes.verb;
    const policy = this.deps.policy.check(caller, attributes);
    if (!policy.allowed) {
      event.decision = 'deny';
      event.reason = `gateway policy: ${policy.message}`;
      return { ok: false, status: gatewayForbidden(policy.message), exchange };
    }
    const decision = await this.deps.accessReviews.check(asSeenByApiServer(identity), attributes);
    if (!decision.allowed) {
      event.decision = 'deny';
      event.reason = decision.reason || 'RBAC: no rule allows it';
      return {
        ok: false,
        status: forbiddenStatusFor(attributes, identity.username, decision.reason),
        exchange,
      };
    }

    // 5b. Token-request mode: the service account's own short-lived token replaces the gateway
    //     credential. A failure refuses the request (503); falling back to the gateway's
    //     credential with impersonation would silently change what the operator configured.
    if (identity.tokenRequest !== undefined) {
      const { namespace, name } = identity.tokenRequest;
      try {
        if (this.deps.serviceAccountTokens === undefined) throw new Error('no token source configured');
        const token = await this.deps.serviceAccountTokens.tokenFor(namespace, name);
        exchange.serviceAccountAuthorization = `Bearer ${token}`;
      } catch (err) {
        const message = (err as Error).message;
        this.deps.logger.warn({ err: message, requestId }, 'service-account token unavailable');
        event.decision = 'error';
        event.reason = `service-account token: ${message}`;
        return {
          ok: false,
          status: serviceUnavailable(
            `kgw could not obtain a token for the service account ${namespace}/${name}; retry shortly`,
            5,
          ),
          exchange,
        };
      }
    }

    event.decision = 'allow';
    event.reason = decision.reason || undefined;
    return { ok: true, identity, info, exchange };
  }

  /** The headers sent upstream: the sanitized client headers, then ours, set last. */
  private upstreamHeaders(
    req: http.IncomingMessage,
    identity: MappedIdentity,
    event: AuditEvent,
    upgrade: boolean,
    serviceAccountAuthorization?: string,
  ): http.OutgoingHttpHeaders {
    const { headers } = sanitizeClientHeaders(req.headers, upgrade);
    if (serviceAccountAuthorization !== undefined) {
      // Token-request mode: the API server authenticates the service account itself; no
      // Impersonate-* (the sanitizer already dropped the client's), no gateway credential.
      headers.authorization = serviceAccountAuthorization;
      if (event.clientAddress) headers['x-forwarded-for'] = event.clientAddress;
      return headers;
    }
    withImpersonation(withGatewayCredential(this.deps.upstream, headers), identity);
    if (event.clientAddress) headers['x-forwarded-for'] = event.clientAddress;
    return headers;
  }

  /** Step 6 for plain requests; watch and logs -f stream through unbuffered. */
  private forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    identity: MappedIdentity,
    exchange: Exchange,
  ): void {
    const { event } = exchange;
    const headers = this.upstreamHeaders(req, identity, event, false, exchange.serviceAccountAuthorization);
    const upstreamReq = openUpstreamRequest(this.deps.upstream, upstreamCall(req, headers), (upstreamRes) => {
      const streaming = isStreamingResponse(event, upstreamRes);
      if (streaming) {
        for (const socket of [req.socket, upstreamRes.socket])
          socket.setKeepAlive(true, this.deps.streamKeepaliveMs);
      }
      res.writeHead(upstreamRes.statusCode ?? 502, sanitizeResponseHeaders(upstreamRes.headers));
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
      this.deps.logger.warn({ err: err.message, requestId: exchange.requestId }, 'upstream request failed');
      event.reason = `upstream: ${err.message}`;
      this.refuse(
        res,
        serviceUnavailable('the Kubernetes API server could not be reached'),
        exchange,
        'error',
      );
    });
    // A client that goes away cancels the upstream request (and with it a watch or logs -f).
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
      this.finish(exchange);
    });
    // Nearly every request (get, list, watch, delete) has no body: end the upstream request now
    // instead of piping an empty stream, which costs a stream setup and a tick before the request
    // line leaves (seen in the bench profile). Node's server discards the unread empty body.
    if (hasNoBody(req)) {
      upstreamReq.end();
      return;
    }
    req.on('data', (chunk: Buffer) => {
      event.bytesIn += chunk.length;
    });
    req.pipe(upstreamReq);
  }

  /** Step 6 for upgrades: bytes are piped only after the API server answers 101. */
  private forwardUpgrade(
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
    const headers = this.upstreamHeaders(req, identity, event, true, exchange.serviceAccountAuthorization);
    const upstreamReq = openUpstreamRequest(this.deps.upstream, upstreamCall(req, headers));
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
          if (typeof s.setKeepAlive === 'function') s.setKeepAlive(true, this.deps.streamKeepaliveMs);
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
          this.finish(exchange);
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
      const relayed = sanitizeResponseHeaders(upstreamRes.headers);
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
        this.finish(exchange);
      });
    });
    upstreamReq.on('error', (err) => {
      this.deps.logger.warn({ err: err.message, requestId: exchange.requestId }, 'upstream upgrade failed');
      event.reason = `upstream: ${err.message}`;
      this.refuseUpgrade(
        socket,
        serviceUnavailable('the Kubernetes API server could not be reached'),
        exchange,
        'error',
      );
    });
    socket.on('close', () => upstreamReq.destroy());
    upstreamReq.end();
  }

  private refuse(
    res: http.ServerResponse,
    status: KubeStatus,
    exchange: Exchange,
    decision?: AuditEvent['decision'],
  ): void {
    if (decision) exchange.event.decision = decision;
    exchange.event.code = status.code;
    res.on('close', () => this.finish(exchange));
    writeStatus(res, status);
  }

  private refuseUpgrade(
    socket: Duplex,
    status: KubeStatus,
    exchange: Exchange,
    decision?: AuditEvent['decision'],
  ): void {
    if (decision) exchange.event.decision = decision;
    exchange.event.code = status.code;
    writeRawStatus(socket, status, exchange.requestId);
    this.finish(exchange);
  }

  private fail(res: http.ServerResponse, err: unknown, requestId: string): void {
    this.deps.logger.error({ err, requestId }, 'proxy chain failed');
    if (res.headersSent) res.destroy();
    else writeStatus(res, internal(requestId));
  }

  private readonly finished = new WeakSet<Exchange>();

  /** Step 7: exactly one audit event per exchange. */
  private finish(exchange: Exchange): void {
    if (this.finished.has(exchange)) return;
    this.finished.add(exchange);
    const elapsed = performance.now() - exchange.started;
    exchange.event.latencyMs = Math.round(elapsed * 1000) / 1000;
    if (exchange.event.transport || exchange.event.verb === 'watch' || exchange.event.subresource === 'log') {
      exchange.event.streamMs = exchange.event.latencyMs;
    }
    try {
      this.deps.audit.record(exchange.event);
    } catch (err) {
      this.deps.logger.error({ err, requestId: exchange.requestId }, 'audit sink failed');
    }
  }
}

/**
 * The identity the API server will hold after impersonation: it adds `system:authenticated`
 * itself, so the pre-check must ask about that too, or every right granted to all
 * authenticated users (discovery, self reviews) would be denied here and allowed there.
 */
function asSeenByApiServer(identity: MappedIdentity): Identity {
  if (identity.groups.includes('system:authenticated')) return identity;
  return { ...identity, groups: [...identity.groups, 'system:authenticated'] };
}

/** The raw target, exactly as received: it was validated as unambiguous, not rewritten. */
function upstreamCall(req: http.IncomingMessage, headers: http.OutgoingHttpHeaders): UpstreamCall {
  return { method: req.method ?? 'GET', path: req.url ?? '/', headers };
}

/** HTTP/1.1 framing (RFC 9112 §6.3): a request has a body only with Transfer-Encoding or Content-Length > 0. */
function hasNoBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
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

/** A 403 decided by the gateway itself (mapping, policy), marked as such for the reader. */
function gatewayForbidden(message: string): KubeStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `kgw: ${message}`,
    reason: 'Forbidden',
    details: {},
    code: 403,
  };
}

/** A Status on a socket that was about to be upgraded; always closes it afterwards. */
function writeRawStatus(socket: Duplex, status: KubeStatus, requestId: string): void {
  const body = encodeStatus(status);
  socket.end(
    `HTTP/1.1 ${status.code} ${http.STATUS_CODES[status.code] ?? ''}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
}
