// Two gateway processes (the built dist/, as pods run it) on one Postgres and one simulator,
// named by the Downward API as two pods would be: a browser session from a real OIDC login on
// one works on the other, a personal token minted on one works on the other, a revocation or a
// logout on one holds on the other (the open watch the other replica serves is cut: the event
// this suite awaits), every audit row names the replica that wrote it, and the SSE audit tail
// of each replica shows the records of both.
import { request as httpsRaw } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { browserLogin } from '../support/browser-login';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process';
import {
  httpsRequest,
  startGatewayStack,
  type GatewayStack,
  type HttpResult,
} from '../support/gateway-stack';
import { parseSamples } from '../support/prometheus-text';

let stack: GatewayStack;
const replicas: Record<'a' | 'b', GatewayProcess> = {} as Record<'a' | 'b', GatewayProcess>;
/** The figures this suite measures, printed once at the end (never asserted: no wall-clock thresholds). */
const measured: Record<string, number> = {};

const POD = {
  a: { POD_NAME: 'kgw-7d9f-a', POD_NAMESPACE: 'kgw-system', POD_IP: '127.0.0.1', NODE_NAME: 'node-1' },
  b: { POD_NAME: 'kgw-7d9f-b', POD_NAMESPACE: 'kgw-system', POD_IP: '127.0.0.1', NODE_NAME: 'node-2' },
};

beforeAll(async () => {
  stack = await startGatewayStack({ oidc: true });
  // The stack's own (in-process) gateway stays idle; the replicas are processes of their own.
  const env = { ...stack.env, KGW_LOG_LEVEL: 'info', KGW_AUTH_ADMIN_GROUPS: 'kgw:admins' };
  [replicas.a, replicas.b] = await Promise.all([
    startGatewayProcess({ ...env, ...POD.a }),
    startGatewayProcess({ ...env, ...POD.b }),
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.all(Object.values(replicas).map((replica) => replica?.stop()));
  await stack?.stop();
  if (Object.keys(measured).length > 0) console.log(`replicas: measured ${JSON.stringify(measured)}`);
});

function call(
  replica: 'a' | 'b',
  path: string,
  init: { token?: string; method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpResult> {
  return httpsRequest(replicas[replica].url, stack.caPem, init.token, path, init);
}

const ALICE = 'tok-alice-0123456789';

/** A long-running GET on a replica: resolves once the answer started, with a promise of its end. */
function openStream(
  replica: 'a' | 'b',
  path: string,
  token: string,
): Promise<{ res: IncomingMessage; ended: Promise<number>; text: () => string; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = httpsRaw(
      `${replicas[replica].url}${path}`,
      { ca: stack.caPem, headers: { authorization: `Bearer ${token}` }, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        // The moment the replica cut the stream (performance.now(), for the measured figures).
        const ended = new Promise<number>((done) => res.once('close', () => done(performance.now())));
        resolve({ res, ended, text: () => text, close: () => req.destroy() });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Waits until `test` holds for what a stream received (events: no fixed sleeps). */
async function until(stream: { res: IncomingMessage; text: () => string }, test: (text: string) => boolean) {
  while (!test(stream.text())) {
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        stream.res.off('data', done);
        stream.res.off('close', closed);
        resolve();
      };
      const closed = (): void =>
        reject(new Error(`stream closed before the awaited data:\n${stream.text()}`));
      stream.res.on('data', done);
      stream.res.once('close', closed);
    });
  }
}

describe('two replicas on one database', () => {
  it('a browser session from a login on one replica works on the other; logout on the other ends it on both', async () => {
    const login = await browserLogin({ ...stack, url: replicas.a.url }, 'bob');
    expect(login.status).toBe(302);
    expect(login.session).toBeDefined();
    // The cookie jar is per host, as a browser's: 127.0.0.1 on B's port gets the same cookie.
    for (const replica of ['a', 'b'] as const) {
      const me = await login.browser.fetch(`${replicas[replica].url}/kgw/v1/me`, {
        headers: { accept: 'application/json' },
      });
      expect(me.status).toBe(200);
      expect(JSON.parse(me.body)).toMatchObject({ kubernetes: { username: 'bob' } });
      const pods = await login.browser.fetch(`${replicas[replica].url}/api/v1/namespaces/team-a/pods`, {
        headers: { accept: 'application/json' },
      });
      expect(pods.status).toBe(200);
    }
    // A personal token minted by the session on A, used on B.
    const me = JSON.parse(
      (await login.browser.fetch(`${replicas.a.url}/kgw/v1/me`, { headers: { accept: 'application/json' } }))
        .body,
    ) as { csrfToken: string };
    const minted = await login.browser.fetch(`${replicas.a.url}/kgw/v1/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
      body: JSON.stringify({ name: 'from-replica-a' }),
    });
    expect(minted.status).toBe(201);
    const { token } = JSON.parse(minted.body) as { token: string };
    expect((await call('b', '/api/v1/namespaces/team-a/pods', { token })).status).toBe(200);

    // Logout on B (the session row goes, with the tokens it minted): A reads sessions from the
    // database on every request, so the next request there is refused already.
    const meOnB = JSON.parse(
      (await login.browser.fetch(`${replicas.b.url}/kgw/v1/me`, { headers: { accept: 'application/json' } }))
        .body,
    ) as { csrfToken: string };
    const watchOnA = await openStream('a', '/api/v1/namespaces/team-a/pods?watch=1', token);
    expect(watchOnA.res.statusCode).toBe(200);
    const asked = performance.now();
    const loggedOut = await login.browser.fetch(`${replicas.b.url}/kgw/auth/logout`, {
      method: 'POST',
      headers: { 'x-csrf-token': meOnB.csrfToken, accept: 'application/json' },
    });
    expect(loggedOut.status).toBe(200);
    expect(
      (await login.browser.fetch(`${replicas.a.url}/kgw/v1/me`, { headers: { accept: 'application/json' } }))
        .status,
    ).toBe(401);
    // The session's token went with it: A hears the revocation and cuts the watch it serves.
    measured.logoutCutsWatchOnOtherReplicaMs = Math.round((await watchOnA.ended) - asked);
    expect((await call('a', '/api/v1/namespaces/team-a/pods', { token })).status).toBe(401);
  });

  it('a personal token created on one replica works on the other; revoked on one, the other refuses it next', async () => {
    const created = await call('b', '/kgw/v1/tokens', {
      token: ALICE,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'replicas' }),
    });
    expect(created.status).toBe(201);
    const { token, id } = JSON.parse(created.body) as { token: string; id: string };
    // Both replicas now hold the token in their caches.
    for (const replica of ['a', 'b'] as const)
      expect((await call(replica, '/api/v1/namespaces/default/pods', { token })).status).toBe(200);
    const watchOnA = await openStream('a', '/api/v1/namespaces/default/pods?watch=1', token);
    expect(watchOnA.res.statusCode).toBe(200);

    const asked = performance.now();
    const revoked = await call('b', `/kgw/v1/tokens/${id}`, { token: ALICE, method: 'DELETE' });
    expect(revoked.status).toBe(200);
    // B refuses at once (it revoked); A once it heard the NOTIFY — which also cuts the watch.
    expect((await call('b', '/api/v1/namespaces/default/pods', { token })).status).toBe(401);
    const cut = await watchOnA.ended;
    // From the DELETE sent to B to the watch on A cut (an upper bound of the NOTIFY's latency:
    // it includes B's own work and the commit).
    measured.revocationReachesOtherReplicaMs = Math.round(cut - asked);
    const refused = await call('a', '/api/v1/namespaces/default/pods', { token });
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body)).toMatchObject({ kind: 'Status', code: 401 });
  });

  it('names each replica in its audit rows, and either replica tails the records of both', async () => {
    const tails = {
      a: await openStream('a', '/kgw/v1/audit/stream?kind=request', ALICE),
      b: await openStream('b', '/kgw/v1/audit/stream?kind=request', ALICE),
    };
    try {
      for (const tail of Object.values(tails)) await until(tail, (text) => text.includes('event: caught-up'));
      const onA = await call('a', '/api/v1/namespaces/team-a/configmaps', { token: ALICE });
      const onB = await call('b', '/api/v1/namespaces/team-b/configmaps', { token: ALICE });
      const ids = { a: String(onA.headers['audit-id']), b: String(onB.headers['audit-id']) };
      expect(ids.a).not.toBe(ids.b);
      for (const [name, tail] of Object.entries(tails)) {
        await until(tail, (text) => text.includes(ids.a) && text.includes(ids.b));
        const records = events(tail.text());
        expect({ tail: name, record: records.find((r) => r.requestId === ids.a) }).toMatchObject({
          record: { instance: POD.a.POD_NAME, namespace: 'team-a', resource: 'configmaps', code: 200 },
        });
        expect({ tail: name, record: records.find((r) => r.requestId === ids.b) }).toMatchObject({
          record: { instance: POD.b.POD_NAME, namespace: 'team-b', resource: 'configmaps', code: 200 },
        });
        // Each record once, though it reached the tail through a different path on each replica.
        expect(records.filter((r) => r.requestId === ids.a)).toHaveLength(1);
        expect(records.filter((r) => r.requestId === ids.b)).toHaveLength(1);
      }
      // The stored rows say the same, read through either replica.
      const trail = JSON.parse(
        (await call('a', '/kgw/v1/audit?resource=configmaps&limit=20', { token: ALICE })).body,
      ) as { items: Array<{ requestId: string; instance: string }> };
      expect(trail.items.find((r) => r.requestId === ids.a)?.instance).toBe(POD.a.POD_NAME);
      expect(trail.items.find((r) => r.requestId === ids.b)?.instance).toBe(POD.b.POD_NAME);
    } finally {
      for (const tail of Object.values(tails)) tail.close();
    }
  });

  it('tells admins which pod answered (readiness details, kgw_instance_info), and nobody else', async () => {
    for (const replica of ['a', 'b'] as const) {
      const ready = await call(replica, '/kgw/readyz', { token: ALICE });
      const admin = JSON.parse(ready.body) as { instance: unknown };
      expect(admin.instance).toEqual({
        name: POD[replica].POD_NAME,
        namespace: 'kgw-system',
        ip: '127.0.0.1',
        node: POD[replica].NODE_NAME,
      });
      const anonymous = await call(replica, '/kgw/readyz');
      expect(anonymous.body).not.toContain(POD[replica].POD_NAME);
      expect(anonymous.body).not.toContain(POD[replica].NODE_NAME);
      const metrics = parseSamples((await call(replica, '/kgw/metrics', { token: ALICE })).body);
      expect(metrics.filter((sample) => sample.name === 'kgw_instance_info')).toEqual([
        {
          name: 'kgw_instance_info',
          labels: {
            gateway_instance: POD[replica].POD_NAME,
            pod_namespace: 'kgw-system',
            pod_ip: '127.0.0.1',
            node: POD[replica].NODE_NAME,
          },
          value: 1,
        },
      ]);
    }
  });
});

/** The `audit` events of an SSE text. */
function events(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n\n')
    .filter((block) => block.includes('event: audit'))
    .map((block) => JSON.parse(/^data: (.*)$/m.exec(block)![1]) as Record<string, unknown>);
}
