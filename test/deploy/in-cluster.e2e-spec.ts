// In-cluster mode as a pod sees the world: the production overlay applied to the simulated
// cluster with real kubectl, then the built gateway started as a process with only what the
// kubelet would give its container — KUBERNETES_SERVICE_HOST/PORT, the Downward API env, and a
// service-account directory laid out like a projected volume (timestamped dir, `..data` symlink,
// atomic swap on rotation). It checks that the service-account token is re-read when it rotates
// (the old one refused by the API server), that audit records carry the pod name, and that the
// ClusterRole the overlay grants equals what the gateway calls with its own credential.
import { execFile } from 'node:child_process';
import * as https from 'node:https';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { resolveRequestInfo, startSimulator, type RunningSimulator } from '@kgw/kube-sim';
import { KubectlRunner } from '../support/kubectl';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process';
import { startTestPostgres, type TestPostgres } from '../support/postgres';

const ROOT = join(__dirname, '../..');
const GATEWAY_SA = 'system:serviceaccount:kgw-system:kgw';

// token,user,uid,"groups" — callers that take every path that uses the gateway's credential.
const CALLERS = {
  alice: { token: 'in-cluster-alice-0123456789', line: 'alice,alice-uid,"kgw:admins"' },
  // Mapped to team-b/deployer by impersonation.
  erin: { token: 'in-cluster-erin-0123456789', line: 'erin,erin-uid,"deployers"' },
  // Mapped to team-b/deployer with a TokenRequest token of its own.
  frank: { token: 'in-cluster-frank-0123456789', line: 'frank,frank-uid,"builders"' },
};

type Permission = string; // "verb group/resource"

/** The ClusterRole's rules as permissions, one per verb × group × resource. */
function granted(rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>): Permission[] {
  return rules
    .flatMap((r) =>
      r.verbs.flatMap((v) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${v} ${g}/${res}`))),
    )
    .sort();
}

/** JTI of a service-account token: how the simulator names the credential a request used. */
function jti(token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as { jti: string }).jti;
}

describe('in-cluster mode (the production overlay, as a pod runs it)', () => {
  let sim: RunningSimulator;
  let pg: TestPostgres;
  let admin: KubectlRunner;
  let gateway: GatewayProcess;
  let dir: string;
  let saDir: string;
  let podName: string;
  let rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
  let firstToken: string;

  /** As a caller of the token file (by name) or with any bearer token (a personal token). */
  const call = async (caller: string, path: string, init: RequestInit = {}): Promise<Response> =>
    fetch(`${gateway.url}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${caller in CALLERS ? CALLERS[caller as keyof typeof CALLERS].token : caller}`,
        ...(init.headers as Record<string, string>),
      },
    });

  /** Writes the projected service-account volume as the kubelet does: a new dir, then one rename. */
  let generation = 0;
  const project = (token: string): void => {
    const data = `..${++generation}_projected`;
    mkdirSync(join(saDir, data));
    writeFileSync(join(saDir, data, 'token'), token);
    writeFileSync(join(saDir, data, 'ca.crt'), sim.caPem);
    writeFileSync(join(saDir, data, 'namespace'), 'kgw-system');
    symlinkSync(data, join(saDir, '..data_tmp'));
    renameSync(join(saDir, '..data_tmp'), join(saDir, '..data'));
  };

  const tokenBoundTo = async (secret: string): Promise<string> => {
    expect((await admin.run(['-n', 'kgw-system', 'create', 'secret', 'generic', secret])).code).toBe(0);
    const created = await admin.run([
      '-n',
      'kgw-system',
      'create',
      'token',
      'kgw',
      '--bound-object-kind=Secret',
      `--bound-object-name=${secret}`,
    ]);
    expect(created.stderr).toBe('');
    return created.stdout.trim();
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kgw-in-cluster-'));
    sim = await startSimulator({ scenario: 'demo' });
    admin = new KubectlRunner((await sim.writeKubeconfigs(join(dir, 'kubeconfigs'))).admin);
    // The overlay as a platform team applies it: its ClusterRole is the one in force below.
    const { stdout: rendered } = await promisify(execFile)(
      'kubectl',
      ['kustomize', join(ROOT, 'deploy/overlays/production')],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
      },
    );
    writeFileSync(join(dir, 'production.yaml'), rendered);
    const applied = await admin.run(['apply', '-f', join(dir, 'production.yaml')]);
    // The demo cluster already has kgw's identity, made without kubectl apply: kubectl warns.
    expect(applied.stderr).not.toContain('Error');
    expect(applied.code).toBe(0);
    rules = parseAllDocuments(rendered)
      .map((d) => d.toJS() as { kind: string; metadata: { name: string }; rules: typeof rules })
      .find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'kgw:gateway')!.rules;
    // Run as one of the Deployment's own pods.
    expect(
      (await admin.run(['-n', 'kgw-system', 'rollout', 'status', 'deployment/kgw', '--timeout=60s'])).code,
    ).toBe(0);
    const pods = await admin.run([
      '-n',
      'kgw-system',
      'get',
      'pods',
      '-o',
      'jsonpath={.items[0].metadata.name}',
    ]);
    podName = pods.stdout.trim();
    expect(podName).toMatch(/^kgw-/);

    saDir = join(dir, 'serviceaccount');
    mkdirSync(saDir);
    firstToken = await tokenBoundTo('kgw-token-1');
    project(firstToken);
    for (const file of ['token', 'ca.crt', 'namespace']) symlinkSync(join('..data', file), join(saDir, file));

    writeFileSync(
      join(dir, 'tokens.csv'),
      Object.values(CALLERS)
        .map((c) => `${c.token},${c.line}`)
        .join('\n'),
    );
    pg = await startTestPostgres();
    gateway = await startGatewayProcess({
      // What the kubelet puts in every container's environment, and the Downward API.
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: String(sim.port),
      POD_NAME: podName,
      POD_NAMESPACE: 'kgw-system',
      POD_IP: '127.0.0.1',
      NODE_NAME: 'kube-sim-node',
      // What the overlay's ConfigMap and Secrets give it (the directory is the test's).
      KGW_KUBE_MODE: 'in-cluster',
      KGW_DEMO: 'false',
      KGW_KUBE_SERVICE_ACCOUNT_DIR: saDir,
      DATABASE_URL: pg.url,
      KGW_HTTP_HOST: '127.0.0.1',
      KGW_AUDIT_SPOOL_DIR: join(dir, 'spool'),
      KGW_AUTH_TOKEN_FILE: join(dir, 'tokens.csv'),
      KGW_AUTH_ADMIN_GROUPS: 'kgw:admins',
      KGW_IDENTITY_RULES: JSON.stringify([
        { match: { group: 'deployers' }, serviceAccount: 'team-b/deployer' },
        {
          match: { group: 'builders' },
          serviceAccount: 'team-b/deployer',
          serviceAccountMode: 'token-request',
        },
      ]),
    });
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    await admin?.cleanup();
    await pg?.stop();
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the API server, CA, token and namespace the way a pod does', async () => {
    const described = gateway.logLines().find((l) => l.includes('Kubernetes upstream'));
    expect(described).toContain(`in-cluster upstream https://127.0.0.1:${sim.port}/`);
    expect(described).toContain(`${saDir}/token, re-read on rotation`);
    expect(described).toContain('namespace \\"kgw-system\\"');
    const res = await call('alice', '/api/v1/namespaces/default/pods');
    expect(res.status).toBe(200);
    const seen = sim.requestLog
      .find((e) => e.path === '/api/v1/namespaces/default/pods' && e.method === 'GET')
      .at(-1);
    expect(seen?.authenticatedUser?.username).toBe(GATEWAY_SA);
    expect(seen?.authenticatedUser?.extra?.['authentication.kubernetes.io/credential-id']).toEqual([
      `JTI=${jti(firstToken)}`,
    ]);
    expect(seen?.user?.username).toBe('alice');
  });

  it('names itself by POD_NAME in the audit trail', async () => {
    await call('alice', '/api/v1/namespaces/default/configmaps');
    // Records are written in batches: poll the trail (bounded) until this one is in.
    let instances: string[] = [];
    for (let i = 0; i < 100 && instances.length === 0; i++) {
      const trail = (await (await call('alice', '/kgw/v1/audit?limit=50')).json()) as {
        items: Array<{ path: string; instance: string }>;
      };
      instances = trail.items
        .filter((r) => r.path === '/api/v1/namespaces/default/configmaps')
        .map((r) => r.instance);
      if (instances.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(instances).toEqual([podName]);
  });

  it('re-reads the token when the kubelet rotates it, and the old one stops working', async () => {
    const secondToken = await tokenBoundTo('kgw-token-2');
    project(secondToken);
    // The old token dies with the Secret it is bound to: the API server refuses it from now on.
    expect((await admin.run(['-n', 'kgw-system', 'delete', 'secret', 'kgw-token-1'])).code).toBe(0);
    const statusWith = (token: string): Promise<number> =>
      new Promise((resolve, reject) => {
        https
          .get(
            `${sim.url}/api/v1/namespaces/kgw-system/secrets`,
            { ca: sim.caPem, headers: { authorization: `Bearer ${token}` } },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          )
          .on('error', reject);
      });
    // 401: who are you?  403: known, and (least privilege) not allowed to read Secrets.
    expect(await statusWith(firstToken)).toBe(401);
    expect(await statusWith(secondToken)).toBe(403);

    // The gateway checks the file at most once a second: a bounded number of tries, each a
    // complete request, until one goes through with the new token.
    const before = sim.requestLog.entries.at(-1)?.seq ?? 0;
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await call('alice', '/api/v1/namespaces/default/pods')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
    // The simulator completes its log entry after the answer is on its way: wait for the entry of
    // the first request that went through, rather than reading a log that may not have it yet.
    const seen = await sim.requestLog.waitFor(
      (e) => e.seq > before && e.path === '/api/v1/namespaces/default/pods' && e.status === 200,
    );
    expect(seen?.authenticatedUser?.extra?.['authentication.kubernetes.io/credential-id']).toEqual([
      `JTI=${jti(secondToken)}`,
    ]);
    // And it stays on the new token.
    expect((await call('alice', '/api/v1/namespaces/default/pods')).status).toBe(200);
  });

  it('calls the API server with its own credential for exactly what its ClusterRole grants', async () => {
    sim.requestLog.clear();
    // Every path that uses the gateway's credential: a user (uid, groups, extras), a personal
    // token (token-id extra), a service-account mapping by impersonation (kgw.io/user extra) and
    // by TokenRequest, the access pre-check, /kgw/v1/me, a readiness check.
    expect((await call('alice', '/api/v1/namespaces/default/pods')).status).toBe(200);
    const pat = (await (
      await call('alice', '/kgw/v1/tokens', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'in-cluster', expiresInDays: 1 }),
      })
    ).json()) as { token: string };
    expect((await call(pat.token, '/api/v1/namespaces/default/services')).status).toBe(200);
    expect((await call('erin', '/api/v1/namespaces/team-b/pods')).status).toBe(200);
    expect((await call('frank', '/api/v1/namespaces/team-b/configmaps')).status).toBe(200);
    expect((await call('alice', '/kgw/v1/me')).status).toBe(200);
    expect((await fetch(`${gateway.url}/kgw/readyz`)).status).toBe(200);

    const used = new Set<Permission>();
    const nonResource = new Set<string>();
    for (const entry of sim.requestLog.entries) {
      if (entry.authenticatedUser?.username !== GATEWAY_SA) continue;
      const impersonation = entry.impersonation;
      if (impersonation) {
        // The API server checks `impersonate` on each header (serviceaccounts for a SA username).
        if (impersonation.user?.startsWith('system:serviceaccount:'))
          used.add('impersonate /serviceaccounts');
        else if (impersonation.user) used.add('impersonate /users');
        if (impersonation.groups.length > 0) used.add('impersonate /groups');
        if (impersonation.uid) used.add('impersonate authentication.k8s.io/uids');
        for (const key of Object.keys(impersonation.extra))
          used.add(`impersonate authentication.k8s.io/userextras/${key}`);
        continue;
      }
      const info = resolveRequestInfo(entry.method, entry.path, new URLSearchParams(entry.query));
      if (!info.isResourceRequest) {
        nonResource.add(`${info.verb} ${info.path}`);
        continue;
      }
      used.add(
        `${info.verb} ${info.apiGroup}/${info.resource}${info.subresource ? `/${info.subresource}` : ''}`,
      );
    }
    expect([...used].sort()).toEqual(granted(rules));
    // Outside RBAC resources: only the readiness probe's /version, which every authenticated
    // user may read (system:public-info-viewer).
    expect([...nonResource]).toEqual(['get /version']);
  });
});
