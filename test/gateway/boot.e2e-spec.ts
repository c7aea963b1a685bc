// The gateway process as an operator meets it: boot, health, bad input, a busy data directory,
// signals. Runs the built output with plain node, exactly as `npm start` does.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@kgw/db';
import { startSimulator } from '@kgw/kube-sim';
import { runGatewayToExit, startGatewayProcess, type GatewayProcess } from '../support/gateway-process';

describe('gateway process', () => {
  let root: string;
  let gateway: GatewayProcess | undefined;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'kgw-boot-'));
    chmodSync(root, 0o755);
  });
  afterEach(async () => {
    await gateway?.stop('SIGKILL');
    gateway = undefined;
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('names every configuration problem at once and exits non-zero', async () => {
    const result = await runGatewayToExit({ KGW_HTTP_PORT: 'abc', DATABASE_URL: 'nonsense' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('KGW_HTTP_PORT: must be an integer, got "abc"');
    expect(result.stderr).toContain('DATABASE_URL: is not a URL');
  });

  it('fails after its connect deadline naming host:port when DATABASE_URL points at a closed port', async () => {
    const port = await freePort();
    // The deadline is the gateway's own (KGW_DB_CONNECT_TIMEOUT_MS), not a wall-clock bound here:
    // the message proves it gave up on that deadline rather than hanging or failing at once.
    const result = await runGatewayToExit({
      DATABASE_URL: `postgres://kgw:pw@127.0.0.1:${port}/kgw`,
      KGW_DB_CONNECT_TIMEOUT_MS: '1500',
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`cannot reach Postgres at 127.0.0.1:${port} within 1500 ms`);
    expect(result.stderr).not.toContain(':pw@');
  });

  it('serves health, readiness with the database check, request ids and JSON errors, then stops on SIGTERM', async () => {
    const dataDir = join(root, 'pg-a');
    const demoDir = join(root, 'demo-a');
    // Nothing configured: demo mode, as after `npm ci && npm start`.
    gateway = await startGatewayProcess({ KGW_DB_DATA_DIR: dataDir, KGW_DEMO_DIR: demoDir });
    expect(gateway.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // Demo mode answers plain HTTP on the same port too (curl http://127.0.0.1:8080/kgw/healthz).
    const plainUrl = gateway.url.replace(/^https:/, 'http:');
    const credentials = JSON.parse(readFileSync(join(demoDir, 'credentials.json'), 'utf8'));
    expect(credentials.url).toBe(gateway.url);
    expect(credentials.users.map((u: { name: string }) => u.name)).toEqual(['alice', 'bob', 'carol', 'dave']);
    for (const user of credentials.users) {
      expect(user).toEqual({
        name: expect.any(String),
        password: expect.any(String),
        token: expect.any(String),
        kubeconfig: expect.any(String),
        role: expect.any(String),
      });
      expect(existsSync(user.kubeconfig)).toBe(true);
    }
    const pods = await fetch(`${plainUrl}/api/v1/namespaces/default/pods/nginx/proxy/`, {
      headers: { Authorization: `Bearer ${credentials.users[0].token}` },
    });
    expect(await pods.text()).toContain('Welcome to nginx!');

    const health = await fetch(`${plainUrl}/kgw/healthz`);
    expect(health.status).toBe(200);
    expect(health.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const ready = await fetch(`${plainUrl}/kgw/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      checks: { database: { ok: true }, kubernetes: { ok: true }, audit: { ok: true } },
    });

    // A client's own X-Request-Id is never trusted.
    const spoofed = await fetch(`${plainUrl}/kgw/healthz`, {
      headers: { 'X-Request-Id': 'spoofed-id-123' },
    });
    expect(spoofed.headers.get('x-request-id')).not.toBe('spoofed-id-123');

    const missing = await fetch(`${plainUrl}/kgw/no-such-route`);
    expect(missing.status).toBe(404);
    const body = (await missing.json()) as { error: string; message: string; requestId: string };
    expect(body).toEqual({
      error: 'not_found',
      message: expect.any(String),
      requestId: missing.headers.get('x-request-id'),
    });

    // Credentials never reach the log.
    await fetch(`${plainUrl}/kgw/healthz`, {
      headers: { Authorization: 'Bearer sekret-token-1', Cookie: 'kgw_session=sekret-cookie-2' },
    });

    expect(await gateway.stop('SIGTERM')).toBe(0);
    const log = gateway.logLines().join('\n');
    expect(log).not.toContain('sekret');
    expect(log).toContain('"msg":"stopped"');
    // A clean Postgres shutdown removes its pid file.
    expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
    for (const line of gateway.logLines().filter((l) => l.includes('"req"'))) {
      expect(JSON.parse(line).req.id).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('a second demo on a busy port fails before any side effect, naming KGW_HTTP_PORT; demo tokens outlive a fresh database', async () => {
    const demoDir = join(root, 'demo-c');
    gateway = await startGatewayProcess({ KGW_DB_DATA_DIR: join(root, 'pg-c'), KGW_DEMO_DIR: demoDir });
    const port = new URL(gateway.url).port;
    const secrets = (): { tokens: Record<string, string> } =>
      JSON.parse(readFileSync(join(demoDir, 'secrets.json'), 'utf8')) as { tokens: Record<string, string> };
    const secretsBefore = readFileSync(join(demoDir, 'secrets.json'), 'utf8');
    const credentialsBefore = readFileSync(join(demoDir, 'credentials.json'), 'utf8');

    // Another data directory, as the "data directory in use" message suggests, but the same port.
    const second = await runGatewayToExit({
      KGW_HTTP_PORT: port,
      KGW_DB_DATA_DIR: join(root, 'pg-c2'),
      KGW_DEMO_DIR: demoDir,
    });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`kgw: failed to start: port ${port} on 127.0.0.1 is already in use`);
    expect(second.stderr).toContain('set KGW_HTTP_PORT to a free port');
    expect(second.stderr).toContain('KGW_DEMO_DIR=');
    // Nothing was started or written: no Postgres, no simulator, the running demo's files intact.
    expect(second.stdout).not.toMatch(/database ready|simulator started|OpenID provider started/);
    expect(existsSync(join(root, 'pg-c2'))).toBe(false);
    expect(readFileSync(join(demoDir, 'secrets.json'), 'utf8')).toBe(secretsBefore);
    expect(readFileSync(join(demoDir, 'credentials.json'), 'utf8')).toBe(credentialsBefore);

    // A restart, even on a fresh database, keeps every user's token: kubeconfigs keep working.
    expect(await gateway.stop('SIGTERM')).toBe(0);
    gateway = await startGatewayProcess({ KGW_DB_DATA_DIR: join(root, 'pg-c3'), KGW_DEMO_DIR: demoDir });
    expect(secrets().tokens).toEqual((JSON.parse(secretsBefore) as { tokens: unknown }).tokens);
    const pods = await fetch(`${gateway.url.replace(/^https:/, 'http:')}/api/v1/namespaces/default/pods`, {
      headers: { Authorization: `Bearer ${secrets().tokens.carol}` },
    });
    expect(pods.status).toBe(200);
  });

  it('refuses to start when nobody could log in (the standalone simulator, no OIDC, no token file)', async () => {
    const sim = await startSimulator({ scenario: 'demo' });
    try {
      const kubeconfigs = await sim.writeKubeconfigs(join(root, 'sim'));
      const dataDir = join(root, 'pg-d');
      const result = await runGatewayToExit({ KGW_KUBECONFIG: kubeconfigs.kgw, KGW_DB_DATA_DIR: dataDir });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('no way to log in is configured');
      for (const setting of ['KGW_OIDC_ISSUER_URL', 'KGW_OIDC_BEARER_ISSUERS', 'KGW_AUTH_TOKEN_FILE'])
        expect(result.stderr).toContain(setting);
      // Refused before anything started.
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      await sim.stop();
    }
  });

  it('refuses a second gateway on the same embedded data directory and leaves the first intact', async () => {
    const dataDir = join(root, 'pg-b');
    const tokenFile = join(root, 'tokens.csv');
    writeFileSync(tokenFile, 'tok-b-0123456789,bob,,"team-a"\n');
    const env = { KGW_DB_DATA_DIR: dataDir, KGW_DEMO: 'false', KGW_AUTH_TOKEN_FILE: tokenFile };
    gateway = await startGatewayProcess(env);
    const second = await runGatewayToExit(env);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(/data directory .*pg-b is in use by another process/);
    const ready = await fetch(`${gateway.url}/kgw/readyz`);
    expect(ready.status).toBe(200);
    // With demo mode off and no upstream configured, Kubernetes paths say so as a Status.
    const unserved = await fetch(`${gateway.url}/api/v1/pods`, {
      headers: { Authorization: 'Bearer tok-b-0123456789' },
    });
    expect(unserved.status).toBe(503);
    expect(await unserved.json()).toMatchObject({
      kind: 'Status',
      reason: 'ServiceUnavailable',
      message: 'kgw has no Kubernetes upstream configured',
    });
  });
});
