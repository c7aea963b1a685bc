// Real kubectl 1.32 against the simulator: the commands users run every day must behave and
// print as against a real API server.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startSimulator, type RunningSimulator } from '@kgw/kube-sim';
import { simKubectl, type SimKubectl } from '../support/sim-kubectl';

describe('kube-sim with real kubectl', () => {
  let sim: RunningSimulator;
  let kubectl: SimKubectl;
  let dir: string;

  beforeAll(async () => {
    sim = await startSimulator({ scenario: 'demo' });
    dir = mkdtempSync(join(tmpdir(), 'sim-kubeconfigs-'));
    kubectl = simKubectl(await sim.writeKubeconfigs(dir));
  });

  afterAll(async () => {
    await sim?.stop();
    kubectl?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const ok = async (user: string, args: string[], stdin?: string): Promise<string> => {
    const r = await kubectl.run(user, args, { stdin });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };

  it('get ns,pods,svc,deploy -A shows the demo cluster, also -o wide, yaml and json', async () => {
    const out = await ok('admin', ['get', 'ns,pods,svc,deploy', '-A']);
    expect(out).toMatch(/namespace\/team-a\s+Active/);
    expect(out).toMatch(/default\s+pod\/nginx\s+1\/1\s+Running\s+0/);
    expect(out).toMatch(/default\s+service\/my-nginx\s+ClusterIP\s+10\.96\.\d+\.\d+\s+<none>\s+80\/TCP/);
    expect(out).toMatch(/default\s+deployment\.apps\/my-nginx\s+2\/2\s+2\s+2/);
    expect(out.match(/pod\/my-nginx-/g)).toHaveLength(2);

    const wide = await ok('admin', ['get', 'pods', '-o', 'wide']);
    expect(wide.split('\n')[0]).toMatch(
      /NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES/,
    );
    expect(wide).toMatch(/nginx\s+1\/1\s+Running\s+0\s+\S+\s+127\.\d+\.\d+\.\d+\s+kube-sim-node/);

    const yamlDoc = parseYaml(await ok('admin', ['get', 'pod', 'nginx', '-o', 'yaml'])) as {
      kind: string;
      metadata: { uid: string; labels: Record<string, string> };
      status: { phase: string; podIP: string };
    };
    expect(yamlDoc).toMatchObject({
      kind: 'Pod',
      metadata: { labels: { app: 'nginx' } },
      status: { phase: 'Running' },
    });
    expect(yamlDoc.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);

    const list = JSON.parse(await ok('admin', ['get', 'svc', '-n', 'default', '-o', 'json'])) as {
      kind: string;
      items: { metadata: { name: string } }[];
    };
    expect(list.kind).toBe('List');
    expect(list.items.map((i) => i.metadata.name).sort()).toEqual(['kubernetes', 'my-nginx']);
  });

  it('describe pod nginx shows containers, conditions and events', async () => {
    const out = await ok('admin', ['describe', 'pod', 'nginx']);
    expect(out).toMatch(/^Name:\s+nginx$/m);
    expect(out).toMatch(/^Status:\s+Running$/m);
    expect(out).toMatch(/^Node:\s+kube-sim-node\/172\.18\.0\.2$/m);
    // The demo pod also declares the simulator's echo (7), sink (9) and UDP echo (7/UDP) ports.
    expect(out).toMatch(/Ports:\s+80\/TCP, 7\/TCP, 9\/TCP, 7\/UDP\n/);
    expect(out).toMatch(
      /Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned default\/nginx to kube-sim-node/,
    );
  });

  it('get pods -w receives add, modify and delete', async () => {
    const watch = kubectl.spawn('admin', ['get', 'pods', '-w']);
    await watch.waitFor(/nginx\s+1\/1/);
    await ok('admin', ['run', 'watched', '--image=busybox:1.36']);
    await watch.waitFor(/watched\s+1\/1\s+Running/);
    await ok('admin', ['delete', 'pod', 'watched', '--wait=false']);
    await sim.settled();
    await watch.waitFor(/(watched.*\n[^]*){3}/);
    const { stdout } = await watch.stop();
    const rows = stdout.split('\n').filter((l) => l.startsWith('watched '));
    expect(rows[0]).toMatch(/watched\s+0\/1\s+Pending/);
    expect(rows.some((r) => /1\/1\s+Running/.test(r))).toBe(true);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(stdout.split('\n')[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
  });

  it('create deployment, label, scale and delete', async () => {
    expect(await ok('admin', ['create', 'deployment', 'hello', '--image=nginx:1.27', '--port=8080'])).toBe(
      'deployment.apps/hello created\n',
    );
    expect(await ok('admin', ['label', 'deployment', 'hello', 'tier=web'])).toBe(
      'deployment.apps/hello labeled\n',
    );
    expect(await ok('admin', ['scale', 'deployment', 'hello', '--replicas=3'])).toBe(
      'deployment.apps/hello scaled\n',
    );
    await sim.settled();
    expect(
      await ok('admin', [
        'get',
        'deployment',
        'hello',
        '-o',
        'jsonpath={.status.readyReplicas} {.metadata.labels.tier}',
      ]),
    ).toBe('3 web');
    expect(
      (await ok('admin', ['get', 'pods', '-l', 'app=hello', '-o', 'name'])).trim().split('\n'),
    ).toHaveLength(3);
    expect(await ok('admin', ['delete', 'deployment', 'hello'])).toBe('deployment.apps "hello" deleted\n');
    const gone = await kubectl.run('admin', ['get', 'deployment', 'hello']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe('Error from server (NotFound): deployments.apps "hello" not found\n');
    await sim.settled();
    expect(await ok('admin', ['get', 'pods', '-l', 'app=hello', '-o', 'name'])).toBe('');
  });

  it('apply -f twice (created, unchanged), then configured, then --server-side', async () => {
    const manifest = (replicas: number): string => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: applied
  namespace: default
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: applied}
  template:
    metadata:
      labels: {app: applied}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80, name: http}]
`;
    const file = join(dir, 'applied.yaml');
    writeFileSync(file, manifest(1));
    expect(await ok('admin', ['apply', '-f', file])).toBe('deployment.apps/applied created\n');
    expect(await ok('admin', ['apply', '-f', file])).toBe('deployment.apps/applied unchanged\n');
    writeFileSync(file, manifest(2));
    expect(await ok('admin', ['apply', '-f', file])).toBe('deployment.apps/applied configured\n');
    writeFileSync(file, manifest(3));
    expect(await ok('admin', ['apply', '--server-side', '-f', file])).toBe(
      'deployment.apps/applied serverside-applied\n',
    );
    const d = JSON.parse(await ok('admin', ['get', 'deploy', 'applied', '-o', 'json'])) as {
      spec: { replicas: number };
      metadata: { annotations: Record<string, string> };
    };
    expect(d.spec.replicas).toBe(3);
    expect(d.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain(
      '"replicas":2',
    );
    const bad = await kubectl.run('admin', ['apply', '-f', '-'], {
      stdin: manifest(1).replace('replicas: 1', 'replicas: 1\n  bogus: true'),
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('unknown field "spec.bogus"');
  });

  it('api-resources lists the truth and explain pods works', async () => {
    const out = await ok('admin', ['api-resources']);
    expect(out).toMatch(/^pods\s+po\s+v1\s+true\s+Pod$/m);
    expect(out).toMatch(/^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m);
    expect(out).toMatch(/^clusterroles\s+rbac\.authorization\.k8s\.io\/v1\s+false\s+ClusterRole$/m);
    const explain = await ok('admin', ['explain', 'pods']);
    expect(explain).toMatch(/KIND:\s+Pod/);
    expect(explain).toMatch(/VERSION:\s+v1/);
    expect(explain).toContain('spec\t<Object>');
  });

  it('auth can-i answers yes and no in both directions, with --as and for oneself', async () => {
    expect(
      (await kubectl.run('admin', ['auth', 'can-i', 'list', 'pods', '-n', 'team-a', '--as=carol'])).stdout,
    ).toBe('yes\n');
    const no = await kubectl.run('admin', ['auth', 'can-i', 'create', 'pods', '-n', 'team-a', '--as=carol']);
    expect([no.code, no.stdout]).toEqual([1, 'no\n']);
    expect(
      (await kubectl.run('bob', ['auth', 'can-i', 'create', 'pods', '--subresource=exec', '-n', 'team-a']))
        .stdout,
    ).toBe('yes\n');
    expect((await kubectl.run('bob', ['auth', 'can-i', 'list', 'pods', '-n', 'team-b'])).stdout).toBe('no\n');
    expect(
      (await kubectl.run('dave', ['auth', 'can-i', 'update', 'deployments', '-n', 'team-b'])).stdout,
    ).toBe('yes\n');
    expect((await kubectl.run('kgw', ['auth', 'can-i', 'list', 'pods', '-A'])).stdout).toBe('no\n');
    expect((await kubectl.run('kgw', ['auth', 'can-i', 'impersonate', 'users'])).stdout).toBe('yes\n');
    const list = await ok('bob', ['auth', 'can-i', '--list', '-n', 'team-a']);
    expect(list).toMatch(/^pods\/exec\s+\[\]\s+\[\]\s+\[[^\]]*create[^\]]*\]$/m);
    expect(list).toMatch(/^selfsubjectaccessreviews\.authorization\.k8s\.io\s+\[\]\s+\[\]\s+\[create\]$/m);
  });

  it('auth whoami and create token', async () => {
    expect(await ok('bob', ['auth', 'whoami'])).toMatch(
      /Username\s+bob\nGroups\s+\[team-a system:authenticated\]/,
    );
    expect(await ok('dave', ['auth', 'whoami'])).toMatch(/Username\s+system:serviceaccount:team-b:deployer/);
    expect(await ok('admin', ['auth', 'whoami', '--as=alice', '--as-group=devs'])).toMatch(
      /Username\s+alice\nGroups\s+\[devs system:authenticated\]/,
    );
    const token = (
      await ok('admin', [
        'create',
        'token',
        'deployer',
        '-n',
        'team-b',
        '--duration=20m',
        '--audience=https://kubernetes.default.svc.cluster.local',
      ])
    ).trim();
    expect(token.split('.')).toHaveLength(3);
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as {
      sub: string;
      exp: number;
      iat: number;
    };
    expect(claims.sub).toBe('system:serviceaccount:team-b:deployer');
    expect(claims.exp - claims.iat).toBe(1200);
    const missing = await kubectl.run('admin', ['create', 'token', 'nobody', '-n', 'team-b']);
    expect(missing.stderr).toBe('error: failed to create token: serviceaccounts "nobody" not found\n');
  });

  it('forbidden and not-found messages equal the real server', async () => {
    const forbidden = await kubectl.run('bob', ['get', 'pods', '-n', 'default']);
    expect(forbidden.stderr).toBe(
      'Error from server (Forbidden): pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default"\n',
    );
    const named = await kubectl.run('carol', ['delete', 'pod', 'nginx']);
    expect(named.stderr).toBe(
      'Error from server (Forbidden): pods "nginx" is forbidden: User "carol" cannot delete resource "pods" in API group "" in the namespace "default"\n',
    );
    const nodes = await kubectl.run('bob', ['get', 'nodes']);
    expect(nodes.stderr).toBe(
      'Error from server (Forbidden): nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope\n',
    );
    const notFound = await kubectl.run('admin', ['get', 'pod', 'nope']);
    expect(notFound.stderr).toBe('Error from server (NotFound): pods "nope" not found\n');
    const impersonation = await kubectl.run('bob', ['get', 'pods', '--as=alice']);
    expect(impersonation.stderr).toBe(
      'Error from server (Forbidden): users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope\n',
    );
  });

  it('deleting a namespace deletes its contents', async () => {
    await ok('admin', ['create', 'namespace', 'scratch']);
    await ok('admin', ['create', 'configmap', 'c1', '-n', 'scratch', '--from-literal=a=b']);
    await ok('admin', ['run', 'p1', '-n', 'scratch', '--image=busybox:1.36']);
    expect(await ok('admin', ['delete', 'namespace', 'scratch'])).toBe('namespace "scratch" deleted\n');
    await sim.settled();
    expect(sim.store.list('configmaps', 'scratch')).toEqual([]);
    expect(sim.store.list('pods', 'scratch')).toEqual([]);
    expect((await kubectl.run('admin', ['get', 'ns', 'scratch'])).stderr).toBe(
      'Error from server (NotFound): namespaces "scratch" not found\n',
    );
  });
});
