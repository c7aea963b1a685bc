// /kgw/v1/forward: `kgw forward` tunnels (protocol: libs/tunnel/README.md). One WebSocket per
// tunnel; each accepted local connection is a stream to a pod, reached in the configured mode
// (pod-connections.ts): `direct` dials the pod IP from the pod's status, `api` goes through the
// API server's pods/portforward under the caller's identity (TCP only: UDP is refused there).
//
// Guards: the pod network, which the gateway can reach and the caller may not. Trusts: the
// authenticator, the identity mapping, RBAC through SubjectAccessReviews, the pod's status.
// Refuses: an unauthenticated or unmappable caller (401/403 before the upgrade), a token
// without the `forward` scope or outside its namespaces, a target the caller may not
// `create pods/portforward` on (checked per pod, per connection, and again every few seconds
// while the tunnel lives, so a lost permission closes it within 5 s), an address the client
// names (it names only targets; the pod comes from the API server), frames that break the
// protocol, and a resume by anyone but the tunnel's own credential with its secret.
// Every tunnel and every stream is an audit record with its bytes each way.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import {
  forbiddenStatusFor,
  type AccessAttributes,
  type AccessDecision,
  type Identity,
  type ResourceAttributes,
} from '@kgw/kube';
import {
  LIMITS,
  ResetCode,
  SUBPROTOCOL,
  TunnelSession,
  dataFrameWriter,
  parseHello,
  FrameType,
  type Hello,
  type StreamEnd,
  type StreamProgress,
  type TargetRequest,
  type TunnelStream,
  type Welcome,
} from '@kgw/tunnel';
import type { AuditSink } from '../audit/audit-sink';
import type { AuditEvent } from '../audit/audit-event';
import type { GatewayAuth } from '../auth/gateway-auth';
import type { AuthenticatedRequest } from '../identity/caller';
import type { OpenStreams } from '../auth/open-streams';
import type { ClientAddressResolver } from '../proxy/client-address';
import { assignRequestId } from '../logging/request-id';
import type { GatewayMetrics } from '../metrics/gateway-metrics';
import type { RequestLimits } from '../limits/request-limits';
import { ForwardTarget, TargetError, type KubeRead, type PodEndpoint } from './forward-targets';
import type { KubeWatch } from './service-endpoints';
import { joinLink } from './tunnel-link';
import {
  ApiPortForwards,
  dialDirect,
  dialDirectUdp,
  type OpenPortForward,
  type PodConnection,
} from './pod-connections';

/** How tunnels reach pods (KGW_FORWARD_MODE, `auto` resolved): see pod-connections.ts. */
export type ForwardMode = 'direct' | 'api';

export interface ForwardTunnelsDeps {
  mode: ForwardMode;
  /** api mode: opens a pod's port-forward through the API server as `identity`. */
  portForwardAs?: (
    identity: Identity,
    namespace: string,
    pod: string,
    requestId: string,
  ) => ReturnType<OpenPortForward>;
  auth: GatewayAuth;
  /** Cached SubjectAccessReviews (per connection). */
  accessReviews: { check(identity: Identity, attributes: AccessAttributes): Promise<AccessDecision> };
  /** Uncached SubjectAccessReviews (the periodic re-check must see a revoked permission). */
  reviewer: { review(identity: Identity, attributes: AccessAttributes): Promise<AccessDecision> };
  /** A watch against the API server as the given identity (svc/ targets' EndpointSlices). */
  watchAs?: (identity: Identity) => KubeWatch;
  /** A GET against the API server as the given identity. */
  kubeAs(identity: Identity, path: string): Promise<{ status: number; body: unknown }>;
  audit: AuditSink;
  clientAddress: ClientAddressResolver;
  openStreams?: OpenStreams;
  logger: Logger;
  resumeGraceMs: number;
  /** How often open tunnels re-check their permissions (default 4 s). */
  recheckMs?: number;
  /**
   * What one tunnel may make the gateway hold, each way (KGW_FORWARD_TUNNEL_BUFFER_MIB): bytes
   * read from its pods and not yet taken by the client (send budget, libs/tunnel send-budget.ts),
   * and, through the number of streams it may open, bytes from the client not yet taken by its
   * pods (streamsWithin). Default DEFAULT_TUNNEL_BUFFER_BYTES.
   */
  tunnelBufferBytes?: number;
  /** Keepalive (libs/tunnel defaults: 25 s ping, 60 s dead peer). */
  pingIntervalMs?: number;
  deadPeerMs?: number;
  /** Open tunnels show in kgw_longrunning_requests{kind="tunnel"}; refused ones in kgw_limited_requests_total. */
  metrics?: Pick<GatewayMetrics, 'longRunningStarted' | 'requestLimited'>;
  /**
   * The proxy chain's per-user limits: a tunnel is one long-running request of its user (like a
   * kubectl port-forward), held from the upgrade until it ends.
   */
  limits?: Pick<RequestLimits, 'openLongRunning'>;
}

/** A stream connected to a pod, as GET /kgw/v1/forwards shows it. */
export interface StreamView {
  id: number;
  /** What the client asked for: `service/my-nginx:80/tcp`. */
  target: string;
  namespace: string;
  pod: string;
  podPort: number;
  openedAt: string;
}

/** An open tunnel, as GET /kgw/v1/forwards shows it (no secret: the resume secret stays here). */
export interface TunnelView {
  id: string;
  /** The gateway process holding it (a tunnel lives on the replica its WebSocket reached). */
  instance: string;
  user: string;
  authMethod: string;
  tokenId: string | null;
  kubeUser: string;
  clientAddress: string | null;
  userAgent: string | null;
  startedAt: string;
  /** false: the WebSocket dropped and the tunnel waits for the client to resume it. */
  connected: boolean;
  targets: Array<TargetRequest & { ok: boolean; description?: string; message?: string }>;
  streams: StreamView[];
  /** Streams opened so far, and the bytes of those that ended (each way). */
  streamsOpened: number;
  bytesIn: number;
  bytesOut: number;
  /**
   * Bytes the gateway holds now on their way to the client (read from pods, waiting for credit,
   * kept for a resume, in the WebSocket's buffer), and the most it lets the tunnel hold.
   */
  sendBuffer: { held: number; limit: number };
}

const HELLO_TIMEOUT_MS = 10_000;
export const DEFAULT_TUNNEL_BUFFER_BYTES = 64 * 1024 * 1024;

/**
 * Streams one tunnel may have open so that the client's data the gateway may hold for them (one
 * receive window each, granted when the stream opens: it cannot be taken back) stays within
 * `bytes`. The client learns it in the Welcome; the session resets streams past it (Limit).
 */
export function streamsWithin(bytes = DEFAULT_TUNNEL_BUFFER_BYTES): number {
  return Math.max(1, Math.min(LIMITS.maxStreams, Math.floor(bytes / LIMITS.initialWindow)));
}
const UDP_NEEDS_DIRECT =
  "UDP cannot be forwarded in this gateway's api mode: the API server's pods/portforward carries " +
  "only TCP. UDP needs the gateway's direct mode (KGW_FORWARD_MODE=direct: the gateway dials the pod IP).";

function portforwardAttributes(namespace: string, pod: string): ResourceAttributes {
  return {
    kind: 'resource',
    verb: 'create',
    group: '',
    version: 'v1',
    resource: 'pods',
    subresource: 'portforward',
    namespace,
    name: pod,
  };
}

/** The API server adds system:authenticated itself; the pre-check must ask about it too. */
function asSeenByApiServer(identity: Identity): Identity {
  if (identity.groups.includes('system:authenticated')) return identity;
  return { ...identity, groups: [...identity.groups, 'system:authenticated'] };
}

export class ForwardTunnels {
  private readonly tunnels = new Map<string, Tunnel>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 5 + Math.max(LIMITS.maxDataPayload, LIMITS.maxControlPayload),
    handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  private closing = false;

  constructor(private readonly deps: ForwardTunnelsDeps) {}

  get size(): number {
    return this.tunnels.size;
  }

  /** Open tunnels (of `owner` only when given), for GET /kgw/v1/forwards; this process's only. */
  list(owner?: string): TunnelView[] {
    return [...this.tunnels.values()]
      .filter((t) => owner === undefined || t.owner === owner)
      .map((t) => t.view());
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const requestId = assignRequestId(req);
    socket.on('error', () => socket.destroy());
    this.admit(req, requestId).then(
      (admitted) => {
        if (!admitted.ok) {
          this.auditRefusal(req, requestId, admitted.status, admitted.message, admitted.who);
          return refuseUpgrade(socket, admitted.status, admitted.error, admitted.message, requestId);
        }
        // The long-running slot goes to the tunnel the hello makes; anything else gives it back
        // when the connection closes (no hello, a bad one, a resume of a tunnel that has one).
        let handedOver = false;
        const handOver = (): (() => void) => {
          handedOver = true;
          return admitted.release;
        };
        socket.once('close', () => {
          if (!handedOver) admitted.release();
        });
        this.wss.handleUpgrade(req, socket, head, (ws) =>
          this.onConnection(ws, socket, req, requestId, admitted.who, handOver),
        );
      },
      (err: unknown) => {
        this.deps.logger.error({ err, requestId }, 'forward upgrade failed');
        refuseUpgrade(socket, 500, 'internal', 'Internal error; quote the request id.', requestId);
      },
    );
  }

  private async admit(
    req: IncomingMessage,
    requestId: string,
  ): Promise<
    | { ok: true; who: AuthenticatedRequest; release: () => void }
    | { ok: false; status: number; error: string; message: string; who?: AuthenticatedRequest }
  > {
    void requestId;
    if (this.closing)
      return { ok: false, status: 503, error: 'not_ready', message: 'The gateway is shutting down.' };
    if (!this.deps.audit.accepting())
      return {
        ok: false,
        status: 503,
        error: 'not_ready',
        message: 'kgw cannot record an audit trail right now; retry shortly',
      };
    const authn = await this.deps.auth.authenticate(req);
    if (!authn.ok) {
      const error =
        authn.status === 401 ? 'unauthenticated' : authn.status === 429 ? 'too_many_requests' : 'forbidden';
      return { ok: false, status: authn.status, error, message: authn.message };
    }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim());
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || !offered.includes(SUBPROTOCOL))
      return {
        ok: false,
        status: 400,
        error: 'bad_request',
        message: `/kgw/v1/forward is a WebSocket with the subprotocol ${SUBPROTOCOL}`,
        who: authn,
      };
    const policy = this.deps.auth.policy.check(authn.caller, portforwardAttributes('', ''));
    if (!policy.allowed)
      return { ok: false, status: 403, error: 'forbidden', message: `kgw: ${policy.message}`, who: authn };
    const opened = this.deps.limits?.openLongRunning(authn.caller) ?? (() => undefined);
    if (typeof opened !== 'function') {
      this.deps.metrics?.requestLimited(opened.limit);
      return { ok: false, status: 429, error: 'too_many_requests', message: opened.message, who: authn };
    }
    return { ok: true, who: authn, release: opened };
  }

  private onConnection(
    ws: WebSocket,
    socket: Duplex,
    req: IncomingMessage,
    requestId: string,
    who: AuthenticatedRequest,
    handOver: () => () => void,
  ): void {
    const timer = setTimeout(() => ws.close(1008, 'no hello'), HELLO_TIMEOUT_MS);
    ws.once('message', (data: Buffer, isBinary: boolean) => {
      clearTimeout(timer);
      let hello: Hello;
      try {
        if (!isBinary || data.length < 5 || data[0] !== FrameType.Hello || data.readUInt32BE(1) !== 0)
          throw new Error('expected a Hello frame');
        hello = parseHello(JSON.parse(data.subarray(5).toString('utf8')));
      } catch (err) {
        ws.close(1002, (err as Error).message.slice(0, 120));
        return;
      }
      const resumed = hello.resume ? this.tryResume(hello, who, ws, socket) : false;
      // A resumed tunnel holds its slot already.
      if (resumed) return handOver()();
      const release = handOver();
      const tunnel = new Tunnel(this.deps, req, requestId, who, hello, (t) => {
        this.tunnels.delete(t.id);
        release();
      });
      this.tunnels.set(tunnel.id, tunnel);
      void tunnel.start(ws, socket);
    });
    ws.on('error', () => ws.terminate());
  }

  private tryResume(hello: Hello, who: AuthenticatedRequest, ws: WebSocket, socket: Duplex): boolean {
    const resume = hello.resume!;
    const tunnel = this.tunnels.get(resume.tunnel);
    if (!tunnel || !tunnel.owns(who, resume.secret)) return false;
    tunnel.resume(ws, socket, resume.streams);
    return true;
  }

  private auditRefusal(
    req: IncomingMessage,
    requestId: string,
    status: number,
    message: string,
    who: AuthenticatedRequest | undefined,
  ): void {
    this.deps.audit.record({
      ...baseEvent(this.deps, req, requestId, who),
      kind: 'tunnel',
      code: status,
      decision: status === 401 ? 'unauthenticated' : status === 403 || status === 429 ? 'deny' : 'error',
      reason: message,
    });
  }

  /** Shutdown: every tunnel ends (GoingAway), nothing is kept for a resume. */
  async close(): Promise<void> {
    this.closing = true;
    for (const tunnel of [...this.tunnels.values()])
      tunnel.end(ResetCode.GoingAway, 'the gateway is shutting down');
    await new Promise<void>((done) => this.wss.close(() => done()));
  }
}

function baseEvent(
  deps: ForwardTunnelsDeps,
  req: IncomingMessage,
  requestId: string,
  who: AuthenticatedRequest | undefined,
): AuditEvent {
  return {
    time: new Date(),
    requestId,
    instance: deps.audit.instance,
    authUser: who?.caller.name,
    authMethod: who?.caller.method,
    tokenId: who?.caller.tokenId,
    kubeUser: who?.identity.username,
    kubeGroups: who ? [...who.identity.groups] : [],
    serviceAccount: who?.identity.serviceAccount,
    clientAddress: deps.clientAddress.resolve(req),
    userAgent: req.headers['user-agent'],
    verb: 'create',
    apiGroup: undefined,
    apiVersion: 'v1',
    resource: 'pods',
    subresource: 'portforward',
    path: '/kgw/v1/forward',
    code: 0,
    decision: 'allow',
    latencyMs: 0,
    bytesIn: 0,
    bytesOut: 0,
    transport: `${SUBPROTOCOL} ${deps.mode}`,
  };
}

interface TargetState {
  target: ForwardTarget;
  ok: boolean;
  code?: number;
  message?: string;
}

class Tunnel {
  readonly id = `tun_${randomBytes(12).toString('base64url')}`;
  private readonly secret = randomBytes(24).toString('base64url');
  private readonly session: TunnelSession;
  private readonly targets: TargetState[];
  private readonly started = performance.now();
  private readonly startedAt = new Date();
  /** Streams connected to a pod, for list(): by stream id. */
  private readonly connected = new Map<number, Omit<StreamView, 'id'>>();
  private readonly unmeter: (() => void) | undefined;
  private readonly event: AuditEvent;
  private ws: WebSocket | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private recheckTimer: NodeJS.Timeout | undefined;
  private ended = false;
  private streamCount = 0;
  /** api mode: the upstream port-forward connections (made on the first stream). */
  private apiForwards: ApiPortForwards | undefined;
  /** Pods with an open stream: re-authorized every few seconds. */
  private readonly podsInUse = new Map<string, { namespace: string; count: number }>();
  /** Registered with OpenStreams: the credential's revocation, logout or expiry ends the tunnel. */
  private readonly handle = Object.assign(new EventEmitter(), {
    destroy: () => this.end(ResetCode.Unauthorized, 'the credential was revoked or has expired'),
  });

  constructor(
    private readonly deps: ForwardTunnelsDeps,
    private readonly req: IncomingMessage,
    private readonly requestId: string,
    private readonly who: AuthenticatedRequest,
    hello: Hello,
    private readonly forget: (t: Tunnel) => void,
  ) {
    this.unmeter = deps.metrics?.longRunningStarted('tunnel');
    const read: KubeRead = (path) => deps.kubeAs(who.identity, path);
    const watch = deps.watchAs?.(who.identity);
    this.targets = hello.targets.map((request) => ({
      target: new ForwardTarget(request, read, watch),
      ok: false,
    }));
    this.event = {
      ...baseEvent(deps, req, requestId, who),
      kind: 'tunnel',
      code: 101,
      query: `tunnel=${this.id}&targets=${hello.targets.map((t) => `${t.namespace}/${t.kind}/${t.name}:${t.port}/${t.protocol}`).join(',')}`,
      namespace: hello.targets[0]?.namespace,
      name: hello.targets[0]?.name,
    };
    this.session = new TunnelSession(
      {
        open: (stream, target) => void this.openStream(stream, target),
        datagrams: (target) => this.targets[target]?.target.request.protocol === 'udp',
        dead: () => this.ws?.terminate(),
        protocolError: (err) => this.ws?.close(1002, err.message.slice(0, 120)),
        tunnelReset: () => this.end(ResetCode.GoingAway, 'the client closed the tunnel'),
      },
      {
        pingIntervalMs: deps.pingIntervalMs,
        deadPeerMs: deps.deadPeerMs,
        // What the client grants each stream (parseHello bounds it); older clients: the default.
        sendWindow: hello.window ?? LIMITS.initialWindow,
        sendBudget: deps.tunnelBufferBytes ?? DEFAULT_TUNNEL_BUFFER_BYTES,
        maxStreams: streamsWithin(deps.tunnelBufferBytes),
      },
    );
  }

  /** The authenticated user (not the Kubernetes identity) who opened the tunnel. */
  get owner(): string {
    return this.who.caller.name;
  }

  view(): TunnelView {
    return {
      id: this.id,
      instance: this.deps.audit.instance,
      user: this.who.caller.name,
      authMethod: this.who.caller.method,
      tokenId: this.who.caller.tokenId ?? null,
      kubeUser: this.who.identity.username,
      clientAddress: this.event.clientAddress ?? null,
      userAgent: this.event.userAgent ?? null,
      startedAt: this.startedAt.toISOString(),
      connected: this.ws !== undefined,
      targets: this.targets.map(({ target, ok, message }) => ({
        ...target.request,
        ok,
        ...(ok ? { description: target.describe } : { message: message ?? 'not resolved yet' }),
      })),
      streams: [...this.connected].map(([id, stream]) => ({ id, ...stream })),
      streamsOpened: this.streamCount,
      bytesIn: this.event.bytesIn,
      bytesOut: this.event.bytesOut,
      sendBuffer: { held: this.session.budget.held, limit: this.session.budget.limit },
    };
  }

  owns(who: AuthenticatedRequest, secret: string): boolean {
    const a = Buffer.from(secret);
    const b = Buffer.from(this.secret);
    const sameCaller =
      who.caller.name === this.who.caller.name && who.caller.tokenId === this.who.caller.tokenId;
    return !this.ended && sameCaller && a.length === b.length && timingSafeEqual(a, b);
  }

  async start(ws: WebSocket, socket: Duplex): Promise<void> {
    this.deps.openStreams?.track(this.who.caller, this.handle);
    // Resolve and authorize every target before the Welcome, so the CLI can fail early.
    await Promise.all(
      this.targets.map(async (state) => {
        const { request } = state.target;
        try {
          const policy = this.deps.auth.policy.check(
            this.who.caller,
            portforwardAttributes(request.namespace, ''),
          );
          if (!policy.allowed) throw new TargetError(ResetCode.Forbidden, `kgw: ${policy.message}`);
          if (request.protocol === 'udp' && this.deps.mode === 'api')
            throw new TargetError(ResetCode.Refused, UDP_NEEDS_DIRECT);
          await state.target.prepare();
          for (const pod of await state.target.podNames()) await this.authorize(request.namespace, pod);
          state.ok = true;
        } catch (err) {
          state.code = err instanceof TargetError ? err.code : ResetCode.Internal;
          state.message = err instanceof TargetError ? err.message : 'internal error resolving the target';
          if (!(err instanceof TargetError))
            this.deps.logger.error({ err, requestId: this.requestId }, 'target resolution failed');
        }
      }),
    );
    if (this.ended) return void ws.close(1000);
    // The client may have left while the targets were resolved (a slow API server; the CLI gives
    // up on a Welcome that takes too long and tries again). Its close came before attach() had
    // a listener: end now, or the tunnel, its long-running slot and its watches stay forever.
    if (ws.readyState !== WebSocket.OPEN)
      return this.end(ResetCode.GoingAway, 'the client left before the Welcome');
    this.attach(ws, socket);
    this.sendWelcome(false);
    this.recheckTimer = setInterval(() => void this.recheck(), this.deps.recheckMs ?? 4000);
    this.recheckTimer.unref();
  }

  /** The first frame on every WebSocket of this tunnel, fresh or resumed. */
  private sendWelcome(resumed: boolean): void {
    const welcome: Welcome = {
      version: 1,
      tunnel: this.id,
      secret: this.secret,
      resumed,
      streams: resumed ? this.session.progress() : [],
      targets: this.targets.map((s) =>
        s.ok ? { ok: true, description: s.target.describe } : { ok: false, code: s.code, message: s.message },
      ),
      limits: {
        maxDataPayload: LIMITS.maxDataPayload,
        initialWindow: LIMITS.initialWindow,
        maxStreams: this.session.maxStreams,
        clientWindow: this.session.sendWindow,
      },
      resumeGraceMs: this.deps.resumeGraceMs,
    };
    this.session.sendFrame({ type: FrameType.Welcome, stream: 0, welcome });
  }

  resume(ws: WebSocket, socket: Duplex, streams: StreamProgress[]): void {
    clearTimeout(this.graceTimer);
    this.ws?.terminate();
    this.attach(ws, socket);
    this.sendWelcome(true);
    this.session.resume(streams);
    this.deps.logger.info({ tunnel: this.id, streams: this.session.streams.size }, 'tunnel resumed');
  }

  private attach(ws: WebSocket, socket: Duplex): void {
    this.ws = ws;
    this.session.attach((frame) => ws.send(frame, { binary: true }), {
      buffered: () => ws.bufferedAmount,
      sendData: dataFrameWriter(ws, socket, false),
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.ws !== ws) return;
      if (!isBinary) return void ws.close(1003, 'binary frames only');
      this.session.receive(data);
    });
    joinLink(ws, socket, this.session);
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.session.detach();
      if (this.ended) return;
      if (this.session.streams.size === 0 && this.deps.resumeGraceMs === 0) {
        this.end(ResetCode.GoingAway, 'the client disconnected');
        return;
      }
      // Keep the pod connections for a resume; past the grace period, close them cleanly.
      this.graceTimer = setTimeout(
        () => this.end(ResetCode.GoingAway, 'the client did not come back within the grace period'),
        this.deps.resumeGraceMs,
      );
      this.graceTimer.unref();
    });
  }

  private async authorize(namespace: string, pod: string, cached = true): Promise<void> {
    const attributes = portforwardAttributes(namespace, pod);
    const identity = asSeenByApiServer(this.who.identity);
    const decision = cached
      ? await this.deps.accessReviews.check(identity, attributes)
      : await this.deps.reviewer.review(identity, attributes);
    if (!decision.allowed)
      throw new TargetError(
        ResetCode.Forbidden,
        forbiddenStatusFor(attributes, this.who.identity.username, decision.reason).message,
      );
  }

  /** Every few seconds: may the caller still port-forward to each pod in use? */
  private async recheck(): Promise<void> {
    if (this.ended) return;
    try {
      for (const [pod, { namespace }] of this.podsInUse) await this.authorize(namespace, pod, false);
    } catch (err) {
      if (err instanceof TargetError) this.end(ResetCode.Forbidden, `permission lost: ${err.message}`);
      else this.deps.logger.warn({ err, tunnel: this.id }, 'tunnel re-authorization failed; will retry');
    }
  }

  private async openStream(stream: TunnelStream, index: number): Promise<void> {
    const state = this.targets[index];
    if (!state) return stream.reset(ResetCode.NotFound, `no target ${index} on this tunnel`);
    if (!state.ok)
      return stream.reset(state.code ?? ResetCode.NotFound, state.message ?? 'target unavailable');
    const { request } = state.target;
    const opened = performance.now();
    this.streamCount++;
    // Until the pod connection is up, hold what the client already sent (within its credit).
    const early: Buffer[] = [];
    let earlyFin = false;
    stream.onData = (chunk) => early.push(chunk);
    stream.onEnd = () => (earlyFin = true);
    const event: AuditEvent = {
      ...baseEvent(this.deps, this.req, `${this.requestId}.${stream.id}`, this.who),
      kind: 'stream',
      namespace: request.namespace,
      query: `tunnel=${this.id}&stream=${stream.id}&target=${request.kind}/${request.name}&port=${request.port}&protocol=${request.protocol}`,
    };
    const finish = (end: StreamEnd, bytesIn: number, bytesOut: number, code: number) => {
      this.connected.delete(stream.id);
      const ms = Math.round((performance.now() - opened) * 1000) / 1000;
      this.event.bytesIn += bytesIn;
      this.event.bytesOut += bytesOut;
      this.deps.audit.record({
        ...event,
        code,
        decision: code === 403 ? 'deny' : code >= 400 ? 'error' : 'allow',
        reason:
          end.code === undefined
            ? 'ended: both sides closed'
            : `ended: ${end.by ?? 'local'} reset (${end.code}): ${end.reason ?? ''}`,
        bytesIn,
        bytesOut,
        latencyMs: ms,
        streamMs: ms,
      });
    };
    // A pod that just went away may still be listed for a moment: a refused dial tries the
    // next ready pod (for pod/ targets there is no other), with a fresh list.
    let pod: PodEndpoint | undefined;
    let socket: (PodConnection & { wire?: string }) | undefined;
    let failure: TargetError | undefined;
    for (let attempt = 0; attempt < 3 && !socket; attempt++) {
      try {
        if (attempt > 0) state.target.forgetPods();
        pod = await state.target.next();
        await this.authorize(request.namespace, pod.pod);
        socket = await this.dial(request.namespace, request.protocol, pod);
      } catch (err) {
        failure = err instanceof TargetError ? err : new TargetError(ResetCode.Internal, 'internal error');
        if (failure.code !== ResetCode.Refused || request.kind === 'pod') break;
      }
    }
    if (pod) {
      event.name = pod.pod;
      event.query += `&podPort=${pod.port}`;
    }
    if (socket?.wire) event.transport = `${SUBPROTOCOL} api ${socket.wire}`;
    if (!socket || !pod) {
      const e = failure ?? new TargetError(ResetCode.Internal, 'internal error');
      stream.reset(e.code, e.message);
      const status =
        e.code === ResetCode.Forbidden
          ? 403
          : e.code === ResetCode.NotFound
            ? 404
            : e.code === ResetCode.Refused
              ? 502
              : 503;
      return finish({ code: e.code, reason: e.message, by: 'local' }, 0, 0, status);
    }
    if (stream.isClosed) {
      socket.destroy();
      return finish({ code: ResetCode.GoingAway, reason: 'closed before connecting', by: 'peer' }, 0, 0, 499);
    }
    const used = pod;
    const inUse = this.podsInUse.get(used.pod) ?? { namespace: request.namespace, count: 0 };
    inUse.count++;
    this.podsInUse.set(used.pod, inUse);
    stream.acknowledgeOpen(used.pod);
    this.connected.set(stream.id, {
      target: `${request.kind}/${request.name}:${request.port}/${request.protocol}`,
      namespace: request.namespace,
      pod: used.pod,
      podPort: used.port,
      openedAt: new Date().toISOString(),
    });
    socket.bridge(stream, (end, counters) => {
      if (--inUse.count === 0) this.podsInUse.delete(used.pod);
      finish(end, counters.toSocket, counters.fromSocket, 200);
    });
    for (const chunk of early) stream.onData(chunk);
    if (earlyFin) stream.onEnd();
  }

  /** A connection to the pod for one stream, the mode's way (wire: api mode's upstream protocol). */
  private async dial(
    namespace: string,
    protocol: 'tcp' | 'udp',
    pod: PodEndpoint,
  ): Promise<PodConnection & { wire?: string }> {
    if (this.deps.mode === 'direct') return protocol === 'udp' ? dialDirectUdp(pod) : dialDirect(pod);
    if (protocol === 'udp') throw new TargetError(ResetCode.Refused, UDP_NEEDS_DIRECT);
    const open = this.deps.portForwardAs;
    if (!open) throw new TargetError(ResetCode.Internal, 'api mode without an upstream');
    this.apiForwards ??= new ApiPortForwards((ns, name) => open(this.who.identity, ns, name, this.requestId));
    return this.apiForwards.dial(namespace, pod);
  }

  /** Ends the tunnel now: every stream reset with `reason`, the WebSocket closed, audited once. */
  end(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.graceTimer);
    clearInterval(this.recheckTimer);
    this.session.close(code, reason);
    this.apiForwards?.closeAll();
    for (const { target } of this.targets) target.close();
    this.ws?.close(code === ResetCode.GoingAway ? 1001 : 1008, reason.slice(0, 120));
    this.forget(this);
    this.unmeter?.();
    this.handle.emit('close');
    const ms = Math.round((performance.now() - this.started) * 1000) / 1000;
    this.deps.audit.record({
      ...this.event,
      reason: `mode ${this.deps.mode}; ${this.streamCount} streams; ended: ${reason}`,
      latencyMs: ms,
      streamMs: ms,
    });
  }
}

function refuseUpgrade(
  socket: Duplex,
  status: number,
  error: string,
  message: string,
  requestId: string,
): void {
  const body = JSON.stringify({ error, message, requestId });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
}
