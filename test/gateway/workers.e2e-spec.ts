// Multi-process mode (KGW_HTTP_WORKERS): the worker processes share one port, each writes its
// own audit chain, a crashed worker is replaced without dropping the gateway, and SIGTERM to
// the primary drains every worker, flushes every audit record and stops the embedded Postgres.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { EmbeddedPostgres } from '@kgw/db';
import { startSimulator, type RunningSimulator } from '@kgw/kube-sim';
import { processAlive, startGatewayProcess, type GatewayProcess } from '../support/gateway-process';
import { startTestPostgres, type TestPostgres } from '../support/postgres';
import { sampleValue } from '../support/prometheus-text';

const TOKEN = 'workers-test-token-alice';

interface LogLine {
  pid?: number;
  msg?: string;
  url?: string;
  component?: string;
  instance?: string;
}

/** GET on a fresh connection each time, so the primary hands it to the next worker. */
function get(url: string, path: string): Promise<{ status: number; requestId: string; body: string }> {
  return new Promise((done, fail) => {
    const req = request(
      `${url}${path}`,
      { agent: false, headers: { authorization: `Bearer ${TOKEN}`, connection: 'close' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          done({
            status: res.statusCode ?? 0,
            requestId: String(res.headers['x-request-id']),
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on('error', fail);
    req.end();
  });
}

describe('gateway workers (KGW_HTTP_WORKERS)', () => {
  let root: string;
  let sim: RunningSimulator;
  let simKubeconfig: string;
  let gateway: GatewayProcess | undefined;
  let pg: TestPostgres | undefined;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'kgw-workers-'));
    chmodSync(root, 0o755);
    sim = await startSimulator({ scenario: 'demo' });
    simKubeconfig = (await sim.writeKubeconfigs(join(root, 'sim'))).kgw;
    writeFileSync(join(root, 'tokens.csv'), `${TOKEN},alice,,"kgw:admins"\n`);
  });
  afterEach(async () => {
    await gateway?.stop('SIGKILL');
    gateway = undefined;
    await pg?.stop();
    pg = undefined;
  });
  afterAll(async () => {
    await sim.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const lines = (): LogLine[] =>
    gateway!
      .logLines()
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);

  /** Resolves when `count` log lines match; log lines are the only signal another process gives. */
  function logged(match: (line: LogLine) => boolean, count = 1): Promise<LogLine[]> {
    return new Promise((done) => {
      const check = (): void => {
        const found = lines().filter(match);
        if (found.length >= count) {
          gateway!.child.stdout!.off('data', check);
          done(found);
        }
      };
      gateway!.child.stdout!.on('data', check);
      check();
    });
  }

  const workerReady = (l: LogLine): boolean =>
    l.url !== undefined && l.msg?.startsWith('kgw gateway ready') === true;
  const allReady = (l: LogLine): boolean => l.component === 'primary' && / workers ready /.test(l.msg ?? '');

  function env(extra: Record<string, string>): Record<string, string> {
    return {
      KGW_HTTP_WORKERS: '2',
      KGW_KUBE_MODE: 'kubeconfig',
      KGW_KUBECONFIG: simKubeconfig,
      KGW_AUTH_TOKEN_FILE: join(root, 'tokens.csv'),
      KGW_HTTP_SHUTDOWN_GRACE_MS: '2000',
      KGW_AUDIT_SPOOL_DIR: join(root, `spool-${Date.now()}`),
      POD_NAME: 'kgw-test',
      ...extra,
    };
  }

  it('spreads connections over the workers, replaces a killed one, and records every request in its chain', async () => {
    pg = await startTestPostgres();
    const metricsPort = await freePort();
    gateway = await startGatewayProcess(
      env({
        DATABASE_URL: pg.url,
        KGW_METRICS_PORT: String(metricsPort),
        KGW_AUTH_ADMIN_GROUPS: 'kgw:admins',
      }),
    );
    await logged(allReady);
    const workers = (await logged(workerReady, 2)).map((l) => l.pid!);
    expect(new Set(workers).size).toBe(2);

    const first = await Promise.all(
      Array.from({ length: 20 }, () => get(gateway!.url, '/api/v1/namespaces/default/pods')),
    );
    expect(first.map((r) => r.status)).toEqual(Array(20).fill(200));

    // The metrics count every worker's requests, whichever worker a scrape reaches, and on the
    // primary's scrape port too (a request is counted once its response closed on the worker).
    const listPods = { verb: 'list', resource: 'pods', code: '200', decision: 'allow' };
    const scrapes = async (): Promise<number[]> =>
      Promise.all([
        get(gateway!.url, '/kgw/metrics'),
        get(gateway!.url, '/kgw/metrics'),
        get(`http://127.0.0.1:${metricsPort}`, '/metrics'),
      ]).then((all) => all.map((r) => sampleValue(r.body, 'kgw_requests_total', listPods)));
    let counted = await scrapes();
    for (let i = 0; i < 100 && counted.some((n) => n < 20); i++) {
      await new Promise((r) => setTimeout(r, 50));
      counted = await scrapes();
    }
    expect(counted).toEqual([20, 20, 20]);

    const db = new Pool({ connectionString: pg.url, max: 1 });
    try {
      const countOf = async (ids: string[]): Promise<Map<string, number>> => {
        const rows = await db.query<{ instance: string; n: string }>(
          'SELECT instance, count(*)::text AS n FROM audit_event WHERE request_id = ANY($1) GROUP BY instance',
          [ids],
        );
        return new Map(rows.rows.map((r) => [r.instance, Number(r.n)]));
      };
      // Records are durable within the flush interval; wait for all 20 before killing a worker.
      const firstIds = first.map((r) => r.requestId);
      let perInstance = await countOf(firstIds);
      for (let i = 0; i < 100 && [...perInstance.values()].reduce((a, b) => a + b, 0) < 20; i++) {
        await new Promise((r) => setTimeout(r, 50));
        perInstance = await countOf(firstIds);
      }
      // Round-robin: both workers served, each in its own chain.
      expect([...perInstance.keys()].sort()).toEqual(['kgw-test-w1', 'kgw-test-w2']);
      expect([...perInstance.values()].reduce((a, b) => a + b, 0)).toBe(20);

      // A worker dies: the primary starts a replacement in the same slot; the port stays open.
      process.kill(workers[0], 'SIGKILL');
      await logged((l) => l.msg === 'worker exited unexpectedly; starting a replacement');
      const replacement = (await logged(workerReady, 3))[2].pid!;
      expect(workers).not.toContain(replacement);
      const second = await Promise.all(
        Array.from({ length: 10 }, () => get(gateway!.url, '/api/v1/namespaces/default/pods')),
      );
      expect(second.map((r) => r.status)).toEqual(Array(10).fill(200));

      // SIGTERM to the primary: every worker drains and flushes before the process exits 0.
      expect(await gateway.stop('SIGTERM')).toBe(0);
      for (const pid of [workers[1], replacement]) expect(processAlive(pid)).toBe(false);
      const after = await countOf(second.map((r) => r.requestId));
      expect([...after.values()].reduce((a, b) => a + b, 0)).toBe(10);
      // The replacement continued its slot's chain: sequence numbers have no gaps or repeats.
      const chain = await db.query<{ n: string; max: string }>(
        "SELECT count(*)::text AS n, max(seq)::text AS max FROM audit_event WHERE instance = 'kgw-test-w1'",
      );
      expect(chain.rows[0].n).toBe(chain.rows[0].max);
    } finally {
      await db.end();
    }
  });

  it('the primary owns the embedded Postgres: started once for all workers, stopped after they flushed', async () => {
    const dataDir = join(root, 'pg-embedded');
    gateway = await startGatewayProcess(env({ KGW_DB_DATA_DIR: dataDir }));
    await logged(allReady);
    const { status, requestId } = await get(gateway.url, '/api/v1/namespaces/default/pods/nginx');
    expect(status).toBe(200);
    expect(await gateway.stop('SIGTERM')).toBe(0);
    // Postgres shut down cleanly with the primary, and the record was written before it did.
    expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
    const reopened = new EmbeddedPostgres({ dataDir });
    const db = new Pool({ connectionString: await reopened.start(), max: 1 });
    // A client still closing when Postgres stops gets its "terminating connection" as an 'error'
    // event, which with no listener fails the test (seen on a loaded machine) though nothing is wrong.
    db.on('error', () => undefined);
    try {
      const rows = await db.query<{ instance: string }>(
        'SELECT instance FROM audit_event WHERE request_id = $1',
        [requestId],
      );
      expect(rows.rows.map((r) => r.instance)).toEqual([expect.stringMatching(/^kgw-test-w[12]$/)]);
    } finally {
      await db.end();
      await reopened.stop();
    }
  });

  it('a worker that cannot start stops the whole gateway with a clear error', async () => {
    gateway = await startGatewayProcess(
      env({ KGW_DB_DATA_DIR: join(root, 'pg-bad'), KGW_AUTH_TOKEN_FILE: join(root, 'missing.csv') }),
    ).catch((err: Error) => {
      expect(err.message).toMatch(/exited with 1 before it was ready/);
      expect(err.message).toMatch(/missing\.csv/);
      return undefined;
    });
    expect(gateway).toBeUndefined();
  });
});

/** A port nothing listens on right now (the gateway's primary opens the metrics listener on it). */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}
