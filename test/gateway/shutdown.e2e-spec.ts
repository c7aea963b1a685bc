// Graceful shutdown as an operator relies on it: SIGTERM stops accepting, lets work finish
// within the grace period, cuts streams that would never finish, stops embedded Postgres and
// exits 0; a second signal exits at once.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubectlRunner } from '../support/kubectl';
import {
  processAlive,
  processGroupOf,
  startGatewayProcess,
  type GatewayProcess,
} from '../support/gateway-process';

/** Polls a condition that no event announces (another process exiting), for at most 20 s. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 100));
  expect(condition()).toBe(true);
}

describe('gateway shutdown', () => {
  let root: string;
  let gateway: GatewayProcess | undefined;
  let kubectl: KubectlRunner | undefined;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'kgw-shutdown-'));
    chmodSync(root, 0o755);
  });
  afterEach(async () => {
    await kubectl?.cleanup();
    await gateway?.stop('SIGKILL');
    gateway = undefined;
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  function logged(message: string): Promise<void> {
    return new Promise((done) => {
      const check = (): void => {
        if (gateway!.logLines().some((l) => l.includes(`"msg":"${message}`))) {
          gateway!.child.stdout!.off('data', check);
          done();
        }
      };
      gateway!.child.stdout!.on('data', check);
      check();
    });
  }

  function refusesConnections(url: string): Promise<boolean> {
    const { hostname, port } = new URL(url);
    return new Promise((done) => {
      const socket = connect(Number(port), hostname);
      socket.once('connect', () => {
        socket.destroy();
        done(false);
      });
      socket.once('error', () => done(true));
    });
  }

  it('SIGTERM: stops accepting, cuts an open watch after the grace period, stops Postgres, exits 0', async () => {
    const dataDir = join(root, 'pg-a');
    const demoDir = join(root, 'demo-a');
    gateway = await startGatewayProcess({
      KGW_DB_DATA_DIR: dataDir,
      KGW_DEMO_DIR: demoDir,
      KGW_HTTP_SHUTDOWN_GRACE_MS: '1500',
    });
    kubectl = new KubectlRunner(join(demoDir, 'kubeconfig-alice'));
    const watch = kubectl.start(['get', 'pods', '-w']);
    await watch.waitFor(/nginx\s+1\/1\s+Running/);

    gateway.child.kill('SIGTERM');
    await logged('shutting down: draining connections');
    expect(await refusesConnections(gateway.url)).toBe(true);

    expect(await gateway.exited).toBe(0);
    // The watch could never finish by itself: it was cut when the grace period ran out.
    await watch.exited;
    expect(gateway.logLines().join('\n')).toContain('"msg":"stopped"');
    expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
  });

  it('one Ctrl-C delivered twice (terminal and a relaying parent, as under npm start) still drains', async () => {
    const dataDir = join(root, 'pg-c');
    gateway = await startGatewayProcess({
      KGW_DB_DATA_DIR: dataDir,
      KGW_DEMO_DIR: join(root, 'demo-c'),
      KGW_HTTP_SHUTDOWN_GRACE_MS: '2000',
    });
    gateway.child.kill('SIGINT');
    gateway.child.kill('SIGINT');
    expect(await gateway.exited).toBe(0);
    expect(gateway.stderr()).not.toContain('again, exiting now');
    expect(gateway.logLines().join('\n')).toContain('"msg":"stopped"');
    expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
  });

  it('Ctrl-C in a terminal (SIGINT to the whole process group) drains while Postgres keeps running', async () => {
    const dataDir = join(root, 'pg-d');
    const demoDir = join(root, 'demo-d');
    gateway = await startGatewayProcess(
      { KGW_DB_DATA_DIR: dataDir, KGW_DEMO_DIR: demoDir, KGW_HTTP_SHUTDOWN_GRACE_MS: '3000' },
      60_000,
      { ownProcessGroup: true },
    );
    const pid = gateway.child.pid!;
    const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    // The terminal's Ctrl-C reaches every process of the foreground group; Postgres is not in it.
    expect(processGroupOf(pid)).toBe(pid);
    expect(processGroupOf(postmaster)).not.toBe(pid);

    kubectl = new KubectlRunner(join(demoDir, 'kubeconfig-alice'));
    const watch = kubectl.start(['get', 'pods', '-w']);
    await watch.waitFor(/nginx\s+1\/1\s+Running/);
    process.kill(-pid, 'SIGINT');
    // The drain says what it waits for and how to stop waiting.
    await logged('waiting for 1 stream or request to finish (cut after 3 s) — Ctrl-C again to quit now');
    expect(processAlive(postmaster)).toBe(true);
    expect(await gateway.exited).toBe(0);
    await watch.exited;
    // Postgres outlived the drain: no revocation-listener warnings, no refused connections, and
    // the watch's audit record went to Postgres, not to the spool.
    const problems = gateway
      .logLines()
      .filter((l) => l.startsWith('{') && (JSON.parse(l) as { level: number }).level >= 40);
    expect(problems).toEqual([]);
    expect(gateway.logLines().join('\n')).not.toMatch(/ECONNREFUSED|spooling/);
    expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
    await until(() => !processAlive(postmaster));
  });

  it('a second signal exits at once, without waiting for the drain', async () => {
    const demoDir = join(root, 'demo-b');
    const dataDir = join(root, 'pg-b');
    gateway = await startGatewayProcess({
      KGW_DB_DATA_DIR: dataDir,
      KGW_DEMO_DIR: demoDir,
      KGW_HTTP_SHUTDOWN_GRACE_MS: '600000',
    });
    kubectl = new KubectlRunner(join(demoDir, 'kubeconfig-alice'));
    const watch = kubectl.start(['get', 'pods', '-w']);
    await watch.waitFor(/nginx\s+1\/1\s+Running/);
    const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    gateway.child.kill('SIGTERM');
    await logged('shutting down: draining connections');
    // A different signal (the same one within a second is taken as a relayed duplicate).
    gateway.child.kill('SIGINT');
    expect(await gateway.exited).toBe(130);
    expect(gateway.stderr()).toContain('again, exiting now');
    // Even then the embedded Postgres is not left running, holding the data directory.
    await until(() => !processAlive(postmaster));
  });
});
