// A TCP proxy that puts faults between the gateway and a server it depends on (the cluster
// simulator, an OpenID provider), for the fault suites. It relays raw bytes, so TLS, HTTP/2 and
// upgrades pass through untouched, and each fault is what the network or a dying server does:
//
//   pass   relay both ways (the default, and the recovery)
//   down   stop listening (new connections are refused: ECONNREFUSED) and reset every open one
//   stall  accept and hold: nothing is relayed either way, on open or new connections, until
//          the mode changes (a hung API server, a black-holed network); held bytes then flow
//   reset  reset every open connection and each new one as soon as it arrives (ECONNRESET)
//
// Listens on 127.0.0.1 only, on a random free port that it keeps across `down`.
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export type FaultMode = 'pass' | 'down' | 'stall' | 'reset';

interface Pair {
  client: Socket;
  server: Socket;
}

export class FaultProxy {
  private mode: FaultMode = 'pass';
  private readonly pairs = new Set<Pair>();
  private server: Server | undefined;
  /** Connections accepted so far (a test can tell a reconnect from a reused connection). */
  accepted = 0;

  private constructor(
    private readonly target: { host: string; port: number },
    public port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    const proxy = new FaultProxy(target, 0);
    await proxy.listen();
    return proxy;
  }

  /** `127.0.0.1:<port>`, for a URL in place of the target's. */
  get hostPort(): string {
    return `127.0.0.1:${this.port}`;
  }

  get openConnections(): number {
    return this.pairs.size;
  }

  async setMode(mode: FaultMode): Promise<void> {
    const previous = this.mode;
    this.mode = mode;
    if (mode === 'down' || mode === 'reset') for (const pair of [...this.pairs]) this.cut(pair);
    if (mode === 'stall')
      for (const { client, server } of this.pairs) {
        client.pause();
        server.pause();
      }
    if (mode === 'down') await this.unlisten();
    if (previous === 'down' && mode !== 'down') await this.listen();
    if (previous === 'stall' && mode === 'pass') for (const pair of this.pairs) this.resume(pair);
  }

  async stop(): Promise<void> {
    for (const pair of [...this.pairs]) this.cut(pair);
    await this.unlisten();
  }

  private listen(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    return new Promise((ok, fail) => {
      server.once('error', fail);
      server.listen(this.port, '127.0.0.1', () => {
        this.port = (server.address() as AddressInfo).port;
        ok();
      });
    });
  }

  private unlisten(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    return new Promise((ok) => (server ? server.close(() => ok()) : ok()));
  }

  private accept(client: Socket): void {
    this.accepted++;
    client.on('error', () => client.destroy());
    if (this.mode === 'reset' || this.mode === 'down') {
      client.resetAndDestroy();
      return;
    }
    const server = connect(this.target.port, this.target.host);
    const pair: Pair = { client, server };
    this.pairs.add(pair);
    server.on('error', () => this.cut(pair));
    client.on('close', () => this.cut(pair));
    server.on('close', () => this.cut(pair));
    // Paused until relayed: in `stall` nothing moves, and the bytes wait in the kernel.
    client.pause();
    server.pause();
    if (this.mode === 'pass') this.resume(pair);
  }

  private resume(pair: Pair): void {
    const { client, server } = pair;
    if (!client.listenerCount('data')) {
      client.on('data', (chunk: Buffer) => {
        if (!server.write(chunk)) client.pause();
      });
      server.on('data', (chunk: Buffer) => {
        if (!client.write(chunk)) server.pause();
      });
      server.on('drain', () => this.mode === 'pass' && client.resume());
      client.on('drain', () => this.mode === 'pass' && server.resume());
      client.on('end', () => server.end());
      server.on('end', () => client.end());
    }
    client.resume();
    server.resume();
  }

  private cut(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    if (!pair.client.destroyed) pair.client.resetAndDestroy();
    if (!pair.server.destroyed) pair.server.resetAndDestroy();
  }
}
