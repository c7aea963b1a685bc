// `kgw forward` end to end, with real processes: the built CLI as a child process, the gateway
// and the simulator (whose pods listen on their loopback pod IPs), real curl, real sockets.
// Local ports are always chosen by the system (`:PORT`), never fixed.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ExitCode } from '../../apps/kgw/src/commands/command';
import { CALLERS, startGatewayStack, type CallerName, type GatewayStack } from '../support/gateway-stack';
import {
  ForwardRunner,
  KGW_CLI,
  curlLocal,
  eventually,
  throughSink,
  type Forward,
} from '../support/kgw-forward';

const CLI = KGW_CLI;
const run = promisify(execFile);

let stack: GatewayStack;
let caFile: string;
const children = new Set<ChildProcess>();
const forwards = new ForwardRunner();

beforeAll(async () => {
  // direct mode (the stack's kubeconfig upstream would make auto mean api): UDP needs it.
  stack = await startGatewayStack({
    env: { KGW_FORWARD_RESUME_GRACE_SECONDS: '30', KGW_FORWARD_MODE: 'direct' },
  });
  caFile = join(stack.dir, 'forward-ca.crt');
  writeFileSync(caFile, stack.caPem);
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  forwards.stopAll();
  await stack?.stop();
});

function cliEnv(caller: CallerName, server = stack.url): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: stack.dir,
    KGW_SERVER: server,
    KGW_TOKEN: CALLERS[caller].token,
    KGW_CA_FILE: caFile,
  };
}

/** Starts `kgw forward ARGS` as `caller` and waits until it listens on `expectPorts` ports (or exits). */
function forward(
  args: string[],
  caller: CallerName = 'alice',
  expectPorts = 1,
  server?: string,
): Promise<Forward> {
  return forwards.start(args, cliEnv(caller, server), expectPorts);
}

const curl = curlLocal;

async function auditRows(filter: string): Promise<Array<Record<string, unknown>>> {
  const res = await stack.request('alice', `/kgw/v1/audit?${filter}&limit=500`);
  expect(res.status).toBe(200);
  return (JSON.parse(res.body) as { items: Array<Record<string, unknown>> }).items;
}

describe('kgw forward pod/nginx', () => {
  it('serves the nginx page through the tunnel, kubectl-style output, audited per tunnel and per stream with bytes', async () => {
    const fwd = await forward(['pod/nginx', ':80']);
    expect(fwd.ports).toHaveLength(1);
    const page = await curl(fwd.ports[0]);
    expect(page).toContain('<title>Welcome to nginx!</title>');
    expect(fwd.stdout()).toMatch(/^Forwarding from 127\.0\.0\.1:\d+ -> 80\nHandling connection for \d+\n/);
    expect(await fwd.stop()).toBe(0);

    const stream = await eventually(async () =>
      (await auditRows('kind=stream&user=alice')).find((r) =>
        String(r.query).includes('target=pod/nginx&port=80&'),
      ),
    );
    expect(stream).toMatchObject({
      namespace: 'default',
      name: 'nginx',
      verb: 'create',
      resource: 'pods',
      subresource: 'portforward',
      decision: 'allow',
    });
    expect(Number(stream.bytesIn)).toBeGreaterThan(50); // curl's request
    expect(Number(stream.bytesOut)).toBeGreaterThan(600); // the page
    const tunnel = await eventually(async () =>
      (await auditRows('kind=tunnel&user=alice')).find((r) =>
        String(r.query).includes(String(stream.query).split('&')[0]),
      ),
    );
    expect(String(tunnel.reason)).toMatch(/mode direct; 1 streams; ended: /);
    expect(Number(tunnel.bytesOut)).toBe(Number(stream.bytesOut));
  });

  it('on a terminal (a real pty from script(1)) shows a status line: connections, bytes each way', async () => {
    // script gives kgw a pseudo-terminal; Ctrl-C typed into it stops kgw as a user would.
    const child = spawn(
      'script',
      ['-qfec', `${process.execPath} ${CLI} forward pod/nginx :80`, '/dev/null'],
      {
        env: { ...cliEnv('alice'), TERM: 'xterm', COLUMNS: '120' },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    children.add(child);
    let screen = '';
    const changed: Array<() => void> = [];
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      screen += c;
      changed.splice(0).forEach((w) => w());
    });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const waitFor = async (pattern: RegExp): Promise<RegExpExecArray> => {
      for (;;) {
        const match = pattern.exec(screen);
        if (match) return match;
        await new Promise<void>((r) => changed.push(r));
      }
    };
    const port = Number((await waitFor(/Forwarding from 127\.0\.0\.1:(\d+) -> 80/))[1]);
    await waitFor(/connected · 0 open · ↑ 0 B · ↓ 0 B/);
    const page = await curl(port);
    // Once the connection is done, the line counts curl's request and the page it got.
    const [, up, down] = await waitFor(/connected · 0 open · ↑ ([1-9]\d*) B · ↓ ([1-9][\d.]*) (?:B|KiB)/);
    expect(Number(up)).toBeGreaterThan(50);
    expect(Number(down)).toBeGreaterThan(0.5);
    expect(page).toContain('Welcome to nginx!');
    // kubectl's lines still come whole, on a line the status line was cleared from first.
    expect(screen).toMatch(new RegExp(`\r${String.fromCharCode(27)}\\[2KHandling connection for \\d+\r?\n`));
    // Ctrl-C ends it (script(1) reports 0, or 130 when the terminal's SIGINT reached it too).
    child.stdin.write('\x03');
    expect([0, 130]).toContain(await exited);
    children.delete(child);
  });

  it('a viewer without pods/portforward gets a clear forbidden error, exit code 5, and nothing listens', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const fwd = await forward(['pod/nginx', `${port}:80`], 'carol', 1);
    expect(await fwd.exited).toBe(ExitCode.Forbidden);
    expect(fwd.stderr()).toContain(
      'User "carol" cannot create resource "pods/portforward" in API group "" in the namespace "default"',
    );
    expect(fwd.stdout()).not.toContain('Forwarding from');
    await expect(
      new Promise((done, fail) => net.connect(port, '127.0.0.1').on('connect', done).on('error', fail)),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('names a missing pod (exit 6) and a port in use (exit 8)', async () => {
    const missing = await forward(['pod/nope', ':80']);
    expect(await missing.exited).toBe(ExitCode.NotFound);
    expect(missing.stderr()).toContain('pods "nope" not found');

    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as net.AddressInfo).port;
    const busy = await forward(['pod/nginx', `${port}:80`]);
    expect(await busy.exited).toBe(ExitCode.PortInUse);
    expect(busy.stderr()).toContain('address already in use');
    taken.close();
  });

  // Generous timeouts: a safety net on a shared, loaded machine, not a speed check (bench/ is).
  it('carries 1 GiB to the pod with the same SHA-256', async () => {
    const fwd = await forward(['pod/nginx', ':9']);
    const { ours, theirs } = await throughSink(fwd.ports[0], 1 << 30);
    expect(theirs).toBe(ours);
    expect(fwd.stderr()).toBe('');
    await fwd.stop();
  }, 900_000);

  it('completes 100 parallel connections while another stream on the same tunnel is stalled', async () => {
    const fwd = await forward(['pod/nginx', ':80', ':7'], 'alice', 2);
    const [http, echo] = fwd.ports;
    // The stalled stream: we send to the echo port and never read what comes back.
    const stalled = net.connect({ host: '127.0.0.1', port: echo });
    stalled.pause();
    const junk = Buffer.alloc(1 << 20, 7);
    let written = 0;
    await new Promise<void>((done) => {
      const pump = () => {
        while (written < 64 << 20) {
          written += junk.length;
          if (!stalled.write(junk)) return void stalled.once('drain', pump);
        }
        done();
      };
      pump();
      // Backpressure reached the writer: the echo stream is stalled end to end.
      setTimeout(done, 3000);
    });
    const pages = await Promise.all(
      Array.from({ length: 100 }, () =>
        curl(http, '/').catch((err: Error) => `${err.message}\n${fwd.stderr()}`),
      ),
    );
    for (const page of pages) expect(page).toContain('Welcome to nginx!');
    stalled.destroy();
    await fwd.stop();
  }, 300_000);
});

describe('kgw forward /udp', () => {
  /** socat as the UDP client: each line written to its stdin is one datagram to `port`. */
  function udpClient(port: number) {
    const child = spawn('socat', ['-', `UDP4:127.0.0.1:${port}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let received = '';
    const waiters: Array<() => void> = [];
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      received += c;
      waiters.splice(0).forEach((w) => w());
    });
    return {
      /** Sends `text` and waits until the echo has come back. */
      async roundTrip(text: string): Promise<void> {
        const want = received.length + text.length;
        child.stdin.write(text);
        while (received.length < want) await new Promise<void>((r) => waiters.push(r));
      },
      received: () => received,
      stop() {
        child.kill('SIGKILL');
        children.delete(child);
      },
    };
  }

  it('echoes datagrams from two local UDP clients through the pod UDP echo, one audited stream per flow', async () => {
    const fwd = await forward(['pod/nginx', ':7/udp']);
    expect(fwd.stdout()).toMatch(/Forwarding from 127\.0\.0\.1:\d+ -> 7\/udp\n/);
    const [a, b] = [udpClient(fwd.ports[0]), udpClient(fwd.ports[0])];
    for (let i = 0; i < 5; i++) {
      await a.roundTrip(`a-${i}\n`);
      await b.roundTrip(`b-${i}-${'x'.repeat(1000)}\n`);
    }
    expect(a.received()).toBe(Array.from({ length: 5 }, (_, i) => `a-${i}\n`).join(''));
    expect(b.received().split('\n').filter(Boolean)).toHaveLength(5);
    expect(fwd.stdout().match(/Handling UDP flow from 127\.0\.0\.1:\d+ for \d+/g)).toHaveLength(2);
    a.stop();
    b.stop();
    expect(await fwd.stop()).toBe(0);
    const streams = await eventually(async () => {
      const rows = (await auditRows('kind=stream&user=alice')).filter((r) =>
        String(r.query).includes('target=pod/nginx&port=7&protocol=udp'),
      );
      return rows.length >= 2 ? rows : undefined;
    });
    const byteCounts = streams
      .slice(0, 2)
      .map((r) => Number(r.bytesIn))
      .sort((x, y) => x - y);
    expect(byteCounts[0]).toBe(5 * 4); // "a-i\n"
    expect(byteCounts[1]).toBeGreaterThan(5 * 1000);
  });

  it('a /udp port the pod does not serve: a service port that is TCP only is not found', async () => {
    const fwd = await forward(['svc/my-nginx', ':80/udp']);
    expect(await fwd.exited).toBe(ExitCode.NotFound);
    expect(fwd.stderr()).toContain('Service my-nginx does not have a service port 80/UDP');
  });
});

describe('kgw forward svc/my-nginx', () => {
  async function accessLogCount(pod: string, agent: string): Promise<number> {
    const res = await stack.request('alice', `/api/v1/namespaces/default/pods/${pod}/log`);
    return res.body.split('\n').filter((l) => l.includes(agent)).length;
  }

  it('spreads 20 connections over both pods and keeps working after one is deleted', async () => {
    const list = JSON.parse(
      (await stack.request('alice', '/api/v1/namespaces/default/pods?labelSelector=app%3Dmy-nginx')).body,
    ) as {
      items: Array<{ metadata: { name: string } }>;
    };
    const pods = list.items.map((p) => p.metadata.name);
    expect(pods).toHaveLength(2);
    const fwd = await forward(['svc/my-nginx', ':80']);
    const agent = `spread-${randomBytes(4).toString('hex')}`;
    for (let i = 0; i < 20; i++)
      await run('curl', ['-sS', '--max-time', '30', '-A', agent, `http://127.0.0.1:${fwd.ports[0]}/`]);
    const counts = await Promise.all(pods.map((p) => accessLogCount(p, agent)));
    expect(counts[0] + counts[1]).toBe(20);
    expect(counts[0]).toBeGreaterThanOrEqual(5);
    expect(counts[1]).toBeGreaterThanOrEqual(5);

    expect(
      (await stack.request('alice', `/api/v1/namespaces/default/pods/${pods[0]}`, { method: 'DELETE' }))
        .status,
    ).toBe(200);
    for (let i = 0; i < 10; i++) expect(await curl(fwd.ports[0])).toContain('Welcome to nginx!');
    await fwd.stop();
    // The endpoints came from a watch on the service's EndpointSlices, made as alice — not a poll.
    const watches = stack.sim.requestLog.entries.filter(
      (e) => e.path === '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices' && e.verb === 'watch',
    );
    expect(watches.length).toBeGreaterThanOrEqual(1);
    expect(watches[0].query).toContain(encodeURIComponent('kubernetes.io/service-name=my-nginx'));
    expect(watches.map((e) => e.user?.username)).toEqual(watches.map(() => 'alice'));
  });
});

describe('a dropped WebSocket', () => {
  /** A TCP relay between the CLI and the gateway that the test can cut. */
  async function relay(target: number) {
    const sockets = new Set<net.Socket>();
    let upstreamPort = target;
    const server = net.createServer((client) => {
      const upstream = net.connect(upstreamPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return {
      url: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
      cut: () => sockets.forEach((s) => s.destroy()),
      retarget: (port: number) => (upstreamPort = port),
      close: () => {
        sockets.forEach((s) => s.destroy());
        server.close();
      },
    };
  }

  it('resumes a 256 MiB transfer with the same SHA-256 across a forced drop', async () => {
    const cut = await relay(stack.gateway.port);
    const fwd = await forward(['pod/nginx', ':9'], 'alice', 1, cut.url);
    let dropped = false;
    const { ours, theirs } = await throughSink(fwd.ports[0], 256 << 20, (sent) => {
      if (!dropped && sent >= 64 << 20) {
        dropped = true;
        cut.cut();
      }
    });
    expect(dropped).toBe(true);
    expect(theirs).toBe(ours);
    expect(fwd.stderr()).toMatch(/lost the connection to the gateway/);
    expect(fwd.stderr()).toMatch(/reconnected; 1 open connection\(s\) resumed/);
    await fwd.stop();
    cut.close();
  }, 600_000);
});

describe('losing the permission', () => {
  it('closes the tunnel within 5 s (re-checked while it lives) and the CLI exits forbidden', async () => {
    // bob may port-forward in default only through this binding; alice removes it mid-tunnel.
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'bob-forward', namespace: 'default' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'bob' }],
    };
    const created = await stack.request(
      'alice',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(binding),
      },
    );
    expect(created.status).toBe(201);
    const fwd = await forward(['pod/nginx', ':80'], 'bob');
    expect(await curl(fwd.ports[0])).toContain('Welcome to nginx!');
    // A connection held open, so the pod is in use when the permission goes.
    const held = net.connect({ host: '127.0.0.1', port: fwd.ports[0] });
    await new Promise<void>((r) => held.once('connect', () => r()));
    held.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => held.once('data', r));
    const revoked = Date.now();
    const deleted = await stack.request(
      'alice',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/bob-forward',
      {
        method: 'DELETE',
      },
    );
    expect(deleted.status).toBe(200);
    expect(await fwd.exited).toBe(ExitCode.Forbidden);
    // The re-check runs every 4 s; allow for a loaded machine around the 5 s promise.
    expect(Date.now() - revoked).toBeLessThan(15_000);
    expect(fwd.stderr()).toContain('permission lost');
    held.destroy();
  });
});

describe('kgw kubeconfig and kgw credential', () => {
  it('writes a context whose exec credential is kgw credential; kubectl works through the gateway with it', async () => {
    const file = join(stack.dir, 'kubeconfig-via-kgw');
    const env = cliEnv('alice');
    const written = await run(process.execPath, [CLI, 'kubeconfig', '--kubeconfig', file, '-n', 'default'], {
      env,
    });
    expect(written.stdout).toMatch(/Context "kgw-127\.0\.0\.1-\d+" written/);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(CALLERS.alice.token);
    expect(text).toContain('client.authentication.k8s.io/v1');
    const credential = JSON.parse((await run(process.execPath, [CLI, 'credential'], { env })).stdout) as {
      kind: string;
      status: { token: string };
    };
    expect(credential).toMatchObject({ kind: 'ExecCredential', status: { token: CALLERS.alice.token } });
    const pods = await run('kubectl', ['--kubeconfig', file, 'get', 'pods', '-o', 'name'], {
      env: { ...env, HOME: join(stack.dir, 'kubectl-home') },
    });
    expect(pods.stdout).toContain('pod/nginx');
  });
});
