// Real loopback listeners behind running pods, one per declared container port, plus each
// container's log buffer and "main process" (what attach connects to).
//
// Port conventions (by port name first, then number):
//   - name `echo`, or containerPort 7 (RFC 862):  TCP echo, half-close aware.
//   - name `sink`, or containerPort 9 (discard):  TCP sink; when the client half-closes it answers
//     `<sha256 hex> <byte count>\n` and closes. Meant for throughput runs (bench/, 256 MiB tests).
//   - any other TCP port:                         the nginx-like HTTP server below.
//   - any UDP port:                               UDP echo (each datagram sent back to its sender).
// HTTP routes: `/` and `/index.html` → the nginx welcome page; `/echo` and anything under
// `/echo/` → JSON echo of the request; `/links` → a small HTML page with same-host links and a
// form (to see the proxy rewrite them); `/redirect?to=<path>` → 302 to that path; `/healthz` → ok;
// everything else → nginx's 404 page. Upgrade requests are accepted with 101 and echo raw bytes.
// Every HTTP request appends an nginx "combined"-format line to the container's log.
//
// The main process (attach): it writes the container's log (stdout) and echoes every stdin line
// it receives back to stdout (so it also lands in the log).
import * as crypto from 'node:crypto';
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import * as net from 'node:net';
import type { KubeObject, SimObjectStore, StoreEvent } from '../contract';
import { ContainerLog } from './pod-logs';
import { ContainerSpec, PodView, readPod } from './pod-model';

/** `external`: handed over to another process listening at the same address (handOver). */
export type BackendKind = 'http' | 'echo' | 'sink' | 'external';

export interface PortBackend {
  containerPort: number;
  container: string;
  kind: BackendKind;
  /**
   * Where the listener really is: the pod IP (a loopback address) and the container port, as in
   * a cluster; or 127.0.0.1 and an ephemeral port when that address cannot be bound (another
   * process holds it, or no privilege for a port below 1024).
   */
  host: string;
  port: number;
}

export function backendKindFor(port: { containerPort: number; name?: string }): BackendKind {
  if (port.name === 'echo') return 'echo';
  if (port.name === 'sink') return 'sink';
  if (port.containerPort === 7) return 'echo';
  if (port.containerPort === 9) return 'sink';
  return 'http';
}

export const NGINX_SERVER_HEADER = 'nginx/1.27.3';

export const NGINX_WELCOME_PAGE = `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
`;

function nginxErrorPage(code: number, text: string): string {
  return `<html>\r\n<head><title>${code} ${text}</title></head>\r\n<body>\r\n<center><h1>${code} ${text}</h1></center>\r\n<hr><center>${NGINX_SERVER_HEADER}</center>\r\n</body>\r\n</html>\r\n`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (value: number): string => String(value).padStart(2, '0');

/** nginx's $time_local, in UTC: `10/Oct/2000:13:55:36 +0000`. */
function nginxTimeLocal(at: Date): string {
  return `${pad(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}:${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())} +0000`;
}

/** nginx's error-log time: `2024/01/02 03:04:05`. */
function nginxErrorTime(at: Date): string {
  return `${at.getUTCFullYear()}/${pad(at.getUTCMonth() + 1)}/${pad(at.getUTCDate())} ${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())}`;
}

export class ContainerRuntime {
  readonly log = new ContainerLog();
  /** The log of the instance before the last restart, when the pod status says there was one. */
  readonly previousLog: ContainerLog | undefined;

  constructor(
    readonly spec: ContainerSpec,
    restartCount: number,
  ) {
    if (restartCount > 0) {
      this.previousLog = new ContainerLog();
      this.writeStartupLines(this.previousLog);
      this.previousLog.append(
        `${nginxErrorTime(new Date())} [notice] 1#1: signal 15 (SIGTERM) received, exiting`,
      );
      this.previousLog.end();
    }
    this.writeStartupLines(this.log);
  }

  /** What the main process does with a line read from an attached stdin: echo it to stdout. */
  receiveStdin(text: string): void {
    this.log.append(text);
  }

  private writeStartupLines(log: ContainerLog): void {
    const now = new Date();
    if (this.spec.ports.some((port) => backendKindFor(port) === 'http')) {
      log.append(
        '/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration',
        now,
      );
      log.append('/docker-entrypoint.sh: Configuration complete; ready for start up', now);
      log.append(`${nginxErrorTime(now)} [notice] 1#1: ${NGINX_SERVER_HEADER}`, now);
      log.append(`${nginxErrorTime(now)} [notice] 1#1: start worker processes`, now);
    } else {
      log.append(`container ${this.spec.name} started`, now);
    }
  }
}

/** One running pod: its containers and its listeners. */
export class PodRuntime {
  readonly containers = new Map<string, ContainerRuntime>();
  private readonly backends = new Map<number, PortBackend>();
  private readonly servers: net.Server[] = [];
  private readonly serverFor = new Map<number, net.Server>();
  private readonly udpSockets: dgram.Socket[] = [];
  private readonly sockets = new Set<net.Socket>();
  private stopped = false;

  constructor(readonly pod: PodView) {
    for (const container of pod.containers) {
      this.containers.set(
        container.name,
        new ContainerRuntime(container, pod.restartCounts[container.name] ?? 0),
      );
    }
  }

  /** The loopback port behind a pod port (containers share the pod's network namespace). */
  backendFor(containerPort: number): PortBackend | undefined {
    return this.backends.get(containerPort);
  }

  listBackends(): PortBackend[] {
    return [...this.backends.values()];
  }

  /**
   * Hands a TCP pod port over to a process of the caller's, as a sidecar sharing the pod's
   * network namespace would serve it (the bench's iperf3 server): our listener there closes, and
   * port-forwards and direct dials to the port then reach whatever listens at the returned
   * address next. Undefined when the pod has no such TCP port.
   */
  async handOver(containerPort: number): Promise<PortBackend | undefined> {
    const backend = this.backends.get(containerPort);
    const server = this.serverFor.get(containerPort);
    if (!backend || !server) return undefined;
    this.serverFor.delete(containerPort);
    this.servers.splice(this.servers.indexOf(server), 1);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const external: PortBackend = { ...backend, kind: 'external' };
    this.backends.set(containerPort, external);
    return external;
  }

  async start(): Promise<void> {
    for (const container of this.pod.containers) {
      for (const port of container.ports) {
        if (port.protocol === 'UDP') {
          await this.startUdpEcho(port.containerPort);
          if (this.stopped) return;
          continue;
        }
        if (port.protocol !== 'TCP' || this.backends.has(port.containerPort)) continue;
        const kind = backendKindFor(port);
        const server = this.createServer(kind, container.name);
        server.on('connection', (socket: net.Socket) => {
          this.sockets.add(socket);
          socket.on('close', () => this.sockets.delete(socket));
        });
        const bound = await this.listen(server, port.containerPort);
        if (this.stopped) {
          server.close();
          return;
        }
        this.servers.push(server);
        this.serverFor.set(port.containerPort, server);
        this.backends.set(port.containerPort, {
          containerPort: port.containerPort,
          container: container.name,
          kind,
          ...bound,
        });
      }
    }
  }

  /** Binds podIP:containerPort when the pod IP is loopback, else (or failing that) 127.0.0.1:0. */
  private async listen(server: net.Server, containerPort: number): Promise<{ host: string; port: number }> {
    const attempt = (host: string, port: number) =>
      new Promise<{ host: string; port: number }>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve({ host, port: (server.address() as net.AddressInfo).port });
        });
      });
    if (/^127\./.test(this.pod.podIP) && this.pod.podIP !== '127.0.0.1') {
      try {
        return await attempt(this.pod.podIP, containerPort);
      } catch {
        // Taken or not permitted: the pod still works through the API server's paths.
      }
    }
    return attempt('127.0.0.1', 0);
  }

  /**
   * UDP echo at podIP:containerPort, where `kgw forward … /udp` reaches it in direct mode (no
   * fallback address: UDP has no API-server path that could find it elsewhere).
   */
  private async startUdpEcho(containerPort: number): Promise<void> {
    if (!/^127\./.test(this.pod.podIP) || this.pod.podIP === '127.0.0.1') return;
    const socket = dgram.createSocket('udp4');
    socket.on('message', (datagram, from) => socket.send(datagram, from.port, from.address));
    const bound = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(containerPort, this.pod.podIP, () => resolve(true));
    });
    socket.removeAllListeners('error');
    socket.on('error', () => undefined); // a reply to a vanished client: nothing to do
    if (bound) this.udpSockets.push(socket);
    else socket.close();
    if (this.stopped) this.closeUdp();
  }

  private closeUdp(): void {
    for (const socket of this.udpSockets.splice(0)) socket.close();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.closeUdp();
    for (const container of this.containers.values()) container.log.end();
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(
      this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
    this.backends.clear();
  }

  private createServer(kind: BackendKind, containerName: string): net.Server {
    switch (kind) {
      case 'echo':
        // allowHalfOpen: the client's FIN must not close our side before the echo drains.
        return net.createServer({ allowHalfOpen: true }, (socket) => {
          socket.on('error', () => socket.destroy());
          socket.pipe(socket);
        });
      case 'sink':
        return net.createServer({ allowHalfOpen: true }, (socket) => {
          const hash = crypto.createHash('sha256');
          let bytes = 0;
          socket.on('error', () => socket.destroy());
          socket.on('data', (chunk: Buffer) => {
            hash.update(chunk);
            bytes += chunk.length;
          });
          socket.on('end', () => socket.end(`${hash.digest('hex')} ${bytes}\n`));
        });
      case 'http':
        return this.createHttpServer(containerName);
      case 'external':
        throw new Error('an external port has no listener of ours');
    }
  }

  private createHttpServer(containerName: string): http.Server {
    const server = http.createServer((req, res) => this.serveHttp(req, res, containerName));
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${req.headers.upgrade ?? 'raw'}\r\nConnection: Upgrade\r\n\r\n`,
      );
      if (head.length > 0) socket.write(head);
      socket.pipe(socket);
      this.accessLog(containerName, req, 101, 0);
    });
    return server;
  }

  private serveHttp(req: http.IncomingMessage, res: http.ServerResponse, containerName: string): void {
    const url = new URL(req.url ?? '/', 'http://pod.invalid');
    const chunks: Buffer[] = [];
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length;
      if (bodyBytes <= 64 * 1024) chunks.push(chunk);
    });
    req.on('end', () => {
      let status = 200;
      let body: string;
      const headers: http.OutgoingHttpHeaders = {
        Server: NGINX_SERVER_HEADER,
        Date: new Date().toUTCString(),
      };
      if (url.pathname === '/' || url.pathname === '/index.html') {
        body = NGINX_WELCOME_PAGE;
        headers['Content-Type'] = 'text/html';
        headers['Last-Modified'] = 'Tue, 26 Nov 2024 15:55:00 GMT';
        headers['Accept-Ranges'] = 'bytes';
      } else if (url.pathname === '/echo' || url.pathname.startsWith('/echo/')) {
        const query: Record<string, string[]> = {};
        for (const [key, value] of url.searchParams) (query[key] ??= []).push(value);
        body = `${JSON.stringify(
          {
            method: req.method,
            path: url.pathname,
            rawQuery: url.search.replace(/^\?/, ''),
            query,
            headers: req.headers,
            httpVersion: req.httpVersion,
            remoteAddress: req.socket.remoteAddress,
            remotePort: req.socket.remotePort,
            pod: { namespace: this.pod.namespace, name: this.pod.name, ip: this.pod.podIP },
            container: containerName,
            bodyBytes,
            body: Buffer.concat(chunks).toString('utf8'),
          },
          null,
          2,
        )}\n`;
        headers['Content-Type'] = 'application/json';
      } else if (url.pathname === '/links') {
        body = `<!DOCTYPE html>\n<html><head><link rel="stylesheet" href="/style.css"></head><body>\n<a href="/echo?from=links">echo</a>\n<a href="echo/relative">relative</a>\n<img src="/logo.png">\n<form action="/echo" method="post"></form>\n<a href="http://nginx.org/">elsewhere</a>\n</body></html>\n`;
        headers['Content-Type'] = 'text/html; charset=utf-8';
      } else if (url.pathname === '/redirect') {
        status = 302;
        body = nginxErrorPage(302, 'Found');
        headers['Content-Type'] = 'text/html';
        headers.Location = url.searchParams.get('to') ?? '/';
      } else if (url.pathname === '/cookie') {
        // What a hostile (or careless) pod page does: set cookies for whatever origin serves it.
        body =
          '<!DOCTYPE html>\n<html><body><script>document.title = document.cookie</script>cookie set</body></html>\n';
        headers['Content-Type'] = 'text/html';
        headers['Set-Cookie'] = ['kgw_session=from-the-pod; Path=/', 'tracker=1; Path=/'];
        headers['Access-Control-Allow-Origin'] = '*';
      } else if (url.pathname === '/healthz') {
        body = 'ok\n';
        headers['Content-Type'] = 'text/plain';
      } else {
        status = 404;
        body = nginxErrorPage(404, 'Not Found');
        headers['Content-Type'] = 'text/html';
      }
      const bytes = Buffer.from(body);
      headers['Content-Length'] = bytes.length;
      res.writeHead(status, headers);
      res.end(req.method === 'HEAD' ? undefined : bytes);
      this.accessLog(containerName, req, status, req.method === 'HEAD' ? 0 : bytes.length);
    });
  }

  private accessLog(containerName: string, req: http.IncomingMessage, status: number, bytes: number): void {
    const quote = (value: string | string[] | undefined): string =>
      `"${(Array.isArray(value) ? value.join(', ') : (value ?? '-')).replace(/"/g, '\\x22')}"`;
    const now = new Date();
    const line =
      `${req.socket.remoteAddress ?? '-'} - - [${nginxTimeLocal(now)}] "${req.method} ${req.url} HTTP/${req.httpVersion}" ` +
      `${status} ${bytes} ${quote(req.headers.referer)} ${quote(req.headers['user-agent'])} ${quote(req.headers['x-forwarded-for'])}`;
    this.containers.get(containerName)?.log.append(line, now);
  }
}

/** Follows the store: a Running pod gets a PodRuntime; a deleted or stopped one loses it. */
export class PodRuntimeRegistry {
  private readonly runtimes = new Map<string, PodRuntime>();
  private readonly pending = new Map<string, Promise<void>>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly store: SimObjectStore) {}

  async start(): Promise<void> {
    this.unsubscribe = this.store.subscribe((event) => this.onEvent(event));
    for (const pod of this.store.list('pods')) this.reconcile(pod, false);
    await this.settled();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.settled();
    const runtimes = [...this.runtimes.values()];
    this.runtimes.clear();
    await Promise.all(runtimes.map((runtime) => runtime.stop()));
  }

  /** Waits for every start/stop under way (tests and the first request after a pod change). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending.values()]);
  }

  /** The runtime of a running pod; waits for a start in progress. */
  async get(namespace: string, name: string): Promise<PodRuntime | undefined> {
    const key = `${namespace}/${name}`;
    await this.pending.get(key);
    return this.runtimes.get(key);
  }

  private onEvent(event: StoreEvent): void {
    if (event.resource !== 'pods') return;
    this.reconcile(event.object, event.type === 'DELETED');
  }

  private reconcile(object: KubeObject, deleted: boolean): void {
    const pod = readPod(object);
    const key = `${pod.namespace}/${pod.name}`;
    const previous = this.pending.get(key) ?? Promise.resolve();
    const next = previous.then(async () => {
      const current = this.runtimes.get(key);
      const wanted = !deleted && pod.phase === 'Running';
      if (current && (!wanted || current.pod.uid !== pod.uid)) {
        this.runtimes.delete(key);
        await current.stop();
      }
      if (wanted && !this.runtimes.has(key)) {
        const runtime = new PodRuntime(pod);
        this.runtimes.set(key, runtime);
        await runtime.start();
      } else if (wanted) {
        // Same pod, new status (IP, restarts...): keep the listeners, refresh what we show.
        Object.assign(this.runtimes.get(key)!.pod, pod);
      }
    });
    const tracked = next
      .catch(() => undefined)
      .finally(() => {
        if (this.pending.get(key) === tracked) this.pending.delete(key);
      });
    this.pending.set(key, tracked);
  }
}
