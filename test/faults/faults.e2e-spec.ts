// Faults (issue #17): what the gateway does when what it depends on fails, and that it recovers
// without a restart. The API server sits behind a FaultProxy (test/support/fault-proxy.ts) that
// refuses, resets or stalls its connections; the OpenID provider is stopped outright. Then many
// real kubectl clients at once, mixing get, watch, logs -f and exec.
//
// Rows are named R<n> in docs/security.md.
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { encodeFrame, FrameType, SUBPROTOCOL, type Hello } from '@kgw/tunnel';
import { browserLogin } from '../support/browser-login';
import { CALLERS, startGatewayStack, type GatewayStack, type HttpResult } from '../support/gateway-stack';
import type { FaultProxy } from '../support/fault-proxy';
import type { KubectlRunner, LongRunningKubectl } from '../support/kubectl';

const RESPONSE_TIMEOUT_SECONDS = 2;
const PODS = '/api/v1/namespaces/default/pods';
let stack: GatewayStack;
let faults: FaultProxy;

beforeAll(async () => {
  stack = await startGatewayStack({
    oidc: true,
    upstreamFaults: true,
    env: { KGW_KUBE_RESPONSE_TIMEOUT_SECONDS: String(RESPONSE_TIMEOUT_SECONDS) },
  });
  faults = stack.upstreamFaults!;
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

function status(res: HttpResult): { code: number; reason: string; message: string } {
  expect(res.headers['content-type']).toBe('application/json');
  const body = JSON.parse(res.body) as { kind: string; code: number; reason: string; message: string };
  expect(body.kind).toBe('Status');
  expect(body.code).toBe(res.status);
  return body;
}

/** The next audit record of a request to `path` with this status, as the trail has it. */
async function audited(code: number): Promise<{ decision: string; reason: string }> {
  for (;;) {
    const { rows } = await stack.gateway.db.pool.query<{ decision: string; reason: string }>(
      `SELECT decision, reason FROM audit_event WHERE code = $1 AND path = $2 ORDER BY time DESC LIMIT 1`,
      [code, PODS],
    );
    if (rows[0]) return rows[0];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** R1–R4: the API server's faults, against whichever stack `stack` and `faults` are now. */
function apiServerFaultRows(): void {
  afterEach(async () => {
    await faults.setMode('pass');
  });

  it('R1 fault: the API server is down (connections refused) → 503 Status at once, audited; served again when it is back, no restart', async () => {
    expect((await stack.request('alice', PODS)).status).toBe(200);
    await faults.setMode('down');
    for (const caller of ['alice', 'bob'] as const) {
      // alice's review is cached (the forward fails), bob's is not (the review fails): both 503.
      const res = await stack.request(caller, PODS);
      expect(res.status).toBe(503);
      expect(status(res)).toMatchObject({
        reason: 'ServiceUnavailable',
        message: expect.stringMatching(/could not be reached/),
      });
      expect(res.headers['retry-after']).toBe('1');
    }
    expect(await audited(503)).toMatchObject({ decision: 'error' });
    await faults.setMode('pass');
    expect((await stack.request('alice', PODS)).status).toBe(200);
    const kubectl = await stack.kubectl('bob').run(['get', 'pods', '-n', 'team-a']);
    expect(kubectl.stderr).toBe('');
    expect(kubectl.code).toBe(0);
  });

  it('R2 fault: the API server resets every connection → 503 Status, an open watch is cut (not left hanging); recovery', async () => {
    const watch = stack.kubectl('alice').start(['get', 'pods', '-w', '--request-timeout=0']);
    await watch.waitFor(/nginx/);
    await faults.setMode('reset');
    // kubectl's watch ends (it may retry the watch and fail on the reset too): never hangs.
    await watch.exited;
    const res = await stack.request('alice', PODS);
    expect(res.status).toBe(503);
    expect(status(res).reason).toBe('ServiceUnavailable');
    await faults.setMode('pass');
    expect((await stack.request('alice', PODS)).status).toBe(200);
  });

  it(`R3 fault: the API server stalls (accepts, never answers) → 504 Timeout Status after KGW_KUBE_RESPONSE_TIMEOUT_SECONDS, not a hang; recovery`, async () => {
    expect((await stack.request('alice', PODS)).status).toBe(200);
    await faults.setMode('stall');
    const res = await stack.request('alice', PODS);
    expect(res.status).toBe(504);
    expect(status(res)).toMatchObject({ reason: 'Timeout', message: expect.stringMatching(/^Timeout: /) });
    expect(await audited(504)).toMatchObject({
      decision: 'error',
      reason: expect.stringMatching(/did not answer/),
    });
    await faults.setMode('pass');
    // The stalled connection either answers again or was found dead by a PING and replaced.
    expect((await stack.request('alice', PODS)).status).toBe(200);
    const kubectl = await stack.kubectl('alice').run(['get', 'pods']);
    expect(kubectl.code).toBe(0);
  });

  it('R4 (allowed) the response timeout never cuts long-running requests: a watch, logs -f and exec idle past it go on', async () => {
    const alice = stack.kubectl('alice');
    const watch = alice.start(['get', 'configmaps', '-n', 'team-b', '-w', '--request-timeout=0']);
    const logs = alice.start(['logs', '-f', 'nginx', '--tail=0']);
    const exec = alice.start(['exec', '-i', 'nginx', '--', 'cat']);
    exec.child.stdin!.write('before\n');
    await exec.waitFor(/before/);
    await watch.waitFor(/NAME|No resources/);
    // Idle for longer than the response timeout: each must still be open and working.
    await new Promise((resolve) => setTimeout(resolve, (RESPONSE_TIMEOUT_SECONDS + 1) * 1000));
    exec.child.stdin!.write('after\n');
    await exec.waitFor(/after/);
    expect((await alice.run(['create', 'configmap', 'f4-late', '-n', 'team-b'])).code).toBe(0);
    await watch.waitFor(/f4-late/);
    await seenInLogs(logs, 'f4-after-idle');
    for (const stream of [watch, logs, exec]) expect(stream.child.exitCode).toBeNull();
    await Promise.all([watch.stop(), logs.stop(), exec.stop()]);
  });
}

describe('faults: the API server (HTTP/2 upstream) down, resetting or slow', () => {
  apiServerFaultRows();
});

describe('faults: the API server down, resetting or slow, over HTTP/1.1 (KGW_KUBE_HTTP2=off)', () => {
  // The same rows through the HTTP/1.1 upstream client (undici's pool): its own stack, swapped in
  // for these rows only.
  let saved: { stack: GatewayStack; faults: FaultProxy } | undefined;
  beforeAll(async () => {
    saved = { stack, faults };
    stack = await startGatewayStack({
      upstreamFaults: true,
      env: { KGW_KUBE_RESPONSE_TIMEOUT_SECONDS: String(RESPONSE_TIMEOUT_SECONDS), KGW_KUBE_HTTP2: 'off' },
    });
    faults = stack.upstreamFaults!;
  }, 120_000);
  afterAll(async () => {
    const http1Stack = stack;
    if (saved) ({ stack, faults } = saved);
    if (http1Stack !== saved?.stack) await http1Stack?.stop();
  });

  it('the gateway speaks HTTP/1.1 to the API server here', async () => {
    expect((await stack.request('alice', PODS)).status).toBe(200);
    const [get] = stack.sim.requestLog.find((e) => e.path === PODS && e.impersonation?.user === 'alice');
    expect(get.httpVersion).toBe('1.1');
  });
  apiServerFaultRows();
});

/** Makes marked requests through the pod proxy until one shows in `logs -f` (no attach signal). */
async function seenInLogs(logs: LongRunningKubectl, mark: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const res = await stack.request('alice', `${PODS}/nginx/proxy/echo/${mark}-${attempt}`);
    expect(res.status).toBe(200);
    if (await logs.waitFor(new RegExp(`${mark}-\\d+`), 500).catch(() => undefined)) return;
    if (attempt > 100) throw new Error(`logs -f showed nothing: ${logs.stderr}`);
  }
}

describe('load: 40 kubectl clients at once', () => {
  // Issue #17 asks for a minute of this; npm test runs a bounded version (each client does a
  // fixed amount of work, about 15 s on an idle machine) so the suite stays fast. The mix and
  // the concurrency are the issue's; only the duration is shorter.
  const CLIENTS = 40;
  const GETS_PER_CLIENT = 3;
  // Its own stack, with the default upstream deadline: the 2 s one that R3 needs would turn "no
  // error under load" into "every answer within 2 s", a wall-clock bound a busy CI machine misses
  // (seen: 504s on GET pods/nginx while the machine ran at load 7).
  let saved: GatewayStack | undefined;
  beforeAll(async () => {
    saved = stack;
    stack = await startGatewayStack({});
  }, 120_000);
  afterAll(async () => {
    const loadStack = stack;
    if (saved) stack = saved;
    if (loadStack !== saved) await loadStack?.stop();
  });

  it('R5 load: 40 parallel kubectl clients mixing get, watch, logs -f and exec → no error', async () => {
    const started = new Date();
    const runners: KubectlRunner[] = [];
    for (let i = 0; i < 4; i++) runners.push(stack.kubectlWithToken(`load-${i}`, CALLERS.alice.token));
    const jobs: Array<Promise<string[]>> = [];
    for (let client = 0; client < CLIENTS; client++) {
      const kubectl = runners[client % runners.length];
      const kind = client % 4;
      jobs.push(
        (async (): Promise<string[]> => {
          const errors: string[] = [];
          if (kind === 0) {
            for (let i = 0; i < GETS_PER_CLIENT; i++) {
              const got = await kubectl.run(['get', 'pods', '-A'], { timeoutMs: 120_000 });
              if (got.code !== 0 || got.stderr) errors.push(`get: ${got.code} ${got.stderr}`);
            }
            return errors;
          }
          const stream =
            kind === 1
              ? kubectl.start(['get', 'pods', '-w', '--request-timeout=0'])
              : kind === 2
                ? kubectl.start(['logs', '-f', 'nginx', '--tail=1'])
                : kubectl.start(['exec', '-i', 'nginx', '--', 'cat']);
          if (kind === 3) stream.child.stdin!.write(`client-${client}\n`);
          const expected = kind === 1 ? /nginx/ : kind === 2 ? /\S/ : new RegExp(`client-${client}`);
          await stream
            .waitFor(expected, 120_000)
            .catch((err: Error) => errors.push(`${kind}: ${err.message}`));
          // Still open, and it ends only because we end it.
          if (stream.child.exitCode !== null) errors.push(`stream ${kind} ended: ${stream.stderr}`);
          if (kind === 3) {
            stream.child.stdin!.end();
            const code = await stream.exited;
            if (code !== 0 || stream.stderr) errors.push(`exec: ${code} ${stream.stderr}`);
          } else {
            if (stream.stderr) errors.push(`stream ${kind}: ${stream.stderr}`);
            await stream.stop();
          }
          return errors;
        })(),
      );
    }
    const errors = (await Promise.all(jobs)).flat();
    expect(errors).toEqual([]);
    // Every exchange was audited as allowed: none refused or failed along the way.
    const { rows } = await stack.gateway.db.pool.query<{ path: string; code: number; reason: string }>(
      `SELECT path, code, reason FROM audit_event WHERE time >= $1 AND (code >= 400 OR decision <> 'allow')`,
      [started],
    );
    expect(rows).toEqual([]);
  }, 300_000);
});

describe('faults: a kgw forward client leaves while the API server is slow', () => {
  afterEach(async () => {
    await faults.setMode('pass');
  });

  it('R7 fault: the API server stalls while a tunnel resolves its targets and the client leaves before the Welcome → the tunnel ends, audited, its long-running slot given back (not leaked)', async () => {
    // The CLI gives up on a Welcome that does not come and tries again: every such attempt left a
    // tunnel behind (its close came before the tunnel listened), holding one of the user's
    // long-running slots until the process restarted.
    const tunnelsOfAlice = async (): Promise<number> => {
      const res = await stack.request('alice', '/kgw/v1/forwards');
      expect(res.status).toBe(200);
      return (JSON.parse(res.body) as { items: unknown[] }).items.length;
    };
    expect(await tunnelsOfAlice()).toBe(0);
    await faults.setMode('stall');
    const ws = new WebSocket(`${stack.url.replace(/^https/, 'wss')}/kgw/v1/forward`, SUBPROTOCOL, {
      ca: stack.caPem,
      headers: { authorization: `Bearer ${CALLERS.alice.token}` },
    });
    await new Promise<void>((opened, failed) => ws.once('open', opened).once('error', failed));
    const hello: Hello = {
      version: 1,
      targets: [{ namespace: 'default', kind: 'pod', name: 'nginx', port: 80, protocol: 'tcp' }],
    };
    ws.send(encodeFrame({ type: FrameType.Hello, stream: 0, hello }));
    // The gateway is resolving the target now (its read of the pod stalls): the tunnel exists.
    for (let i = 0; i < 100 && (await tunnelsOfAlice()) === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await tunnelsOfAlice()).toBe(1);
    const closed = new Promise<void>((done) => ws.once('close', () => done()));
    ws.close();
    await closed;
    // The stalled read times out (KGW_KUBE_RESPONSE_TIMEOUT_SECONDS): the tunnel must end then.
    const { rows } = await (async () => {
      for (let i = 0; ; i++) {
        const result = await stack.gateway.db.pool.query<{ reason: string }>(
          `SELECT reason FROM audit_event WHERE kind = 'tunnel' AND reason LIKE '%before the Welcome%'`,
        );
        if (result.rows.length > 0 || i > 300) return result;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    expect(rows).toHaveLength(1);
    expect(await tunnelsOfAlice()).toBe(0);
  }, 120_000);
});

describe('faults: the OpenID provider down', () => {
  it('R6 fault: the provider is down → sessions (also when due for refresh), personal tokens and known JWTs keep working; a new login gets a clear 503 page', async () => {
    const { browser, session } = await browserLogin(stack, 'alice');
    expect(session).toBeDefined();
    const me = JSON.parse((await browser.fetch(`${stack.url}/kgw/v1/me`)).body) as { csrfToken: string };
    const created = await browser.fetch(`${stack.url}/kgw/v1/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
      body: JSON.stringify({ name: 'during the outage' }),
    });
    expect(created.status).toBe(201);
    const pat = (JSON.parse(created.body) as { token: string }).token;
    const idHash = createHash('sha256').update(session!).digest('hex');
    const { rows } = await stack.gateway.db.pool.query<{ id_token: string; refresh_token: string | null }>(
      'SELECT id_token, refresh_token FROM browser_session WHERE id_hash = $1',
      [idHash],
    );
    const jwt = rows[0].id_token;
    expect(rows[0].refresh_token).not.toBeNull();
    const withJwt = (): Promise<HttpResult> =>
      stack.request(undefined, PODS, { headers: { authorization: `Bearer ${jwt}` } });
    // The gateway has the provider's keys once it has verified a JWT.
    expect((await withJwt()).status).toBe(200);

    await stack.oidc!.stop();

    const withSession = (): Promise<HttpResult> =>
      stack.request(undefined, PODS, { headers: { cookie: `__Host-kgw_session=${session!}` } });
    expect((await withSession()).status).toBe(200);
    expect(
      (await stack.request(undefined, PODS, { headers: { authorization: `Bearer ${pat}` } })).status,
    ).toBe(200);
    expect((await withJwt()).status).toBe(200);
    // Due for refresh now: the refresh cannot reach the provider, and the session goes on.
    await stack.gateway.db.pool.query(
      `UPDATE browser_session SET refresh_at = now() - interval '1 second' WHERE id_hash = $1`,
      [idHash],
    );
    expect((await withSession()).status).toBe(200);
    expect((await withSession()).status).toBe(200);
    expect(
      stack.logLines().some((line) => line.includes('identity provider unreachable; session kept')),
    ).toBe(true);

    const login = await stack.request(undefined, '/kgw/auth/login', { headers: { accept: 'text/html' } });
    expect(login.status).toBe(503);
    expect(login.headers['content-type']).toMatch(/^text\/html/);
    expect(login.body).toMatch(/identity provider .* cannot be reached/);
    expect(login.body).toMatch(/Sessions and tokens already issued keep working/);
  });
});
