// Stops the gateway's listener the way an operator expects on SIGTERM: stop accepting, close
// idle keep-alive sockets, let in-flight requests finish within the grace period, then cut
// whatever is left (watches, exec sessions and tunnels never finish on their own).
import type { Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';

export class ConnectionTracker {
  private readonly sockets = new Set<Duplex>();

  constructor(listener: NetServer) {
    listener.on('connection', (socket: Duplex) => this.track(socket));
  }

  /** Upgraded sockets (exec, port-forward) leave the HTTP server's bookkeeping; we still cut them. */
  track(socket: Duplex): void {
    if (this.sockets.has(socket)) return;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  get open(): number {
    return this.sockets.size;
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
  httpServers: Server[],
  tracker: ConnectionTracker,
  graceMs: number,
): Promise<void> {
  const closed = new Promise<void>((done) => listener.close(() => done()));
  for (const server of httpServers) {
    // A server fed by a shared listener is not listening itself; close() just marks it closing.
    if ((server as NetServer) !== listener) server.close();
    server.closeIdleConnections();
  }
  const timer = setTimeout(() => {
    for (const server of httpServers) server.closeAllConnections();
    tracker.destroyAll();
  }, graceMs);
  timer.unref();
  await closed;
  clearTimeout(timer);
}
