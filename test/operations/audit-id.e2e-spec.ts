// One audit ID end to end: the gateway's request id travels upstream as `Audit-ID` (a client's
// own Audit-ID is dropped), the API server's request log holds it for the same request, the
// response carries it back, and the gateway's audit row has it as its request id — so a line in
// the API server's audit log and the kgw record join on one ID.
import { startGatewayStack, type GatewayStack } from '../support/gateway-stack';

let stack: GatewayStack;

beforeAll(async () => {
  stack = await startGatewayStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

/** The gateway's audit row for a request id, once the writer has flushed it. */
async function auditRow(requestId: string): Promise<{ path: string; code: number; auth_user: string }> {
  for (let i = 0; i < 300; i++) {
    const { rows } = await stack.gateway.db.pool.query<{ path: string; code: number; auth_user: string }>(
      'SELECT path, code, auth_user FROM audit_event WHERE request_id = $1',
      [requestId],
    );
    if (rows.length > 0) return rows[0];
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no audit row for ${requestId}`);
}

it('sends its request id as Audit-ID upstream, drops the client one, and returns it', async () => {
  const res = await stack.request('bob', '/api/v1/namespaces/team-a/pods?limit=1', {
    headers: { 'Audit-ID': 'forged-by-the-client', 'X-Request-Id': 'also-forged' },
  });
  expect(res.status).toBe(200);
  const requestId = res.headers['x-request-id'] as string;
  expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(res.headers['audit-id']).toBe(requestId);

  const received = stack.sim.requestLog.find((e) => e.auditId === requestId);
  expect(received).toHaveLength(1);
  expect(received[0]).toMatchObject({
    path: '/api/v1/namespaces/team-a/pods',
    query: 'limit=1',
    status: 200,
  });
  expect(received[0].user?.username).toBe('bob');
  expect(stack.sim.requestLog.find((e) => e.auditId === 'forged-by-the-client')).toHaveLength(0);

  expect(await auditRow(requestId)).toMatchObject({ path: '/api/v1/namespaces/team-a/pods', code: 200 });
});

it('joins every request of a kubectl session with the API server log on the same ID', async () => {
  const mark = stack.sim.requestLog.entries.at(-1)?.seq ?? 0;
  const out = await stack.kubectl('bob').run(['get', 'pods', '-n', 'team-a', '-o', 'name']);
  expect(out.code).toBe(0);
  const reached = stack.sim.requestLog.find(
    (e) => e.seq > mark && e.user?.username === 'bob' && (e.userAgent ?? '').startsWith('kubectl'),
  );
  expect(reached.some((e) => e.path === '/api/v1/namespaces/team-a/pods')).toBe(true);
  for (const entry of reached) {
    const row = await auditRow(entry.auditId);
    expect(row).toMatchObject({ path: entry.path, code: entry.status, auth_user: 'bob' });
  }
});

it('gives a refusal of its own the same ID in the response and the audit row', async () => {
  const res = await stack.request('carol', '/api/v1/namespaces/team-b/secrets', {
    headers: { 'Audit-ID': 'forged-by-the-client' },
  });
  expect(res.status).toBe(403);
  const requestId = res.headers['x-request-id'] as string;
  expect(res.headers['audit-id']).toBe(requestId);
  expect(await auditRow(requestId)).toMatchObject({ code: 403 });
  // Refused before forwarding: the API server never saw it.
  expect(stack.sim.requestLog.find((e) => e.auditId === requestId)).toHaveLength(0);
});
