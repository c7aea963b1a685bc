// Identity mapping to a service account in token-request mode, end to end: the gateway asks the
// API server for a short-lived token of the service account (TokenRequest, with its own
// credential) and forwards the caller's requests with that token and no Impersonate-* headers.
// The simulator's request log shows what the API server really saw.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayStack, type GatewayStack } from '../support/gateway-stack';

let stack: GatewayStack;

const DEPLOYER = 'system:serviceaccount:team-b:deployer';
const TOKEN_PATH = '/api/v1/namespaces/team-b/serviceaccounts/deployer/token';

beforeAll(async () => {
  stack = await startGatewayStack({
    env: {
      KGW_IDENTITY_RULES: JSON.stringify([
        // bob (static token, group team-a) becomes team-b/deployer by its own token.
        { match: { user: 'bob' }, serviceAccount: 'team-b/deployer', serviceAccountMode: 'token-request' },
        // A service account that does not exist: its TokenRequest fails.
        { match: { user: 'carol' }, serviceAccount: 'team-b/ghost', serviceAccountMode: 'token-request' },
      ]),
    },
  });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

describe('serviceAccountMode: token-request', () => {
  it('reaches the API server authenticated as the service account, without impersonation', async () => {
    const query = `labelSelector=kgwtokenrequest%3D${Date.now()}`;
    const res = await stack.request('bob', `/api/v1/namespaces/team-b/pods?${query}`);
    expect(res.status).toBe(200);
    const entry = await stack.sim.requestLog.waitFor((e) => e.query === query);
    expect(entry.authMethod).toBe('serviceaccount');
    expect(entry.authenticatedUser?.username).toBe(DEPLOYER);
    expect(entry.user?.username).toBe(DEPLOYER);
    expect(entry.impersonation === undefined || Object.keys(entry.impersonation).length === 0).toBe(true);
    // The token was requested by the gateway itself, never under impersonation.
    const tokenRequest = stack.sim.requestLog.entries.find((e) => e.path === TOKEN_PATH);
    expect(tokenRequest).toMatchObject({
      method: 'POST',
      status: 201,
      authenticatedUser: { username: 'system:serviceaccount:kgw-system:kgw' },
    });
    expect(
      tokenRequest?.impersonation === undefined || Object.keys(tokenRequest.impersonation).length === 0,
    ).toBe(true);
  });

  it('reuses the cached token: many requests, one TokenRequest', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await stack.request('bob', `/api/v1/namespaces/team-b/configmaps`);
      expect(res.status).toBe(200);
    }
    const tokenRequests = stack.sim.requestLog.entries.filter((e) => e.path === TOKEN_PATH);
    expect(tokenRequests).toHaveLength(1);
  });

  it('works with kubectl: get, apply, delete, exec — all as the service account', async () => {
    const before = stack.sim.requestLog.entries.length;
    const bob = stack.kubectl('bob');
    const pods = await bob.run(['get', 'pods', '-n', 'team-b']);
    expect(pods.code).toBe(0);
    expect(pods.stdout).toContain('worker');

    const dir = mkdtempSync(join(tmpdir(), 'kgw-token-request-'));
    const manifest = join(dir, 'cm.yaml');
    writeFileSync(
      manifest,
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kgw-token-request\n  namespace: team-b\ndata:\n  color: green\n',
    );
    const applied = await bob.run(['apply', '-f', manifest]);
    expect(applied.stdout.trim()).toBe('configmap/kgw-token-request created');
    const deleted = await bob.run(['delete', '-f', manifest]);
    expect(deleted.stdout.trim()).toBe('configmap "kgw-token-request" deleted');

    const exec = await bob.run(['exec', '-n', 'team-b', 'worker', '--', 'echo', 'hello-from-sa']);
    expect(exec.code).toBe(0);
    expect(exec.stdout).toContain('hello-from-sa');

    // Team-a is not the service account's: RBAC denies, worded for the service account.
    const denied = await bob.run(['get', 'pods', '-n', 'team-a']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain(DEPLOYER);

    const proxied = stack.sim.requestLog.entries
      .slice(before)
      .filter((e) => e.path.startsWith('/api/v1/namespaces/team-b/') && !e.path.endsWith('/token'));
    expect(proxied.length).toBeGreaterThan(0);
    for (const entry of proxied) {
      expect(entry.authMethod).toBe('serviceaccount');
      expect(entry.authenticatedUser?.username).toBe(DEPLOYER);
      expect(entry.impersonation === undefined || Object.keys(entry.impersonation).length === 0).toBe(true);
    }
  });

  it('answers 503 when no token can be had, and never falls back to the gateway identity', async () => {
    const marker = `kgw-ghost-${Date.now()}`;
    const before = stack.sim.requestLog.entries.length;
    // /version is open to every authenticated identity, so the pre-check allows it.
    const res = await stack.request('carol', `/version?${marker}`);
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
    const seen = stack.sim.requestLog.entries.slice(before);
    expect(
      seen.some(
        (e) => e.path === '/api/v1/namespaces/team-b/serviceaccounts/ghost/token' && e.status === 404,
      ),
    ).toBe(true);
    expect(seen.some((e) => e.query.includes(marker))).toBe(false);

    // Failures are not cached: the next request asks again.
    const again = await stack.request('carol', '/version');
    expect(again.status).toBe(503);
    const asks = stack.sim.requestLog.entries
      .slice(before)
      .filter((e) => e.path === '/api/v1/namespaces/team-b/serviceaccounts/ghost/token');
    expect(asks).toHaveLength(2);
  });

  it('never logs the service-account token', () => {
    const log = stack.logLines().join('\n');
    expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./);
  });
});
