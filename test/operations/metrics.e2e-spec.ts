// /kgw/metrics after a real kubectl session: the counters say what happened, in the API server's
// terms; a watch shows as a long-running request while open; labels stay bounded when a caller
// sends made-up paths; only gateway admins may scrape.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startGatewayStack, type GatewayStack } from '../support/gateway-stack';
import { parseSamples, sampleValue } from '../support/prometheus-text';

let stack: GatewayStack;

beforeAll(async () => {
  stack = await startGatewayStack({ env: { KGW_AUTH_ADMIN_GROUPS: 'kgw:admins' } });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

async function scrape(): Promise<string> {
  const res = await stack.request('alice', '/kgw/metrics');
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.body;
}

/** Scrapes until `check` holds: a request is counted when its response has closed on the gateway. */
async function scrapeUntil(check: (text: string) => boolean): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const text = await scrape();
    if (check(text)) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('metrics never showed the expected values');
}

const LIST_PODS = {
  verb: 'list',
  group: '',
  version: 'v1',
  resource: 'pods',
  subresource: '',
  scope: 'namespace',
};

it('counts a kubectl session by verb, resource, scope, code and decision', async () => {
  const before = await scrape();
  const kubectl = stack.kubectl('bob');
  expect((await kubectl.run(['get', 'pods', '-n', 'team-a'])).code).toBe(0);
  expect((await kubectl.run(['get', 'pods', '-n', 'team-a'])).code).toBe(0);
  const denied = await kubectl.run(['get', 'secrets', '-n', 'team-b']);
  expect(denied.code).not.toBe(0);
  expect(denied.stderr).toMatch(/forbidden/);

  const allowed = { ...LIST_PODS, code: '200', decision: 'allow' };
  const deny = { ...LIST_PODS, resource: 'secrets', code: '403', decision: 'deny' };
  const after = await scrapeUntil(
    (text) =>
      sampleValue(text, 'kgw_requests_total', allowed) - sampleValue(before, 'kgw_requests_total', allowed) >=
        2 &&
      sampleValue(text, 'kgw_requests_total', deny) - sampleValue(before, 'kgw_requests_total', deny) >= 1,
  );
  const delta = (name: string, labels: Record<string, string>): number =>
    sampleValue(after, name, labels) - sampleValue(before, name, labels);
  expect(delta('kgw_requests_total', allowed)).toBe(2);
  expect(delta('kgw_requests_total', deny)).toBe(1);
  // Timed without the code label, as apiserver_request_duration_seconds is.
  expect(delta('kgw_request_duration_seconds_count', { ...LIST_PODS, decision: 'allow' })).toBe(2);
  expect(delta('kgw_request_duration_seconds_bucket', { ...LIST_PODS, decision: 'allow', le: '+Inf' })).toBe(
    2,
  );
  // Every kubectl call authenticated with bob's static token.
  expect(
    delta('kgw_authentication_attempts_total', { method: 'static-token', result: 'success' }),
  ).toBeGreaterThanOrEqual(3);
  expect(sampleValue(after, 'kgw_authorization_cache_requests_total', { result: 'miss' })).toBeGreaterThan(0);
  // No user name or token anywhere in the metrics.
  expect(after).not.toMatch(/\bbob\b/);
  expect(after).not.toMatch(/tok-/);
  // The audit trail's own figures and the process metrics are there.
  for (const name of [
    'kgw_audit_queue_depth',
    'kgw_audit_spool_bytes',
    'kgw_audit_replay_lag_seconds',
    'process_cpu_seconds_total',
    'nodejs_eventloop_lag_seconds',
  ])
    expect(parseSamples(after).some((s) => s.name === name)).toBe(true);
});

it('shows an open watch as a long-running request until it ends', async () => {
  const watch = stack.kubectl('bob').start(['get', 'pods', '-n', 'team-a', '-w', '-o', 'name']);
  try {
    await scrapeUntil((text) => sampleValue(text, 'kgw_longrunning_requests', { kind: 'watch' }) === 1);
  } finally {
    await watch.stop();
  }
  const ended = await scrapeUntil(
    (text) => sampleValue(text, 'kgw_longrunning_requests', { kind: 'watch' }) === 0,
  );
  // A watch is counted when it ends, and never timed in the latency histogram.
  expect(
    sampleValue(ended, 'kgw_requests_total', { verb: 'watch', resource: 'pods' }),
  ).toBeGreaterThanOrEqual(1);
  expect(sampleValue(ended, 'kgw_request_duration_seconds_count', { verb: 'watch' })).toBe(0);
});

it('keeps labels bounded when a caller makes up groups, versions and resources', async () => {
  for (let i = 0; i < 5; i++) {
    const res = await stack.request('alice', `/apis/attack${i}.example/v${i}/things${i}?x=${i}`);
    expect([403, 404]).toContain(res.status);
    await stack.request('alice', `/api/v${i}beta9/pods${i}`);
  }
  const text = await scrapeUntil((t) => sampleValue(t, 'kgw_requests_total', { resource: '(other)' }) >= 10);
  expect(text).not.toMatch(/attack\d|things\d|pods\d|v\dbeta9/);
});

it('refuses a scrape by a non-admin (403) and without a credential (401)', async () => {
  const bob = await stack.request('bob', '/kgw/metrics');
  expect(bob.status).toBe(403);
  expect(JSON.parse(bob.body)).toMatchObject({ error: 'forbidden', requestId: expect.any(String) });
  expect(bob.body).not.toMatch(/kgw_requests_total/);
  const anonymous = await stack.request(undefined, '/kgw/metrics');
  expect(anonymous.status).toBe(401);
});

it('the Grafana dashboard (deploy/grafana) asks only for metrics the gateway exports', async () => {
  const dashboard = JSON.parse(
    readFileSync(join(__dirname, '../../deploy/grafana/kgw-dashboard.json'), 'utf8'),
  ) as { panels: Array<{ targets: Array<{ expr: string }> }> };
  const exported = new Set(parseSamples(await scrape()).map((s) => s.name));
  const asked = new Set(
    dashboard.panels.flatMap((p) =>
      p.targets.flatMap((t) =>
        [...t.expr.matchAll(/\b((?:kgw|process|nodejs)_[a-z0-9_]+)\{/g)].map((m) => m[1]),
      ),
    ),
  );
  expect(asked.size).toBeGreaterThan(10);
  expect([...asked].filter((name) => !exported.has(name))).toEqual([]);
});
