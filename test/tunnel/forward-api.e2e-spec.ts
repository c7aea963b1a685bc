// `kgw forward` in api mode, end to end: the gateway reaches pods through the simulator's
// pods/portforward under the caller's identity (WebSocket-tunnelled SPDY, SPDY as the
// fallback), one upstream connection per pod for every stream of a tunnel. Real CLI, curl and
// sockets; the simulator's stream log shows which wire and which (impersonated) user it saw.
import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { loadUpstream, openPodPortForward, PortForwardRefused } from '@kgw/kube';
import type { PodStreams } from '@kgw/kube-sim';
import { ExitCode } from '../../apps/kgw/src/commands/command';
import { CALLERS, startGatewayStack, type CallerName, type GatewayStack } from '../support/gateway-stack';
import { ForwardRunner, curlLocal, eventually, throughSink } from '../support/kgw-forward';

let stack: GatewayStack;
let caFile: string;
const forwards = new ForwardRunner();

beforeAll(async () => {
  // No KGW_FORWARD_MODE: `auto` with a kubeconfig upstream (a gateway outside the cluster) is api.
  stack = await startGatewayStack();
  caFile = join(stack.dir, 'forward-ca.crt');
  writeFileSync(caFile, stack.caPem);
});

afterAll(async () => {
  forwards.stopAll();
  await stack?.stop();
});

const streams = (): PodStreams => stack.simStreams;

function cliEnv(caller: CallerName): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: stack.dir,
    KGW_SERVER: stack.url,
    KGW_TOKEN: CALLERS[caller].token,
    KGW_CA_FILE: caFile,
  };
}

async function auditRows(filter: string): Promise<Array<Record<string, unknown>>> {
  const res = await stack.request('alice', `/kgw/v1/audit?${filter}&limit=500`);
  expect(res.status).toBe(200);
  return (JSON.parse(res.body) as { items: Array<Record<string, unknown>> }).items;
}

/** One HTTP/1.0 GET over a raw socket (curl × 100 would be 100 processes): the whole answer. */
function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let answer = '';
    socket.setEncoding('utf8').on('data', (c: string) => (answer += c));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.write('GET / HTTP/1.0\r\nHost: nginx\r\n\r\n');
  });
}

describe('kgw forward in api mode', () => {
  it('serves the nginx page through the API server as the caller; the audit says api mode and the wire', async () => {
    const before = streams().recentStreams.length;
    const fwd = await forwards.start(['pod/nginx', ':80'], cliEnv('alice'));
    expect(fwd.ports).toHaveLength(1);
    expect(await curlLocal(fwd.ports[0])).toContain('<title>Welcome to nginx!</title>');
    expect(await fwd.stop()).toBe(0);
    // The simulator saw one port-forward, WebSocket-tunnelled SPDY, as alice (impersonated).
    expect(streams().recentStreams.slice(before)).toEqual([
      expect.objectContaining({
        namespace: 'default',
        pod: 'nginx',
        subresource: 'portforward',
        wire: 'websocket-spdy-tunnel',
        user: 'alice',
      }),
    ]);
    const stream = await eventually(async () =>
      (await auditRows('kind=stream&user=alice')).find((r) =>
        String(r.query).includes('target=pod/nginx&port=80&'),
      ),
    );
    expect(stream).toMatchObject({
      name: 'nginx',
      transport: 'kgw.tunnel.v1 api websocket',
      decision: 'allow',
    });
    expect(Number(stream.bytesOut)).toBeGreaterThan(600);
    const tunnel = await eventually(async () =>
      (await auditRows('kind=tunnel&user=alice')).find((r) =>
        String(r.query).includes(String(stream.query).split('&')[0]),
      ),
    );
    expect(tunnel.transport).toBe('kgw.tunnel.v1 api');
    expect(String(tunnel.reason)).toMatch(/^mode api; 1 streams; ended: /);
  });

  it('completes 100 parallel connections over one upstream connection to the pod', async () => {
    const fwd = await forwards.start(['pod/nginx', ':80', ':9'], cliEnv('alice'), 2);
    const [http, sink] = fwd.ports;
    const before = streams().recentStreams.length;
    const answers = await Promise.all(Array.from({ length: 100 }, () => get(http)));
    for (const answer of answers) expect(answer).toContain('Welcome to nginx!');
    // Bytes both ways, whole, next to the pages.
    const { ours, theirs } = await throughSink(sink, 32 << 20);
    expect(theirs).toBe(ours);
    const opened = streams()
      .recentStreams.slice(before)
      .filter((s) => s.pod === 'nginx');
    expect(opened).toHaveLength(1);
    expect(fwd.stderr()).toBe('');
    await fwd.stop();
  }, 300_000);

  it('refuses a /udp forward, saying why (api mode carries only TCP), and nothing listens', async () => {
    const fwd = await forwards.start(['pod/nginx', '7/udp'], cliEnv('alice'));
    expect(await fwd.exited).toBe(ExitCode.Failure);
    expect(fwd.ports).toEqual([]);
    expect(fwd.stderr()).toContain('pods/portforward carries only TCP');
    expect(fwd.stderr()).toContain('KGW_FORWARD_MODE=direct');
  });

  it('a viewer without pods/portforward gets a clear forbidden error (exit 5)', async () => {
    const fwd = await forwards.start(['pod/nginx', ':80'], cliEnv('carol'));
    expect(await fwd.exited).toBe(ExitCode.Forbidden);
    expect(fwd.stderr()).toContain('cannot create resource "pods/portforward"');
  });
});

describe('the upstream port-forward client (libs/kube) against the simulator', () => {
  const callers = {
    alice: { username: 'alice', groups: ['kgw:admins', 'system:authenticated'] },
    carol: { username: 'carol', groups: ['viewers', 'system:authenticated'] },
  };
  const open = (wires: Array<'websocket' | 'spdy'>, caller: keyof typeof callers = 'alice') =>
    openPodPortForward(loadUpstream({ mode: 'kubeconfig', path: stack.env.KGW_KUBECONFIG }), {
      identity: callers[caller],
      namespace: 'default',
      pod: 'nginx',
      requestId: `e2e-${wires.join('-')}`,
      wires,
    });

  it.each([
    ['websocket', 'websocket-spdy-tunnel'],
    ['spdy', 'spdy'],
  ] as const)('over %s: several connections on one upstream connection', async (wire, seen) => {
    const before = streams().recentStreams.length;
    const connection = await open([wire]);
    expect(connection.wire).toBe(wire);
    const pages = await Promise.all(
      [1, 2, 3].map(async () => {
        const { data, failure } = await connection.connect(80);
        let page = '';
        data.setEncoding('utf8').on('data', (c: string) => (page += c));
        data.end('GET / HTTP/1.0\r\n\r\n');
        await new Promise((r) => data.once('end', r));
        expect(await failure).toBeUndefined();
        return page;
      }),
    );
    for (const page of pages) expect(page).toContain('Welcome to nginx!');
    expect(
      streams()
        .recentStreams.slice(before)
        .map((s) => [s.wire, s.user]),
    ).toEqual([[seen, 'alice']]);
    connection.close();
  });

  it('a closed port: the kubelet error on the error stream, the connection stays usable', async () => {
    const connection = await open(['websocket']);
    const { data, failure } = await connection.connect(81);
    data.resume();
    expect(await failure).toMatch(/error forwarding port 81 to pod .*connection refused/);
    expect(connection.usable).toBe(true);
    const ok = await connection.connect(80);
    ok.data.end('GET / HTTP/1.0\r\n\r\n');
    let page = '';
    ok.data.setEncoding('utf8').on('data', (c: string) => (page += c));
    await new Promise((r) => ok.data.once('end', r));
    expect(page).toContain('Welcome to nginx!');
    connection.close();
  });

  it('the API server refuses a caller without the permission: 403 with its Status message, no SPDY retry', async () => {
    const before = streams().recentStreams.length;
    const refused = await open(['websocket', 'spdy'], 'carol').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PortForwardRefused);
    expect((refused as PortForwardRefused).statusCode).toBe(403);
    expect((refused as PortForwardRefused).message).toContain('pods "nginx" is forbidden');
    expect(streams().recentStreams.length).toBe(before);
  });
});
