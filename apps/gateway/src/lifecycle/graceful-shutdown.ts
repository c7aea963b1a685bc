// Stops the gateway's listener the way an operator expects on SIGTERM: stop accepting, close
// idle keep-alive sockets, let in-flight requests finish within the grace period, then cut
// whatever is left (watches, exec sessions and tunnels never finish on their own).
import type { ServerResponse } from 'node:http';
import type { Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * An HTTP server as the gateway drives it: http.Server, https.Server, or the HTTP/2 server's
 * HTTP/1.1 side (which reads the same timers for its HTTP/1.1 connections).
 */
export interface RequestServer extends NetServer {
  requestTimeout: number;
  headersTimeout: number;
  keepAliveTimeout: number;
  closeIdleConnections(): void;
  /** HTTP/1.1-only servers; the raw sockets of HTTP/2 connections are cut by the tracker. */
  closeAllConnections?(): void;
}

/** HTTP/2 connections: told to go away when the drain starts, cut when the grace period ends. */
export interface SessionDrain {
  closeSessions(): void;
  destroySessions(): void;
}

export class ConnectionTracker {
  private readonly sockets = new Set<Duplex>();
  /** Requests still being answered (a watch or logs -f never finishes) and upgraded streams. */
  private readonly inFlight = new Set<ServerResponse | Duplex>();

  constructor(listener: NetServer) {
    listener.on('connection', (socket: Duplex) => this.track(socket));
  }

  /** Upgraded sockets (exec, port-forward) leave the HTTP server's bookkeeping; we still cut them. */
  track(socket: Duplex): void {
    if (this.sockets.has(socket)) return;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** An upgraded socket is a stream in flight until it closes. */
  trackUpgrade(socket: Duplex): void {
    this.track(socket);
    this.inFlight.add(socket);
    socket.once('close', () => this.inFlight.delete(socket));
  }

  /** Counts every request of `server` as in flight until its response closes. */
  countRequests(server: RequestServer): void {
    server.on('request', (_req, res: ServerResponse) => {
      this.inFlight.add(res);
      res.once('close', () => this.inFlight.delete(res));
    });
  }

  get open(): number {
    return this.sockets.size;
  }

  /** Requests and streams the drain waits for (idle keep-alive connections are not counted). */
  get busy(): number {
    return this.inFlight.size;
  }

  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}

/**
 * `listener` accepts connections; `httpServers` parse them (the listener itself, or two servers
 * behind one port when TLS and plain HTTP share it).
 */
export async function drainServer(
  listener: NetServer,
  httpServers: RequestServer[],
  tracker: ConnectionTracker,
  graceMs: number,
  http2: SessionDrain | undefined,
  /** Told once, when the drain has to wait: how many requests and streams are still open. */
  onWaiting?: (busy: number) => void,
): Promise<void> {
  const closed = new Promise<void>((done) => listener.close(() => done()));
  for (const server of httpServers) {
    // A server fed by a shared listener is not listening itself; close() just marks it closing.
    if (server !== listener) server.close();
    server.closeIdleConnections();
  }
  // GOAWAY: no new streams; the open ones (watches) count as busy until they end or are cut.
  http2?.closeSessions();
  const timer = setTimeout(() => {
    for (const server of httpServers) server.closeAllConnections?.();
    http2?.destroySessions();
    tracker.destroyAll();
  }, graceMs);
  timer.unref();
  if (tracker.busy > 0) onWaiting?.(tracker.busy);
  await closed;
  clearTimeout(timer);
}
