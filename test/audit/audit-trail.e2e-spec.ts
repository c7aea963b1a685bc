// The audit trail end to end: real kubectl traffic through the gateway becomes exactly the
// expected rows in Postgres; the query routes, export formats and live tail show them to the
// right people; a hand-edited row is caught by `kgw audit verify`; no secret reaches a row; and
// Postgres going away for 30 s under load loses and duplicates nothing.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfig } from '@kgw/config';
import { startGateway } from '../../apps/gateway/src/gateway';
import { run as kgw } from '../../apps/kgw/src/main';
import { CALLERS, startGatewayStack, type CallerName, type GatewayStack } from '../support/gateway-stack';

let stack: GatewayStack;
let caFile: string;

beforeAll(async () => {
  stack = await startGatewayStack({
    // The outage test sends as fast as the gateway answers: no per-user rate limit here.
    env: { KGW_AUTH_ADMIN_GROUPS: 'kgw:admins', KGW_LIMITS_USER_RATE: '0', KGW_LIMITS_TOKEN_RATE: '0' },
  });
  caFile = join(stack.dir, 'ca.crt');
  writeFileSync(caFile, stack.caPem);
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

interface Row {
  id: string;
  request_id: string;
  kind: string;
  auth_user: string | null;
  auth_method: string | null;
  kube_user: string | null;
  kube_groups: string[];
  verb: string | null;
  resource: string | null;
  subresource: string | null;
  namespace: string | null;
  name: string | null;
  path: string;
  query: string | null;
  code: number;
  decision: string;
  bytes_in: string;
  bytes_out: string;
  stream_ms: number | null;
  transport: string | null;
  seq: string;
}

async function sql<T = Row>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await stack.gateway.db.pool.query(text, params)).rows as T[];
}

async function maxId(): Promise<string> {
  return (await sql<{ id: string }>('SELECT coalesce(max(id), 0)::text AS id FROM audit_event'))[0].id;
}

async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Rows after `mark` once `count` of them exist (the writer flushes every 50 ms). */
async function rowsAfter(mark: string, count?: number): Promise<Row[]> {
  return eventually(async () => {
    const rows = await sql('SELECT * FROM audit_event WHERE id > $1 ORDER BY id', [mark]);
    return count === undefined || rows.length >= count ? rows : undefined;
  });
}

/** Discovery requests kubectl makes when its cache says so; not part of what a test asserts. */
const isDiscovery = (row: Row): boolean =>
  /^\/(api|apis|version|openapi)(\/|$)/.test(row.path) && !row.resource;

async function cli(
  args: string[],
  caller: CallerName = 'alice',
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await kgw(args, {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    env: { KGW_SERVER: stack.url, KGW_TOKEN: CALLERS[caller].token, KGW_CA_FILE: caFile },
  });
  return { code, out: out.join(''), err: err.join('') };
}

/** The built CLI as a process (as a user runs it), as carol by default. */
function kgwProcess(args: string[], caller: CallerName = 'carol') {
  const child = spawn(process.execPath, [join(__dirname, '../../dist/apps/kgw/src/main.js'), ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: stack.dir,
      KGW_SERVER: stack.url,
      KGW_TOKEN: CALLERS[caller].token,
      KGW_CA_FILE: caFile,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const waiting: Array<() => void> = [];
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
    for (const w of waiting.splice(0)) w();
  });
  const exited = new Promise<number | null>((done) =>
    child.once('exit', (code) => {
      for (const w of waiting.splice(0)) w();
      done(code);
    }),
  );
  return {
    child,
    exited,
    stderr: () => stderr,
    async stderrContains(text: string): Promise<void> {
      while (!stderr.includes(text)) {
        if (child.exitCode !== null) throw new Error(`kgw exited ${child.exitCode}: ${stderr}`);
        await new Promise<void>((r) => waiting.push(r));
      }
    },
  };
}

describe('a kubectl session', () => {
  it('produces exactly the expected rows, with identities, decisions and byte counts', async () => {
    const alice = stack.kubectl('alice');
    const carol = stack.kubectl('carol');
    // Fill kubectl's discovery caches first, so the session below is only its own requests.
    await alice.run(['get', 'ns']);
    await carol.run(['get', 'pods']);
    await eventually(async () =>
      (await sql(`SELECT * FROM audit_event WHERE auth_user = 'carol' AND resource = 'pods'`)).length > 0
        ? true
        : undefined,
    );
    const mark = await maxId();

    const got = await alice.run(['get', 'pod', 'nginx', '-o', 'name']);
    expect(got.stdout.trim()).toBe('pod/nginx');

    const curl = await stack.request('alice', '/api/v1/namespaces/default/pods/nginx');
    expect(curl.status).toBe(200);

    // The watch is live once it shows a change made after it started.
    const watch = alice.start(['get', 'configmaps', '-n', 'team-b', '-w', '--output-watch-events']);
    await watch.waitFor(/kube-root-ca\.crt/);
    await alice.run(['create', 'configmap', 'audited', '-n', 'team-b', '--from-literal=a=b']);
    await watch.waitFor(/ADDED\s+audited/);
    await watch.stop();
    // Deleted with one request (kubectl delete would poll for the object to be gone).
    expect(
      (await stack.request('alice', '/api/v1/namespaces/team-b/configmaps/audited', { method: 'DELETE' }))
        .status,
    ).toBe(200);

    const logs = alice.start(['logs', '-f', 'nginx', '--tail=0']);
    let proxied = 0;
    for (let attempt = 0; ; attempt++) {
      proxied++;
      const res = await stack.request(
        'alice',
        `/api/v1/namespaces/default/pods/nginx/proxy/echo/audit-${attempt}`,
      );
      expect(res.status).toBe(200);
      if (await logs.waitFor(/audit-\d+/, 500).catch(() => undefined)) break;
      if (attempt > 50) throw new Error('logs -f showed nothing');
    }
    await logs.stop();

    const stdin = 'through the gateway\n';
    const exec = await alice.run(['exec', '-i', 'nginx', '--', 'cat'], { stdin });
    expect(exec.stdout).toBe(stdin);

    const forward = alice.start(['port-forward', 'pod/nginx', ':80']);
    const [, port] = await forward.waitFor(/Forwarding from 127\.0\.0\.1:(\d+) -> 80/);
    const page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    expect(page).toContain('Welcome to nginx!');
    await forward.stop();

    const denied = await carol.run(['delete', 'pod', 'nginx']);
    expect(denied.code).toBe(1);

    const rows = (
      await eventually(async () => {
        const all = await rowsAfter(mark);
        return all.some((r) => r.auth_user === 'carol' && r.verb === 'delete') &&
          all.some((r) => r.subresource === 'portforward')
          ? all
          : undefined;
      })
    ).filter((r) => !isDiscovery(r));
    const summary = rows.map(
      (r) =>
        `${r.auth_user} ${r.kind} ${r.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ''} ${r.namespace}/${r.name ?? ''} ${r.code} ${r.decision}${r.transport ? ` ${r.transport}` : ''}`,
    );
    // Rows are in the order exchanges ended; compare as multisets.
    expect(summary.sort()).toEqual(
      [
        'alice request get pods default/nginx 200 allow',
        'alice request get pods default/nginx 200 allow',
        'alice request list configmaps team-b/ 200 allow',
        'alice request create configmaps team-b/ 201 allow',
        'alice stream watch configmaps team-b/ 200 allow',
        'alice request delete configmaps team-b/audited 200 allow',
        'alice request get pods default/nginx 200 allow',
        'alice stream get pods/log default/nginx 200 allow',
        ...Array.from({ length: proxied }, () => 'alice request get pods/proxy default/nginx 200 allow'),
        'alice request get pods default/nginx 200 allow',
        'alice stream create pods/exec default/nginx 101 allow websocket',
        'alice request get pods default/nginx 200 allow',
        'alice request get pods default/nginx 200 allow',
        'alice stream create pods/portforward default/nginx 101 allow websocket',
        'carol request delete pods default/nginx 403 deny',
      ].sort(),
    );

    for (const row of rows) {
      const caller = CALLERS[row.auth_user as CallerName];
      expect(row.auth_method).toBe('static-token');
      expect(row.kube_user).toBe(caller.user);
      expect(row.kube_groups).toEqual([...caller.groups]);
      expect(Number(row.seq)).toBeGreaterThan(0);
    }
    // Byte counts: the curl GET exactly; streams at least what went through them.
    const curlRow = rows.find((r) => r.request_id === curl.headers['x-request-id'])!;
    expect(Number(curlRow.bytes_out)).toBe(Buffer.byteLength(curl.body));
    expect(Number(curlRow.bytes_in)).toBe(0);
    const execRow = rows.find((r) => r.subresource === 'exec')!;
    expect(Number(execRow.bytes_in)).toBeGreaterThanOrEqual(stdin.length);
    expect(Number(execRow.bytes_out)).toBeGreaterThanOrEqual(stdin.length);
    const forwardRow = rows.find((r) => r.subresource === 'portforward')!;
    expect(Number(forwardRow.bytes_out)).toBeGreaterThanOrEqual(Buffer.byteLength(page));
    expect(Number(forwardRow.bytes_in)).toBeGreaterThan(0);
    for (const stream of rows.filter((r) => r.kind === 'stream')) expect(stream.stream_ms).toBeGreaterThan(0);
    const deniedRow = rows.find((r) => r.decision === 'deny')!;
    expect(deniedRow.bytes_out).toBe('0');
  });
});

describe('reading the trail', () => {
  it('shows admins everything and everyone else only their own records, with filters and cursors', async () => {
    await stack.request('bob', '/api/v1/namespaces/team-a/pods');
    await stack.request('carol', '/api/v1/namespaces/team-b/secrets');
    await eventually(async () =>
      (await sql(`SELECT * FROM audit_event WHERE auth_user = 'carol' AND resource = 'secrets'`)).length
        ? true
        : undefined,
    );

    const mine = JSON.parse((await stack.request('bob', '/kgw/v1/audit?limit=1000')).body);
    expect(mine.items.length).toBeGreaterThan(0);
    expect(new Set(mine.items.map((r: { authUser: string }) => r.authUser))).toEqual(new Set(['bob']));
    const others = await stack.request('bob', '/kgw/v1/audit?user=alice');
    expect(others.status).toBe(403);
    expect(JSON.parse(others.body)).toMatchObject({ error: 'forbidden', requestId: expect.any(String) });

    const denied = JSON.parse(
      (await stack.request('alice', '/kgw/v1/audit?user=carol&decision=deny&code=4xx')).body,
    );
    expect(denied.items.length).toBeGreaterThan(0);
    for (const r of denied.items) expect(r).toMatchObject({ authUser: 'carol', decision: 'deny', code: 403 });
    const secrets = JSON.parse(
      (await stack.request('alice', '/kgw/v1/audit?resource=secrets&namespace=team-b&verb=list')).body,
    );
    expect(secrets.items).toHaveLength(1);

    // Cursor pagination walks every record once, newest first.
    const total = Number((await sql<{ n: string }>('SELECT count(*)::text AS n FROM audit_event'))[0].n);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = JSON.parse(
        (await stack.request('alice', `/kgw/v1/audit?limit=7${cursor ? `&cursor=${cursor}` : ''}`)).body,
      );
      seen.push(...page.items.map((r: { id: string }) => r.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.length).toBeGreaterThanOrEqual(total);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.map(Number)).toEqual([...seen.map(Number)].sort((a, b) => b - a));

    const bad = await stack.request('alice', '/kgw/v1/audit?code=abc');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).message).toContain('code');
    expect((await stack.request(undefined, '/kgw/v1/audit')).status).toBe(401);
  });

  it('exports NDJSON and CSV, by ?format= or Accept', async () => {
    const ndjson = await stack.request('alice', '/kgw/v1/audit?user=bob', {
      headers: { accept: 'application/x-ndjson' },
    });
    expect(ndjson.headers['content-type']).toContain('application/x-ndjson');
    const lines = ndjson.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line.authUser).toBe('bob');

    const csv = await stack.request('alice', '/kgw/v1/audit?user=bob&format=csv');
    expect(csv.headers['content-type']).toContain('text/csv');
    const [header, ...records] = csv.body.trim().split('\r\n');
    expect(header.split(',').slice(0, 3)).toEqual(['time', 'requestId', 'instance']);
    expect(records).toHaveLength(lines.length);
  });

  it('tails live over SSE with the same filters, and kgw audit tail prints them', async () => {
    const tail = cli([
      'audit',
      'tail',
      '--user',
      'bob',
      '--verb',
      'get',
      '--tail',
      '0',
      '--count',
      '1',
      '--output',
      'json',
    ]);
    // The stream is open once the gateway has answered; keep making records until one shows up.
    let printed: { code: number; out: string } | undefined;
    for (let i = 0; i < 100 && !printed; i++) {
      await stack.request('carol', '/api/v1/namespaces/default/pods/nginx');
      await stack.request('bob', `/api/v1/namespaces/team-a/pods/tail-${i}`);
      printed = await Promise.race([
        tail,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)),
      ]);
    }
    expect(printed?.code).toBe(0);
    const record = JSON.parse(printed!.out.trim());
    expect(record).toMatchObject({ authUser: 'bob', verb: 'get', resource: 'pods', namespace: 'team-a' });

    const text = await cli(['audit', 'tail', '--user', 'bob', '--since', '1h', '--count', '2']);
    expect(text.code).toBe(0);
    expect(text.out.trim().split('\n')).toHaveLength(2);
    expect(text.out).toMatch(/ bob {2}allow 200 {2}(list|get) pods /);
  });
});

describe('kgw audit tail as a newcomer runs it', () => {
  it('prints the most recent records first (like tail -f), oldest first, then says it follows', async () => {
    const mark = await maxId();
    // Ten, so that the default tail (the last 10) holds only these, whatever carol did before.
    for (let i = 0; i < 10; i++) await stack.request('carol', `/api/v1/namespaces/default/pods/recent-${i}`);
    await rowsAfter(mark, 10);
    const last2 = await cli([
      'audit',
      'tail',
      '--user',
      'carol',
      '--namespace',
      'default',
      '--tail',
      '2',
      '--count',
      '2',
      '-o',
      'json',
    ]);
    expect(last2.code).toBe(0);
    expect(
      last2.out
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { name: string }).name),
    ).toEqual(['recent-8', 'recent-9']);
    // Without --tail: the last 10, at once — the README's example no longer looks like a hang.
    const recent = await cli(['audit', 'tail', '--user', 'carol', '--namespace', 'default', '--count', '3']);
    expect(recent.code).toBe(0);
    const lines = recent.out.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/ carol {2}allow \d{3} {2}(get|list) pods default/);
    // Stored records out, the command says it now waits for new ones.
    const none = kgwProcess(['audit', 'tail', '--namespace', 'no-records-here']);
    await none.stderrContains('kgw audit tail: following new records (Ctrl-C to stop)');
    none.child.kill('SIGINT');
    await none.exited;
  });

  it('ends quietly with status 0 when its reader goes away (| head)', async () => {
    const tail = kgwProcess(['audit', 'tail', '--user', 'carol', '-o', 'json']);
    // What `head -1` does: read a line, then close the pipe.
    await new Promise<void>((done) => tail.child.stdout.once('data', () => done()));
    tail.child.stdout.destroy();
    // Every new record is a write into the closed pipe.
    let exit: number | null | undefined;
    void tail.exited.then((code) => (exit = code));
    for (let i = 0; i < 200 && exit === undefined; i++) {
      await stack.request('carol', `/api/v1/namespaces/default/pods/piped-${i}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await tail.exited).toBe(0);
    expect(tail.stderr()).not.toMatch(/EPIPE|Error|at /);
  });
});

describe('tamper evidence', () => {
  it('kgw audit verify reports a hand-edited row as the first broken link', async () => {
    const intact = await cli(['audit', 'verify']);
    expect(intact.err).toBe('');
    expect(intact.out).toMatch(/audit trail intact: \d+ records in 1 chain/);
    expect(intact.code).toBe(0);

    const [victim] = await sql<{ id: string; seq: string; request_id: string; code: number }>(
      `SELECT id::text, seq::text, request_id, code FROM audit_event WHERE decision = 'deny' ORDER BY id LIMIT 1`,
    );
    // What someone covering their tracks would do: turn a denial into a success.
    await sql(`UPDATE audit_event SET code = 200, decision = 'allow' WHERE id = $1`, [victim.id]);
    const broken = await cli(['audit', 'verify']);
    expect(broken.code).toBe(1);
    expect(broken.out).toContain(
      `seq ${victim.seq} (row id ${victim.id}, request id ${victim.request_id}): hash mismatch`,
    );
    const route = JSON.parse((await stack.request('alice', '/kgw/v1/audit/verify')).body);
    expect(route.ok).toBe(false);
    expect(route.firstBroken).toMatchObject({ seq: Number(victim.seq), requestId: victim.request_id });
    expect((await stack.request('bob', '/kgw/v1/audit/verify')).status).toBe(403);

    // Deleting a record is caught at the record after it.
    await sql(`UPDATE audit_event SET code = $2, decision = 'deny' WHERE id = $1`, [victim.id, victim.code]);
    expect((await cli(['audit', 'verify'])).code).toBe(0);
    const [middle] = await sql<{ id: string; seq: string; instance: string }>(
      `SELECT id::text, seq::text, instance FROM audit_event ORDER BY seq DESC OFFSET 3 LIMIT 1`,
    );
    const saved = await sql('SELECT * FROM audit_event WHERE id = $1', [middle.id]);
    await sql('DELETE FROM audit_event WHERE id = $1', [middle.id]);
    const gap = await cli(['audit', 'verify', '--output', 'json']);
    expect(gap.code).toBe(1);
    expect(JSON.parse(gap.out).firstBroken).toMatchObject({
      seq: Number(middle.seq) + 1,
      problem: 'sequence gap: records are missing',
    });
    // Put it back so the rest of the suite starts from an intact trail.
    const row = saved[0] as unknown as Record<string, unknown>;
    const columns = Object.keys(row);
    await sql(
      `INSERT INTO audit_event (${columns.map((c) => `"${c}"`).join(',')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(',')})`,
      columns.map((c) => row[c]),
    );
    expect((await cli(['audit', 'verify'])).code).toBe(0);
  });
});

describe('one writer per chain', () => {
  it('refuses a second gateway under the same explicit instance name, and numbers an implicit one', async () => {
    expect((await stack.request('alice', '/api/v1/namespaces')).status).toBe(200);
    let taken: string | undefined;
    for (let i = 0; i < 100 && !taken; i++) {
      const { rows } = await stack.gateway.db.pool.query<{ instance: string }>(
        'SELECT instance FROM audit_event LIMIT 1',
      );
      taken = rows[0]?.instance;
      if (!taken) await new Promise((r) => setTimeout(r, 50)); // records land within the flush interval
    }
    expect(taken).toBeDefined();
    await expect(
      startGateway(loadConfig({ ...stack.env, POD_NAME: taken! }), { logDestination: new PassThrough() }),
    ).rejects.toThrow(
      `another gateway is already writing the audit trail as instance "${taken}"; give every gateway a unique POD_NAME`,
    );

    // Without POD_NAME, a second local gateway takes the next free name instead of failing.
    const { POD_NAME: _explicit, ...implicit } = stack.env;
    const second = await startGateway(loadConfig(implicit), { logDestination: new PassThrough() });
    await second.close();
  });
});

describe('redaction', () => {
  it('no token, cookie, Authorization value or secret query parameter appears in any row or log line', async () => {
    const secrets = ['s3cr3t-query-token', 'cookie-value-XYZ', 'id-token-ABC', 'client-secret-DEF'];
    await stack.request(
      'alice',
      `/api/v1/namespaces/default/pods?access_token=${secrets[0]}&labelSelector=app%3Dweb`,
      {
        headers: { cookie: `__Host-kgw_session=${secrets[1]}` },
      },
    );
    await stack.request(
      'alice',
      `/api/v1/namespaces/default/pods?id_token=${secrets[2]}&client_secret=${secrets[3]}`,
    );
    await stack.request(undefined, '/api/v1/pods', { headers: { authorization: `Bearer ${secrets[0]}` } });
    await stack.request('mallory', '/api/v1/pods');
    await eventually(async () =>
      (await sql(`SELECT * FROM audit_event WHERE query LIKE '%[redacted]%'`)).length >= 2 ? true : undefined,
    );
    // A full dump of every row, as pg_dump would print it.
    const dump = (await sql<{ row: string }>('SELECT audit_event::text AS row FROM audit_event'))
      .map((r) => r.row)
      .join('\n');
    expect(dump).toContain('labelSelector=app%3Dweb');
    const forbidden = [...secrets, ...Object.values(CALLERS).map((c) => c.token)];
    for (const secret of forbidden) expect(dump).not.toContain(secret);
    const logs = stack.logLines().join('\n');
    for (const secret of Object.values(CALLERS).map((c) => c.token)) expect(logs).not.toContain(secret);
  });
});

describe('Postgres outage', () => {
  it('stopped for 30 s under steady load and restarted: every record present exactly once', async () => {
    // Records of earlier tests' last requests may still be in the writer's queue; let them land
    // (no new row for 10 flush intervals) so none of them is counted after the mark.
    let mark = await maxId();
    for (let stable = 0; stable < 10;) {
      await new Promise((r) => setTimeout(r, 50));
      const now = await maxId();
      stable = now === mark ? stable + 1 : 0;
      mark = now;
    }
    const requestIds: string[] = [];
    const failures: number[] = [];
    let running = true;
    const worker = async (caller: CallerName, path: string): Promise<void> => {
      while (running) {
        const res = await stack.request(caller, path);
        if (res.status === 200) requestIds.push(String(res.headers['x-request-id']));
        else failures.push(res.status);
      }
    };
    const workers = [
      worker('alice', '/api/v1/namespaces/default/pods'),
      worker('bob', '/api/v1/namespaces/team-a/pods'),
      worker('carol', '/api/v1/namespaces/default/pods/nginx'),
      worker('alice', '/api/v1/namespaces/team-b/configmaps'),
    ];
    await new Promise((r) => setTimeout(r, 2000));
    const beforeOutage = requestIds.length;
    await stack.pg.server.stop();
    const stoppedAt = Date.now();
    await new Promise((r) => setTimeout(r, 30_000));
    const duringOutage = requestIds.length - beforeOutage;
    await stack.pg.server.start();
    console.info(`outage of ${Date.now() - stoppedAt} ms: ${duringOutage} requests served meanwhile`);
    await new Promise((r) => setTimeout(r, 2000));
    running = false;
    await Promise.all(workers);

    expect(failures).toEqual([]);
    expect(duringOutage).toBeGreaterThan(100);
    const rows = await eventually(async () => {
      const found = await sql<{ request_id: string; n: number }>(
        'SELECT request_id, count(*)::int AS n FROM audit_event WHERE request_id = ANY($1) GROUP BY request_id',
        [requestIds],
      );
      return found.length === requestIds.length ? found : undefined;
    }, 30_000);
    expect(rows.every((r) => r.n === 1)).toBe(true);
    const after = await sql<{ n: number }>('SELECT count(*)::int AS n FROM audit_event WHERE id > $1', [
      mark,
    ]);
    expect(after[0].n).toBe(requestIds.length);
    expect((await cli(['audit', 'verify'])).code).toBe(0);
  }, 90_000);
});
