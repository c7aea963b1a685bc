// A pod's port-forward through the API server, as kubectl port-forward makes it, under the
// caller's identity (impersonation): one upstream connection to
// `…/pods/NAME/portforward` carrying many forwarded TCP connections, each a pair of SPDY
// streams (error + data) with its own request id.
//
// Wire: a WebSocket upgrade offering `SPDY/3.1+portforward.k8s.io` (the API server tunnels the
// SPDY byte stream in binary messages; Kubernetes 1.30+), else — any refusal but 401, 403 and
// 404, which SPDY would only repeat — a POST with `Upgrade: SPDY/3.1` and
// `X-Stream-Protocol-Version: portforward.k8s.io`, which every API server still speaks.
//
// Guards: whose connection it is. Built only through upgradeUpstream() with
// withGatewayCredential + withImpersonation, so the API server authorizes the impersonated
// caller (RBAC on pods/portforward) and a missing identity fails closed. Trusts: the namespace,
// pod and port handed in (the tunnel resolved and authorized them). Refuses: nothing itself;
// the API server's Status on a refused upgrade comes back as PortForwardRefused.
import type { Duplex } from 'node:stream';
import type { Identity } from './impersonation';
import { SpdyClientSession } from './spdy-client';
import type { Upstream } from './upstream';
import {
  upgradeUpstream,
  UpstreamUpgradeRefused,
  withGatewayCredential,
  withImpersonation,
} from './upstream-client';
import { WebSocketClientStream, webSocketKey, webSocketUpgradeHeaders } from './websocket-client-stream';

export const PORT_FORWARD_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';
const PORT_FORWARD_SPDY_PROTOCOL = 'portforward.k8s.io';
const UPGRADE_TIMEOUT_MS = 15_000;
const MAX_ERROR_TEXT = 4096;

export type PortForwardWire = 'websocket' | 'spdy';

export interface PodPortForwardOptions {
  identity: Identity;
  namespace: string;
  pod: string;
  /** Sent as Audit-ID, so the API server's audit event joins the gateway's record. */
  requestId: string;
  /** Wires to try, in order (default: websocket, then spdy). */
  wires?: readonly PortForwardWire[];
}

/** The API server refused the port-forward (its Status message, and the HTTP status). */
export class PortForwardRefused extends Error {
  override readonly name = 'PortForwardRefused';
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** One forwarded connection: the data stream, and how the kubelet's error stream ended. */
export interface PortForwardStream {
  readonly data: Duplex;
  /**
   * Resolves with the kubelet's error text when the connection failed (the pod refused it, the
   * port is closed...), or undefined when the error stream ended empty.
   */
  readonly failure: Promise<string | undefined>;
}

export class PodPortForward {
  private nextRequestId = 0;

  constructor(
    readonly wire: PortForwardWire,
    private readonly session: SpdyClientSession,
  ) {}

  /** False once the connection closed or the API server said GOAWAY: open a new one. */
  get usable(): boolean {
    return this.session.usable;
  }

  /** Forwarded connections open on it (two SPDY streams each, counted by their data stream). */
  get activeStreams(): number {
    return this.session.activeStreams;
  }

  onClose(listener: (error?: Error) => void): void {
    this.session.onClose(listener);
  }

  /**
   * A new connection to `port` in the pod: the error stream (half-closed at once), then data.
   * The data stream ends ('end') when the pod closed its side; 'close' without 'end' means the
   * connection was cut.
   */
  async connect(port: number): Promise<PortForwardStream> {
    const requestId = String(this.nextRequestId++);
    const headers = { port: String(port), requestid: requestId };
    const errors = await this.session.open({ streamtype: 'error', ...headers }, true);
    // A cut connection destroys both streams with an error; the caller learns of it from
    // 'close' without 'end' (an unheard 'error' would crash the process).
    errors.on('error', () => undefined);
    let data: Duplex;
    try {
      data = await this.session.open({ streamtype: 'data', ...headers });
    } catch (error) {
      errors.destroy();
      throw error;
    }
    data.on('error', () => undefined);
    const failure = new Promise<string | undefined>((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      errors.on('data', (chunk: Buffer) => {
        if (size < MAX_ERROR_TEXT) chunks.push(chunk);
        size += chunk.length;
      });
      const done = () => {
        const text = Buffer.concat(chunks).subarray(0, MAX_ERROR_TEXT).toString('utf8').trim();
        resolve(text === '' ? undefined : text);
      };
      errors.once('end', done);
      errors.once('close', done);
    });
    return { data, failure };
  }

  close(): void {
    this.session.close();
  }
}

/** Opens the upstream connection for `pod`'s port-forwards, WebSocket first, then SPDY. */
export async function openPodPortForward(
  upstream: Upstream,
  options: PodPortForwardOptions,
): Promise<PodPortForward> {
  const wires = options.wires ?? ['websocket', 'spdy'];
  let last: Error | undefined;
  for (const wire of wires) {
    try {
      return await openOver(upstream, options, wire);
    } catch (error) {
      last = error as Error;
      const status = error instanceof PortForwardRefused ? error.statusCode : 0;
      // The same caller, pod and RBAC over SPDY would get the same answer.
      if (status === 401 || status === 403 || status === 404) throw error;
    }
  }
  throw last ?? new Error('no port-forward wire to try');
}

async function openOver(
  upstream: Upstream,
  options: PodPortForwardOptions,
  wire: PortForwardWire,
): Promise<PodPortForward> {
  const path = `/api/v1/namespaces/${encodeURIComponent(options.namespace)}/pods/${encodeURIComponent(options.pod)}/portforward`;
  const headers = withImpersonation(
    withGatewayCredential(upstream, { 'audit-id': options.requestId }),
    options.identity,
  );
  const key = webSocketKey();
  if (wire === 'websocket')
    Object.assign(headers, webSocketUpgradeHeaders(key.key, PORT_FORWARD_TUNNEL_PROTOCOL));
  else
    Object.assign(headers, {
      connection: 'Upgrade',
      upgrade: 'SPDY/3.1',
      'x-stream-protocol-version': PORT_FORWARD_SPDY_PROTOCOL,
      'content-length': '0',
    });
  let upgraded;
  try {
    upgraded = await upgradeUpstream(upstream, {
      method: wire === 'websocket' ? 'GET' : 'POST',
      path,
      headers,
      timeoutMs: UPGRADE_TIMEOUT_MS,
    });
  } catch (error) {
    if (error instanceof UpstreamUpgradeRefused)
      throw new PortForwardRefused(error.statusCode, statusMessage(error.body) ?? error.message);
    throw error;
  }
  const { socket, head } = upgraded;
  const answered = (name: string) => String(upgraded.headers[name] ?? '');
  const mismatch =
    wire === 'websocket'
      ? answered('sec-websocket-accept') !== key.accept
        ? 'a wrong Sec-WebSocket-Accept'
        : answered('sec-websocket-protocol') !== PORT_FORWARD_TUNNEL_PROTOCOL
          ? `subprotocol "${answered('sec-websocket-protocol')}"`
          : undefined
      : answered('x-stream-protocol-version') !== PORT_FORWARD_SPDY_PROTOCOL
        ? `protocol version "${answered('x-stream-protocol-version')}"`
        : undefined;
  if (mismatch) {
    socket.destroy();
    throw new PortForwardRefused(502, `the API server's port-forward upgrade answered with ${mismatch}`);
  }
  socket.setKeepAlive(true, 30_000);
  const session =
    wire === 'websocket'
      ? new SpdyClientSession(new WebSocketClientStream(socket, head))
      : new SpdyClientSession(socket, head);
  return new PodPortForward(wire, session);
}

function statusMessage(body: string): string | undefined {
  try {
    const status = JSON.parse(body) as { message?: unknown };
    return typeof status.message === 'string' ? status.message : undefined;
  } catch {
    return body.trim() === '' ? undefined : body.trim().slice(0, 1024);
  }
}
