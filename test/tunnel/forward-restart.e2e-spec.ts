// `kgw forward` across a gateway that is killed (SIGKILL to its whole process group: the
// primary and its workers, as the OOM killer or a node failure ends a pod) and started again on
// the same port and database. Real processes throughout: the built gateway (two workers), the
// built CLI logged in with `kgw login` (device flow, approved in a browser session) before the
// kill, curl, the simulator's pods on their loopback IPs. The CLI must keep its listeners, say it is reconnecting and back off while the
// port is dead, close the connection that was open across the kill (a new process cannot resume
// it) instead of leaving it hanging, take a fresh tunnel, and serve new connections — including
// one accepted while the gateway was down.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { browserLogin } from '../support/browser-login';
import {
  processAlive,
  processGroupOf,
  startGatewayProcess,
  type GatewayProcess,
} from '../support/gateway-process';
import { CALLERS, httpsRequest, startGatewayStack, type GatewayStack } from '../support/gateway-stack';
import { ForwardRunner, KGW_CLI, curlLocal, eventually } from '../support/kgw-forward';

const run = promisify(execFile);

let stack: GatewayStack;
let caFile: string;
let gatewayEnv: Record<string, string>;
let gateway: GatewayProcess | undefined;
const forwards = new ForwardRunner();

/** Every process in process group `pgid` (the gateway primary leads its own). */
function groupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (processGroupOf(Number(entry)) === pgid) pids.push(Number(entry));
    } catch {
      // gone between readdir and read
    }
  }
  return pids;
}

/** A port free at test start; the gateway keeps it across its restart, as a Service's would. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

beforeAll(async () => {
  // Direct mode (the stack's kubeconfig upstream would make auto mean api). The stack's own
  // in-process gateway stays idle: it shares the database and answers audit queries while the
  // process under test is dead.
  // A grace period far longer than the outage: the connection open across the kill is closed
  // because the new process does not know its tunnel, not because the CLI gave up waiting
  // (that path is tunnel-client.spec.ts's).
  stack = await startGatewayStack({
    oidc: true,
    env: { KGW_FORWARD_MODE: 'direct', KGW_FORWARD_RESUME_GRACE_SECONDS: '600' },
  });
  caFile = join(stack.dir, 'restart-ca.crt');
  writeFileSync(caFile, stack.caPem);
  gatewayEnv = {
    ...stack.env,
    KGW_HTTP_PORT: String(await freePort()),
    KGW_HTTP_WORKERS: '2',
    POD_NAME: 'kgw-restart',
    KGW_LOG_LEVEL: 'info',
  };
  gateway = await startGatewayProcess(gatewayEnv, 120_000, { ownProcessGroup: true });
}, 180_000);

afterAll(async () => {
  forwards.stopAll();
  if (gateway && gateway.child.exitCode === null) {
    process.kill(-gateway.child.pid!, 'SIGKILL');
    await gateway.exited;
  }
  await stack?.stop();
});

async function auditRows(filter: string): Promise<Array<Record<string, unknown>>> {
  const res = await stack.request('alice', `/kgw/v1/audit?${filter}&limit=500`);
  expect(res.status).toBe(200);
  return (JSON.parse(res.body) as { items: Array<Record<string, unknown>> }).items;
}

/** The tunnel id of the audited stream that went to `port` of pod/nginx, once it is recorded. */
async function tunnelOfStream(port: number, not?: string): Promise<string> {
  return eventually(async () => {
    for (const row of await auditRows('kind=stream&user=alice')) {
      const query = String(row.query);
      const tunnel = /^tunnel=([^&]+)/.exec(query)?.[1];
      if (tunnel && tunnel !== not && query.includes(`&target=pod/nginx&port=${port}&`)) return tunnel;
    }
    return undefined;
  }, 60_000);
}

/** Connects to `port`, writes `text`, resolves once the echo came back (the socket stays open). */
async function echoed(port: number, text: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  let got = '';
  await new Promise<void>((done, fail) => {
    socket.once('error', fail);
    socket.setEncoding('utf8').on('data', (c: string) => {
      got += c;
      if (got === text) done();
    });
    socket.write(text);
  });
  return socket;
}

describe('killing and restarting the gateway under kgw forward', () => {
  it('the CLI backs off while it is down, closes the connection it cannot resume, reconnects to a fresh tunnel; new connections work', async () => {
    const gatewayUrl = gateway!.url;
    const port = Number(new URL(gatewayUrl).port);
    // `kgw login` as a user runs it: the device flow, approved by alice in a browser session; the
    // personal token it saves lives in Postgres, so the restarted process honours it too.
    const home = mkdtempSync(join(stack.dir, 'home-'));
    const login = spawn(
      process.execPath,
      [KGW_CLI, 'login', gatewayUrl, '--ca', caFile, '--timeout', '120'],
      {
        env: { PATH: process.env.PATH, HOME: home },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let loginOut = '';
    const printed = new Promise<RegExpExecArray>((found, fail) => {
      const check = (c: string) => {
        loginOut += c;
        const m = /Open (\S+)\nand approve the code (\S+)/.exec(loginOut);
        if (m) found(m);
      };
      login.stdout.setEncoding('utf8').on('data', check);
      login.stderr.setEncoding('utf8').on('data', check);
      login.once('exit', () => fail(new Error(`kgw login exited: ${loginOut}`)));
    });
    const loggedIn = new Promise<number | null>((done) => login.once('exit', (code) => done(code)));
    const [, link, code] = await printed;
    const page = new URL(link);
    const { browser } = await browserLogin(
      { ...stack, url: gatewayUrl },
      'alice',
      page.pathname + page.search,
    );
    const form = await browser.fetch(page.href);
    const csrf = /name="csrf" value="([^"]+)"/.exec(form.body)![1];
    const approved = await browser.fetch(`${gatewayUrl}/kgw/auth/device/approve`, {
      form: { user_code: code, decision: 'approve', csrf },
    });
    expect(approved.status).toBe(200);
    expect(await loggedIn).toBe(0);
    expect(loginOut).toMatch(/Logged in to .* as alice/);

    // kgw forward LOCAL:REMOTE with nothing but the saved login (no server, token or CA given).
    const local = await freePort();
    const fwd = await forwards.start(
      ['pod/nginx', `${local}:80`, ':7'],
      { PATH: process.env.PATH, HOME: home },
      2,
    );
    expect(fwd.ports[0]).toBe(local);
    const [http, echo] = fwd.ports;
    expect(await curlLocal(http)).toContain('Welcome to nginx!');
    const before = await tunnelOfStream(80);
    // A connection open across the kill.
    const held = await echoed(echo, 'held across the kill');
    held.on('error', () => undefined);
    let heldOpen = true;
    const heldClosed = new Promise<void>((r) =>
      held.once('close', () => {
        heldOpen = false;
        r();
      }),
    );

    // kill -9 of the whole process group: the primary and both workers.
    const pgid = gateway!.child.pid!;
    const members = groupMembers(pgid);
    expect(members.length).toBeGreaterThanOrEqual(3);
    process.kill(-pgid, 'SIGKILL');
    await gateway!.exited;
    await eventually(async () => (members.some(processAlive) ? undefined : true));

    await fwd.waitForStderr(/kgw: lost the connection to the gateway \(\d+[^)]*\); reconnecting\.\.\./);
    // While the port is dead, something else answers on it and hangs up at once (a booting
    // process would refuse): the CLI's attempts, counted there, must back off, not spin.
    const attempts: number[] = [];
    let fourth!: () => void;
    const fourAttempts = new Promise<void>((r) => (fourth = r));
    const dead = net.createServer((socket) => {
      attempts.push(performance.now());
      socket.destroy();
      if (attempts.length === 4) fourth();
    });
    await new Promise<void>((ok, fail) => dead.once('error', fail).listen(port, '127.0.0.1', () => ok()));
    // The listener stays up: a connection accepted now waits for the gateway to come back.
    const whileDown = run('curl', ['-sS', '--max-time', '240', `http://127.0.0.1:${http}/`]).then(
      (r) => r.stdout,
      (err: Error) => `curl failed: ${err.message}`,
    );
    await fourAttempts;
    await new Promise<void>((r) => dead.close(() => r()));
    // Backoff: at least 250 + 500 + 1000 ms between the first and the fourth attempt (a slow
    // machine only makes it longer). A tight loop would make four in a few milliseconds.
    expect(attempts[3] - attempts[0]).toBeGreaterThanOrEqual(1500);
    expect(fwd.stderr()).toMatch(/kgw: still reconnecting \(/);
    expect(heldOpen).toBe(true); // kept for a resume while the grace period lasts
    expect(fwd.child.exitCode).toBeNull();

    // The same port, the same database: a new process that has never heard of the tunnel.
    gateway = await startGatewayProcess(gatewayEnv, 120_000, { ownProcessGroup: true });
    expect(gateway.url).toBe(gatewayUrl);
    await fwd.waitForStderr(/kgw: reconnected \(new tunnel\)/);
    expect(fwd.stderr()).toContain('kgw: the gateway did not resume the tunnel; 1 open connection(s) closed');
    // The connection open across the kill is closed, not left hanging.
    await heldClosed;
    // The connection accepted while the gateway was down went through once it was back.
    expect(await whileDown).toContain('Welcome to nginx!');
    expect(await curlLocal(http)).toContain('Welcome to nginx!');
    (await echoed(echo, 'after the restart')).destroy();

    // The audit (same database) shows the new tunnel, with its streams.
    const after = await tunnelOfStream(80, before);
    expect(after).not.toBe(before);
    expect(await fwd.stop()).toBe(0);
    const tunnel = await eventually(async () =>
      (await auditRows('kind=tunnel&user=alice')).find((r) => String(r.query).startsWith(`tunnel=${after}&`)),
    );
    expect(String(tunnel.reason)).toMatch(/^mode direct; 3 streams; ended: /);
    expect(Number(tunnel.bytesOut)).toBeGreaterThan(2 * 600); // two nginx pages at least
    // Asked of the restarted process itself: it serves the audit too.
    const own = await httpsRequest(
      gatewayUrl,
      stack.caPem,
      CALLERS.alice.token,
      `/kgw/v1/audit?kind=tunnel&user=alice&limit=500`,
      {},
    );
    expect(own.body).toContain(`tunnel=${after}&`);
  }, 420_000);
});
