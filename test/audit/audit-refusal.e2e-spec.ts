// Nothing is served unaudited: with Postgres down and the spool impossible to write, every
// Kubernetes request is refused with a 503 Status, /kgw/readyz says why (so a load balancer
// sends traffic elsewhere), and both recover once a record can be kept again.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startGatewayStack, type GatewayStack } from '../support/gateway-stack';

let stack: GatewayStack;

beforeAll(async () => {
  stack = await startGatewayStack({
    env: { KGW_AUDIT_RETRY_INTERVAL_MS: '200', KGW_AUTH_ADMIN_GROUPS: 'kgw:admins' },
  });
});
afterAll(async () => {
  await stack?.stop();
});

interface Readiness {
  status: string;
  checks: Record<string, { ok: boolean; detail: string }>;
}

async function readiness(): Promise<{ status: number; body: Readiness }> {
  const res = await stack.request('alice', '/kgw/readyz');
  return { status: res.status, body: JSON.parse(res.body) as Readiness };
}

/** Polls until `check` holds (no event announces the writer's state to a client), for at most 30 s. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not met within 30 s');
}

it('answers 503 and reports not ready while no record can be kept, and recovers', async () => {
  const before = await readiness();
  expect(before.status).toBe(200);
  expect(before.body.checks.audit).toEqual({
    ok: true,
    detail: expect.stringMatching(/^recording \(instance .+\)$/),
  });
  const instance = /instance (.+)\)$/.exec(before.body.checks.audit.detail)![1];

  // The spool directory of this instance cannot be created (a file is in the way, which stops
  // root too), and Postgres is down: the next batch can be kept nowhere.
  const blocker = join(stack.dir, 'audit-spool', instance);
  mkdirSync(dirname(blocker), { recursive: true });
  writeFileSync(blocker, 'not a directory');
  await stack.pg.server.stop();
  try {
    // Requests keep coming; once a batch fails both ways the gateway refuses new ones.
    await eventually(
      async () => (await stack.request('alice', '/api/v1/namespaces/default/pods')).status === 503,
    );
    const refused = await stack.request('alice', '/api/v1/namespaces/default/pods');
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body)).toMatchObject({
      kind: 'Status',
      reason: 'ServiceUnavailable',
      message: expect.stringContaining('audit trail'),
    });
    const notReady = await readiness();
    expect(notReady.status).toBe(503);
    expect(notReady.body.checks.audit.ok).toBe(false);
  } finally {
    rmSync(blocker, { force: true });
    await stack.pg.server.start();
  }
  await eventually(
    async () => (await stack.request('alice', '/api/v1/namespaces/default/pods')).status === 200,
  );
  expect((await readiness()).status).toBe(200);
});
