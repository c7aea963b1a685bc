// kubectl port-forward against the simulator (demo scenario): WebSocket-tunnelled SPDY (kubectl's
// default) and plain SPDY (KUBECTL_PORT_FORWARD_WEBSOCKETS=false), pod and service targets, many
// connections at once, half-close, an unused port, a forbidden user, 256 MiB with a matching
// SHA-256, and the WebSocket channel protocol (`v4.channel.k8s.io`, as client-node speaks it)
// with a raw `ws` client.
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import { WebSocket } from 'ws';
import { KubectlRunner, LongRunningKubectl } from '../support/kubectl';
import { myNginxPods, startStreamsSim, StreamsSim } from '../support/streams-sim';

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      })
      .on('error', reject);
  });
}

/** Sends `payload`, half-closes, and collects everything the far end sends until it closes. */
function tcpExchange(port: number, payload: Buffer | ((socket: net.Socket) => void)): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      socket.end();
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', reject);
    socket.on('connect', () => {
      if (typeof payload === 'function') payload(socket);
      else socket.end(payload);
    });
  });
}

async function startForward(
  kubectl: KubectlRunner,
  target: string,
  ports: string[],
  env: Record<string, string>,
): Promise<{ process: LongRunningKubectl; local: number[] }> {
  const process = kubectl.start(['port-forward', target, ...ports], { env });
  const local: number[] = [];
  for (let i = 0; i < ports.length; i++) {
    const match = await process.waitFor(
      new RegExp(`Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${ports[i].split(':')[1]}`),
    );
    local.push(Number(match[1]));
  }
  return { process, local };
}

const TRANSPORTS: Array<[string, Record<string, string>, string]> = [
  ['kubectl defaults (WebSocket-tunnelled SPDY)', {}, 'websocket-spdy-tunnel'],
  ['KUBECTL_PORT_FORWARD_WEBSOCKETS=false (SPDY)', { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }, 'spdy'],
];

describe('kubectl port-forward through the simulator', () => {
  let server: StreamsSim;
  let kubectl: KubectlRunner;
  let carol: KubectlRunner;

  beforeAll(async () => {
    server = await startStreamsSim();
    kubectl = new KubectlRunner(server.kubeconfigs.admin);
    carol = new KubectlRunner(server.kubeconfigs.carol);
  });

  afterAll(async () => {
    await kubectl?.cleanup();
    await carol?.cleanup();
    await server?.close();
  });

  describe.each(TRANSPORTS)('%s', (_name, env, wire) => {
    it('forwards pod/nginx :80 to the welcome page, and the echo and sink ports, many connections at once', async () => {
      const before = server.streams.recentStreams.length;
      const { process, local } = await startForward(kubectl, 'pod/nginx', [':80', ':7', ':9'], env);
      try {
        const page = await httpGet(local[0], '/');
        expect(page.status).toBe(200);
        expect(page.body).toContain('<title>Welcome to nginx!</title>');
        expect(server.streams.recentStreams.slice(before).map((event) => event.wire)).toContain(wire);

        const pages = await Promise.all(
          Array.from({ length: 16 }, (_, i) => httpGet(local[0], `/echo?n=${i}`)),
        );
        pages.forEach((reply, i) => expect(JSON.parse(reply.body).query.n).toEqual([String(i)]));

        // Half-close: the echo sees our FIN only after the data, and still answers.
        const message = randomBytes(200_000);
        const echoed = await Promise.all(Array.from({ length: 8 }, () => tcpExchange(local[1], message)));
        for (const reply of echoed) expect(reply.equals(message)).toBe(true);

        const sink = (await tcpExchange(local[2], Buffer.from('abc'))).toString();
        expect(sink).toBe(`${createHash('sha256').update('abc').digest('hex')} 3\n`);
      } finally {
        await process.stop();
      }
    });

    it('forwards svc/my-nginx 80 to one of its pods', async () => {
      const { process, local } = await startForward(kubectl, 'svc/my-nginx', [':80'], env);
      try {
        const reply = await httpGet(local[0], '/echo');
        expect(myNginxPods(server.sim)).toContain(JSON.parse(reply.body).pod.name);
        expect(reply.status).toBe(200);
        const page = await httpGet(local[0], '/');
        expect(page.body).toContain('<title>Welcome to nginx!</title>');
      } finally {
        await process.stop();
      }
    });

    it("refuses a view-only user with kubectl's forbidden message", async () => {
      const before = server.sim.requestLog.entries.length;
      const result = await carol.run(['port-forward', 'pod/nginx', ':80'], { env });
      expect(result.code).toBe(1);
      // What kubectl prints against a real cluster: the upgrade failed with the 403's message.
      expect(result.stderr).toBe(
        'error: error upgrading connection: pods "nginx" is forbidden: User "carol" cannot create resource "pods/portforward" in API group "" in the namespace "default"\n',
      );
      // The WebSocket GET is refused as `create` too; kubectl then retries over SPDY (POST).
      const attempts = server.sim.requestLog.entries
        .slice(before)
        .filter((entry) => entry.path === '/api/v1/namespaces/default/pods/nginx/portforward')
        .map((entry) => `${entry.method} ${entry.verb} ${entry.status}`);
      expect(attempts).toEqual(wire === 'spdy' ? ['POST create 403'] : ['GET get 403', 'POST create 403']);
    });

    it('reports connection refused on an unused port the way the kubelet does', async () => {
      const { process, local } = await startForward(kubectl, 'pod/nginx', [':8081'], env);
      try {
        const reply = await tcpExchange(local[0], Buffer.from('GET / HTTP/1.0\r\n\r\n')).catch(() =>
          Buffer.alloc(0),
        );
        expect(reply.length).toBe(0);
        await process.waitFor(
          /an error occurred forwarding \d+ -> 8081: error forwarding port 8081 to pod [0-9a-f]+, uid : .*connect: connection refused/,
        );
      } finally {
        await process.stop();
      }
    });

    it('carries 256 MiB to the sink with the same SHA-256', async () => {
      const { process, local } = await startForward(kubectl, 'pod/nginx', [':9'], env);
      try {
        const total = 256 * 1024 * 1024;
        const block = randomBytes(1024 * 1024);
        const expected = createHash('sha256');
        for (let sent = 0; sent < total; sent += block.length) expected.update(block);
        const started = Date.now();
        const reply = await tcpExchange(local[0], (socket) => {
          let sent = 0;
          const pump = (): void => {
            while (sent < total) {
              sent += block.length;
              if (!socket.write(block)) {
                socket.once('drain', pump);
                return;
              }
            }
            socket.end();
          };
          pump();
        });
        const seconds = (Date.now() - started) / 1000;
        expect(reply.toString()).toBe(`${expected.digest('hex')} ${total}\n`);
        console.log(
          `port-forward ${wire}: 256 MiB in ${seconds.toFixed(2)} s = ${(256 / seconds).toFixed(0)} MiB/s`,
        );
      } finally {
        await process.stop();
      }
    });
  });
});

/** Messages of a channel-protocol WebSocket, grouped by channel, with a way to await content. */
class ChannelClient {
  readonly channels = new Map<number, Buffer[]>();
  readonly closed: Promise<number>;
  private readonly waiters = new Set<() => void>();

  constructor(readonly ws: WebSocket) {
    ws.on('message', (raw: Buffer) => {
      const list = this.channels.get(raw[0]) ?? [];
      list.push(raw.subarray(1));
      this.channels.set(raw[0], list);
      for (const waiter of [...this.waiters]) waiter();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        for (const waiter of [...this.waiters]) waiter();
        resolve(code);
      }),
    );
  }

  messages(channel: number): Buffer[] {
    return this.channels.get(channel) ?? [];
  }

  /** Everything after the port prefix (the first message) on a channel. */
  data(channel: number): Buffer {
    return Buffer.concat(this.messages(channel).slice(1));
  }

  send(channel: number, data: Buffer | string): void {
    this.ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
  }

  until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const waiter = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      this.waiters.add(waiter);
      waiter();
    });
  }
}

describe('WebSocket port-forward, channel protocol v4.channel.k8s.io (client-node style)', () => {
  let server: StreamsSim;

  beforeAll(async () => {
    server = await startStreamsSim();
  });

  afterAll(async () => {
    await server?.close();
  });

  const portPrefix = (port: number): Buffer => {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port);
    return prefix;
  };

  /** Opens the WebSocket, or resolves with the refusal's status code and body. */
  function open(
    token: string,
    query: string,
  ): Promise<{ client: ChannelClient; protocol: string } | { status: number; body: string }> {
    const url = `${server.sim.url.replace(/^https/, 'wss')}/api/v1/namespaces/default/pods/nginx/portforward?${query}`;
    const ws = new WebSocket(url, ['v4.channel.k8s.io'], {
      ca: server.sim.caPem,
      headers: { Authorization: `Bearer ${token}` },
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve({ client: new ChannelClient(ws), protocol: ws.protocol }));
      ws.once('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      });
      ws.once('error', reject);
    });
  }

  it('forwards ?ports=80,7: port prefixes (u16 LE) first, then HTTP on channel 0 and echo on channel 2', async () => {
    const opened = await open(server.sim.adminToken, 'ports=80,7');
    if (!('client' in opened)) throw new Error(`refused: ${opened.status} ${opened.body}`);
    const { client, protocol } = opened;
    try {
      expect(protocol).toBe('v4.channel.k8s.io');
      await client.until(() => [0, 1, 2, 3].every((ch) => client.messages(ch).length > 0), 'port prefixes');
      expect(client.messages(0)[0].equals(portPrefix(80))).toBe(true);
      expect(client.messages(1)[0].equals(portPrefix(80))).toBe(true);
      expect(client.messages(2)[0].equals(portPrefix(7))).toBe(true);
      expect(client.messages(3)[0].equals(portPrefix(7))).toBe(true);
      expect(server.streams.recentStreams.at(-1)).toMatchObject({
        pod: 'nginx',
        subresource: 'portforward',
        wire: 'websocket',
        protocol: 'v4.channel.k8s.io',
      });

      client.send(0, 'GET / HTTP/1.1\r\nHost: nginx\r\nConnection: close\r\n\r\n');
      const echoed = randomBytes(100_000);
      client.send(2, echoed.subarray(0, 40_000));
      client.send(2, echoed.subarray(40_000));
      await client.until(() => client.data(0).includes('</html>'), 'the welcome page');
      expect(client.data(0).toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(client.data(0).toString()).toContain('<title>Welcome to nginx!</title>');
      await client.until(() => client.data(2).length >= echoed.length, 'the echo');
      expect(client.data(2).equals(echoed)).toBe(true);
      expect(client.messages(1)).toHaveLength(1);
      expect(client.messages(3)).toHaveLength(1);
    } finally {
      client.ws.close(1000);
      await client.closed;
    }
  });

  it('reports connection refused on the error channel and closes', async () => {
    const opened = await open(server.sim.adminToken, 'ports=8081');
    if (!('client' in opened)) throw new Error(`refused: ${opened.status} ${opened.body}`);
    const { client } = opened;
    expect(await client.closed).toBe(1000);
    expect(client.messages(0)[0].equals(portPrefix(8081))).toBe(true);
    expect(client.messages(1)[0].equals(portPrefix(8081))).toBe(true);
    expect(client.data(1).toString()).toMatch(
      /^error forwarding port 8081 to pod [0-9a-f]+, uid : .*connect: connection refused/,
    );
  });

  it('refuses a view-only user (GET is authorized as create on pods/portforward)', async () => {
    const opened = await open(server.sim.userTokens.carol, 'ports=80');
    if ('client' in opened) {
      opened.client.ws.close();
      throw new Error('carol was allowed to port-forward');
    }
    expect(opened.status).toBe(403);
    expect(JSON.parse(opened.body)).toMatchObject({
      kind: 'Status',
      reason: 'Forbidden',
      code: 403,
      message:
        'pods "nginx" is forbidden: User "carol" cannot create resource "pods/portforward" in API group "" in the namespace "default"',
    });
  });
});
