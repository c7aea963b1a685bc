// The deployment manifests are accepted by an API server (server-side dry run against the
// simulator), and the gateway's ClusterRole there is exactly the one the demo cluster binds,
// so what we test with is what we ship.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startSimulator, type RunningSimulator } from '@kgw/kube-sim';
import { KubectlRunner } from '../support/kubectl';

const ROOT = join(__dirname, '../..');

function clusterRole(file: string): unknown {
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map(
    (d) => d.toJS() as { kind?: string; metadata?: { name?: string }; rules?: unknown },
  );
  return docs.find((d) => d.kind === 'ClusterRole' && d.metadata?.name === 'kgw:gateway')?.rules;
}

describe('deploy/kubernetes', () => {
  let sim: RunningSimulator;
  let dir: string;
  let kubectl: KubectlRunner;

  beforeAll(async () => {
    sim = await startSimulator({ scenario: 'empty' });
    dir = mkdtempSync(join(tmpdir(), 'kgw-deploy-'));
    const kubeconfigs = await sim.writeKubeconfigs(dir);
    kubectl = new KubectlRunner(kubeconfigs.admin);
  });
  afterAll(async () => {
    await kubectl?.cleanup();
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies to an empty cluster and gives the gateway only impersonation and reviews', async () => {
    // A real apply, not a dry run: a dry-run namespace does not exist for the objects after it.
    for (const file of readdirSync(join(ROOT, 'deploy/kubernetes'))) {
      const result = await kubectl.run(['apply', '-f', join(ROOT, 'deploy/kubernetes', file)]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('clusterrole.rbac.authorization.k8s.io/kgw:gateway created');
      expect(result.stdout).toContain('deployment.apps/kgw created');
    }
    const gateway = '--as=system:serviceaccount:kgw-system:kgw';
    expect((await kubectl.run(['auth', 'can-i', 'impersonate', 'users', gateway])).stdout.trim()).toBe('yes');
    expect((await kubectl.run(['auth', 'can-i', 'list', 'pods', '-A', gateway])).stdout.trim()).toBe('no');
  });

  it('grants the gateway exactly what the demo cluster grants it', () => {
    expect(clusterRole(join(ROOT, 'deploy/kubernetes/kgw.yaml'))).toEqual(
      clusterRole(join(ROOT, 'libs/kube-sim/scenario/demo/40-kgw.yaml')),
    );
  });
});
