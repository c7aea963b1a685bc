// deploy/ as kustomize: each overlay renders with the real `kubectl kustomize`, applies with the
// real kubectl to an empty simulated cluster, and says what a platform team expects of it. The
// gateway's ClusterRole is the one the demo cluster binds (what we test with is what we ship);
// test/deploy/in-cluster.e2e-spec.ts holds it equal to what the code calls.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { startSimulator, type RunningSimulator } from '@kgw/kube-sim';
import { loadConfig, SETTINGS } from '@kgw/config';
import { KubectlRunner } from '../support/kubectl';

const ROOT = join(__dirname, '../..');
const run = promisify(execFile);

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  // Parsed YAML: each test reads the fields it checks.
  [field: string]: any; // eslint-disable-line @typescript-eslint/no-explicit-any
};

async function render(dir: string): Promise<{ text: string; objects: Obj[] }> {
  const { stdout } = await run('kubectl', ['kustomize', join(ROOT, 'deploy', dir)], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir() },
  });
  return { text: stdout, objects: parseAllDocuments(stdout).map((d) => d.toJS() as Obj) };
}

function find(objects: Obj[], kind: string, name?: string): Obj {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (!found) throw new Error(`no ${kind}${name ? ` ${name}` : ''} rendered`);
  return found;
}

function clusterRoleRules(objects: Obj[]): unknown {
  return find(objects, 'ClusterRole', 'kgw:gateway').rules;
}

/** The gateway's environment as the pod gets it: the ConfigMap, then the container's own env. */
function gatewayEnv(objects: Obj[]): Record<string, string> {
  const deployment = find(objects, 'Deployment', 'kgw');
  const container = deployment.spec.template.spec.containers[0];
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? [])
    Object.assign(env, find(objects, 'ConfigMap', from.configMapRef.name).data);
  for (const e of container.env ?? []) env[e.name] = e.value ?? `(from ${Object.keys(e.valueFrom)[0]})`;
  return env;
}

describe('deploy/ (kustomize)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kgw-deploy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe.each(['overlays/production', 'overlays/dev'])('%s', (overlay) => {
    let sim: RunningSimulator;
    let kubectl: KubectlRunner;
    let objects: Obj[];

    beforeAll(async () => {
      const rendered = await render(overlay);
      objects = rendered.objects;
      writeFileSync(join(dir, `${overlay.replace('/', '-')}.yaml`), rendered.text);
      sim = await startSimulator({ scenario: 'empty' });
      kubectl = new KubectlRunner((await sim.writeKubeconfigs(mkdtempSync(join(dir, 'kc-')))).admin);
    }, 60_000);
    afterAll(async () => {
      await kubectl?.cleanup();
      await sim?.stop();
    });

    it('applies to an empty cluster with real kubectl, and the gateway may impersonate but not read', async () => {
      const result = await kubectl.run(['apply', '-f', join(dir, `${overlay.replace('/', '-')}.yaml`)]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      for (const line of [
        'namespace/kgw-system created',
        'serviceaccount/kgw created',
        'clusterrole.rbac.authorization.k8s.io/kgw:gateway created',
        'clusterrolebinding.rbac.authorization.k8s.io/kgw:gateway created',
        'deployment.apps/kgw created',
        'service/kgw created',
        'networkpolicy.networking.k8s.io/kgw created',
      ])
        expect(result.stdout).toContain(line);
      const gateway = '--as=system:serviceaccount:kgw-system:kgw';
      const can = async (...args: string[]): Promise<string> =>
        (await kubectl.run(['auth', 'can-i', ...args, gateway])).stdout.trim();
      expect(await can('impersonate', 'users')).toBe('yes');
      expect(await can('create', 'subjectaccessreviews.authorization.k8s.io')).toBe('yes');
      expect(await can('list', 'pods', '-A')).toBe('no');
      expect(await can('get', 'secrets', '-n', 'kgw-system')).toBe('no');
      // The Deployment's pods come up in the simulated cluster under the ServiceAccount.
      const rollout = await kubectl.run([
        '-n',
        'kgw-system',
        'rollout',
        'status',
        'deployment/kgw',
        '--timeout=60s',
      ]);
      expect(rollout.code).toBe(0);
    });

    it('gives the gateway exactly the ClusterRole the demo cluster binds', () => {
      const demo = parseAllDocuments(
        readFileSync(join(ROOT, 'libs/kube-sim/scenario/demo/40-kgw.yaml'), 'utf8'),
      ).map((d) => d.toJS() as Obj);
      expect(clusterRoleRules(objects)).toEqual(clusterRoleRules(demo));
    });

    it('passes kgw only settings it knows, with values it accepts', () => {
      const env = gatewayEnv(objects);
      const known = new Set<string>(SETTINGS.map((s) => s.env));
      expect(Object.keys(env).filter((name) => !known.has(name))).toEqual([]);
      const config = loadConfig({ ...env, DATABASE_URL: 'postgres://u:p@db:5432/kgw' });
      expect(config.kube.mode).toBe('in-cluster');
      expect(config.demo.enabled).toBe('false');
    });

    it('runs two replicas (one in dev), non-root, read-only, with probes, resources and a drain that fits', () => {
      const deployment = find(objects, 'Deployment', 'kgw');
      const pod = deployment.spec.template.spec;
      const container = pod.containers[0];
      expect(deployment.spec.replicas).toBe(overlay.endsWith('dev') ? 1 : 2);
      expect(pod.serviceAccountName).toBe('kgw');
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(container.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      const scheme = overlay.endsWith('production') ? 'HTTPS' : 'HTTP';
      expect(container.readinessProbe.httpGet).toEqual({ path: '/kgw/readyz', port: 'gateway', scheme });
      expect(container.livenessProbe.httpGet).toEqual({ path: '/kgw/healthz', port: 'gateway', scheme });
      expect(container.resources.requests).toEqual(
        expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }),
      );
      expect(container.resources.limits.memory).toBeDefined();
      const downward = Object.fromEntries(
        container.env
          .filter((e: Obj) => e.valueFrom?.fieldRef)
          .map((e: Obj) => [e.name, e.valueFrom.fieldRef.fieldPath]),
      );
      expect(downward).toEqual({
        POD_NAME: 'metadata.name',
        POD_NAMESPACE: 'metadata.namespace',
        POD_IP: 'status.podIP',
        NODE_NAME: 'spec.nodeName',
      });
      // The kubelet's SIGKILL must come after the preStop pause and the whole drain.
      const env = gatewayEnv(objects);
      const drainSeconds = Number(env.KGW_HTTP_SHUTDOWN_GRACE_MS) / 1000;
      const preStop = container.lifecycle.preStop.sleep.seconds as number;
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop + drainSeconds);
      // Everything the gateway writes is on a volume: the root filesystem is read-only.
      const mounts = container.volumeMounts.map((m: Obj) => m.mountPath);
      expect(mounts).toContain(env.KGW_AUDIT_SPOOL_DIR);
      expect(mounts).toContain('/tmp');
    });

    it('references its Secrets and selects its own pods', () => {
      const container = find(objects, 'Deployment', 'kgw').spec.template.spec.containers[0];
      const secretRefs = container.env
        .filter((e: Obj) => e.valueFrom?.secretKeyRef)
        .map((e: Obj) => `${e.name}=${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`);
      expect(secretRefs).toEqual([
        'DATABASE_URL=kgw-database/url',
        'KGW_OIDC_CLIENT_SECRET=kgw-oidc/client-secret',
      ]);
      const podLabels = find(objects, 'Deployment', 'kgw').spec.template.metadata.labels;
      const selects = (selector: Record<string, string>): boolean =>
        Object.entries(selector).every(([k, v]) => podLabels[k] === v);
      expect(selects(find(objects, 'Service', 'kgw').spec.selector)).toBe(true);
      expect(selects(find(objects, 'NetworkPolicy', 'kgw').spec.podSelector.matchLabels)).toBe(true);
      if (overlay.endsWith('production')) {
        expect(selects(find(objects, 'PodDisruptionBudget', 'kgw').spec.selector.matchLabels)).toBe(true);
        // The Secret behind the TLS files, mounted where the settings point.
        const env = gatewayEnv(objects);
        const pod = find(objects, 'Deployment', 'kgw').spec.template.spec;
        const tlsVolume = pod.volumes.find((v: Obj) => v.secret?.secretName === 'kgw-tls');
        const mount = container.volumeMounts.find((m: Obj) => m.name === tlsVolume.name);
        expect(env.KGW_HTTP_TLS_CERT_FILE).toBe(`${mount.mountPath}/tls.crt`);
        expect(env.KGW_HTTP_TLS_KEY_FILE).toBe(`${mount.mountPath}/tls.key`);
      } else {
        // The dev overlay brings what it references.
        for (const name of ['kgw-database', 'kgw-postgres', 'kgw-tokens'])
          expect(objects.some((o) => o.kind === 'Secret' && o.metadata.name.startsWith(`${name}-`))).toBe(
            true,
          );
      }
    });

    if (overlay.endsWith('production'))
      it('has an Ingress example with what streams need', () => {
        const ingress = find(objects, 'Ingress', 'kgw');
        const annotations = ingress.metadata.annotations ?? {};
        expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThanOrEqual(
          3600,
        );
        expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout'])).toBeGreaterThanOrEqual(
          3600,
        );
        expect(annotations['nginx.ingress.kubernetes.io/proxy-buffering']).toBe('off');
        expect(annotations['nginx.ingress.kubernetes.io/proxy-http-version']).toBe('1.1');
        expect(annotations['nginx.ingress.kubernetes.io/backend-protocol']).toBe('HTTPS');
        expect(ingress.spec.rules[0].http.paths[0].backend.service).toEqual({
          name: 'kgw',
          port: { name: 'gateway' },
        });
        // Only the ingress controller reaches the gateway port, and its forwarded headers are believed.
        expect(find(objects, 'NetworkPolicy', 'kgw').spec.ingress[0].from).toBeDefined();
        expect(gatewayEnv(objects).KGW_HTTP_TRUSTED_PROXIES).toBeTruthy();
      });
  });
});
