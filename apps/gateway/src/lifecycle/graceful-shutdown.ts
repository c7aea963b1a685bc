// Stops an HTTP server the way an operator expects on SIGTERM: stop accepting, close idle
// keep-alive sockets, let in-flight requests finish within the grace period, then cut whatever
// is left (watches and exec sessions never finish on their own).
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export class ConnectionTracker {
  private readonly sockets = new Set<Socket>();

  constructor(server: Server) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Upgraded sockets (exec, port-forward) leave the HTTP server's bookkeeping; we still cut them. */
  track(socket: Socket): void {
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

export async function drainServer(
  server: Server,
  tracker: ConnectionTracker,
  graceMs: number,
): Promise<void> {
  const closed = new Promise<void>((done) => server.close(() => done()));
  server.closeIdleConnections();
  const timer = setTimeout(() => {
    server.closeAllConnections();
    tracker.destroyAll();
  }, graceMs);
  timer.unref();
  await closed;
  clearTimeout(timer);
}
