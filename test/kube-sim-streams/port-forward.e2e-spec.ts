// kubectl port-forward against the simulator's pods: WebSocket-tunnelled SPDY (kubectl's default)
// and plain SPDY (KUBECTL_PORT_FORWARD_WEBSOCKETS=false), pod and service targets, many
// connections at once, half-close, an unused port, and 256 MiB with a matching SHA-256.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubectlRunner, LongRunningKubectl } from '../support/kubectl';
import { startStreamsTestServer, StreamsTestServer } from '../support/streams-test-server';

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
  let server: StreamsTestServer;
  let dir: string;
  let kubectl: KubectlRunner;

  beforeAll(async () => {
    server = await startStreamsTestServer();
    dir = mkdtempSync(join(tmpdir(), 'kgw-streams-pf-'));
    kubectl = new KubectlRunner(server.writeKubeconfig(dir));
  });

  afterAll(async () => {
    await kubectl.cleanup();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
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
        expect(['nginx', 'nginx-2']).toContain(JSON.parse(reply.body).pod.name);
      } finally {
        await process.stop();
      }
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
