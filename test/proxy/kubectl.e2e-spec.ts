// Real kubectl through the gateway: every kind of traffic kubectl proxy carries, under the
// caller's own identity. Assertions also look at what reached the API server (the simulator's
// request log): the caller's impersonation on every request, the gateway's own credential.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayStack, type GatewayStack } from '../support/gateway-stack';

let stack: GatewayStack;

beforeAll(async () => {
  stack = await startGatewayStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

const GATEWAY_SA = 'system:serviceaccount:kgw-system:kgw';

describe('REST', () => {
  it('get across namespaces, with wide, yaml and json output', async () => {
    const alice = stack.kubectl('alice');
    const all = await alice.run(['get', 'ns,pods,svc,deploy', '-A']);
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/default\s+pod\/nginx\s+1\/1\s+Running/);
    expect(all.stdout).toContain('service/my-nginx');
    expect(all.stdout).toContain('deployment.apps/my-nginx');
    const wide = await alice.run(['get', 'pods', '-o', 'wide']);
    expect(wide.stdout).toMatch(/NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
    const yaml = await alice.run(['get', 'pod', 'nginx', '-o', 'yaml']);
    expect(yaml.stdout).toContain('name: nginx');
    const json = JSON.parse((await alice.run(['get', 'pods', '-o', 'json'])).stdout);
    expect(json.kind).toBe('List');
  });

  it('describe, apply twice, delete', async () => {
    const bob = stack.kubectl('bob');
    const describe = await bob.run(['describe', 'pod', '-n', 'team-a', '-l', 'app=web']);
    expect(describe.code).toBe(0);
    expect(describe.stdout).toMatch(/Status:\s+Running/);

    const dir = mkdtempSync(join(tmpdir(), 'kgw-apply-'));
    const manifest = join(dir, 'cm.yaml');
    writeFileSync(
      manifest,
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kgw-e2e-settings\n  namespace: team-a\ndata:\n  color: blue\n',
    );
    const first = await bob.run(['apply', '-f', manifest]);
    expect(first.stdout.trim()).toBe('configmap/kgw-e2e-settings created');
    const second = await bob.run(['apply', '-f', manifest]);
    expect(second.stdout.trim()).toBe('configmap/kgw-e2e-settings unchanged');
    const deleted = await bob.run(['delete', '-f', manifest]);
    expect(deleted.stdout.trim()).toBe('configmap "kgw-e2e-settings" deleted');
  });

  it('shows the API server forbidden message for what RBAC denies', async () => {
    const carol = stack.kubectl('carol');
    const result = await carol.run(['delete', 'pod', 'nginx']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'Error from server (Forbidden): pods "nginx" is forbidden: User "carol" cannot delete resource "pods" in API group "" in the namespace "default"',
    );
  });

  it('auth can-i and whoami answer for the caller, not the gateway', async () => {
    const bob = stack.kubectl('bob');
    expect((await bob.run(['auth', 'can-i', 'create', 'pods', '-n', 'team-a'])).stdout.trim()).toBe('yes');
    const no = await bob.run(['auth', 'can-i', 'create', 'pods', '-n', 'team-b']);
    expect(no.stdout.trim()).toBe('no');
    expect(no.code).toBe(1);
    const whoami = await bob.run(['auth', 'whoami', '-o', 'json']);
    const info = JSON.parse(whoami.stdout).status.userInfo;
    expect(info.username).toBe('bob');
    expect(info.groups).toEqual(['team-a', 'system:authenticated']);
    expect(info.extra['kgw.io/auth-method']).toEqual(['static-token']);
  });

  it("get --raw /api names the gateway's address in serverAddressByClientCIDRs, not the API server's", async () => {
    const raw = await stack.kubectl('carol').run(['get', '--raw', '/api']);
    expect(raw.code).toBe(0);
    const versions = JSON.parse(raw.stdout);
    expect(versions.kind).toBe('APIVersions');
    expect(versions.versions).toEqual(['v1']);
    expect(versions.serverAddressByClientCIDRs).toEqual([
      { clientCIDR: '0.0.0.0/0', serverAddress: new URL(stack.url).host },
    ]);
    // The simulator, like kube-apiserver, names itself: the rewrite is the gateway's.
    expect(new URL(stack.url).host).not.toBe(new URL(stack.sim.url).host);
  });
});

describe('streams', () => {
  it('get -w delivers a change as it happens', async () => {
    const alice = stack.kubectl('alice');
    const watch = alice.start(['get', 'configmaps', '-n', 'team-b', '-w', '--output-watch-events']);
    await watch.waitFor(/kube-root-ca\.crt|NAME/);
    const created = Date.now();
    await alice.run(['create', 'configmap', 'watched', '-n', 'team-b', '--from-literal=a=b']);
    await watch.waitFor(/ADDED\s+watched/);
    // Reported, not asserted: wall-clock bounds do not belong in npm test (see npm run bench).
    console.info(`watch event seen ${Date.now() - created} ms after kubectl create returned`);
    await alice.run(['delete', 'configmap', 'watched', '-n', 'team-b']);
    await watch.waitFor(/DELETED\s+watched/);
    await watch.stop();
  });

  it('logs -f shows a request made after it started', async () => {
    const alice = stack.kubectl('alice');
    const logs = alice.start(['logs', '-f', 'nginx', '--tail=0']);
    // There is no signal for "the follow stream is attached", so keep making marked requests
    // until one shows up in the stream; only requests made after the start can appear.
    for (let attempt = 0; ; attempt++) {
      const marker = `/echo/after-logs-${attempt}`;
      const res = await stack.request('alice', `/api/v1/namespaces/default/pods/nginx/proxy${marker}`);
      expect(res.status).toBe(200);
      const seen = await logs.waitFor(/after-logs-\d+/, 500).catch(() => undefined);
      if (seen) break;
      if (attempt > 100) throw new Error(`logs -f showed nothing: ${logs.stderr}`);
    }
    await logs.stop();
  });

  it.each<{ transport: string; env: Record<string, string> }>([
    { transport: 'WebSocket (kubectl default)', env: {} },
    { transport: 'SPDY', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } },
  ])('exec over $transport: env, stdin round trip, exit code', async ({ env }) => {
    const alice = stack.kubectl('alice');
    const printed = await alice.run(['exec', 'nginx', '--', 'env'], { env });
    expect(printed.stderr).toBe('');
    expect(printed.stdout).toMatch(/^HOSTNAME=nginx$/m);
    const echoed = await alice.run(['exec', '-i', 'nginx', '--', 'cat'], {
      env,
      stdin: 'through the gateway\n',
    });
    expect(echoed.stdout).toBe('through the gateway\n');
    const failed = await alice.run(['exec', 'nginx', '--', 'sh', '-c', 'exit 3'], { env });
    expect(failed.code).toBe(3);
  });

  it.each<{ transport: string; env: Record<string, string> }>([
    { transport: 'WebSocket tunnel (kubectl default)', env: {} },
    { transport: 'SPDY', env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' } },
  ])('port-forward pod/nginx over $transport', async ({ env }) => {
    const alice = stack.kubectl('alice');
    const forward = alice.start(['port-forward', 'pod/nginx', ':80'], { env });
    const [, port] = await forward.waitFor(/Forwarding from 127\.0\.0\.1:(\d+) -> 80/);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(await page.text()).toContain('Welcome to nginx!');
    await forward.stop();
  });

  it('refuses exec to a caller without pods/exec, with kubectl showing the forbidden message', async () => {
    const carol = stack.kubectl('carol');
    const result = await carol.run(['exec', 'nginx', '--', 'env']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      'pods "nginx" is forbidden: User "carol" cannot create resource "pods/exec" in API group "" in the namespace "default"',
    );
  });
});

describe('pod and service proxy with curl semantics', () => {
  it('refuses the proxy subresource to a viewer, as RBAC says (view grants no pods/proxy)', async () => {
    const pod = await stack.request('carol', '/api/v1/namespaces/default/pods/nginx/proxy/');
    expect(pod.status).toBe(403);
    expect(JSON.parse(pod.body).message).toBe(
      'pods "nginx" is forbidden: User "carol" cannot get resource "pods/proxy" in API group "" in the namespace "default"',
    );
  });

  it('serves the pod proxy path of seed 000 and the service proxy', async () => {
    const pod = await stack.request('alice', '/api/v1/namespaces/default/pods/nginx/proxy/');
    expect(pod.status).toBe(200);
    expect(pod.body).toContain('Welcome to nginx!');
    const svc = await stack.request('alice', '/api/v1/namespaces/default/services/my-nginx/proxy/');
    expect(svc.status).toBe(200);
    expect(svc.body).toContain('Welcome to nginx!');
  });

  it('tells the pod who the client is (X-Forwarded-For), not the gateway', async () => {
    const echo = await stack.request('alice', '/api/v1/namespaces/default/pods/nginx/proxy/echo');
    const seen = JSON.parse(echo.body);
    const forwardedFor = seen.headers['x-forwarded-for'] as string;
    expect(forwardedFor.split(',')[0].trim()).toBe('127.0.0.1');
  });
});

describe('what reached the API server', () => {
  it('every forwarded request carried a caller identity and the gateway credential, never a caller token', () => {
    const entries = stack.sim.requestLog.entries.filter(
      (e) => !e.path.endsWith('/subjectaccessreviews') && e.path !== '/version',
    );
    expect(entries.length).toBeGreaterThan(20);
    for (const entry of entries) {
      expect(entry.authenticatedUser?.username).toBe(GATEWAY_SA);
      expect(entry.impersonation?.user).toMatch(/^(alice|bob|carol)$/);
      expect(entry.impersonation?.extra['kgw.io/auth-method']).toEqual(['static-token']);
    }
    // The reviews the gateway asked for itself are the only requests without impersonation.
    const reviews = stack.sim.requestLog.entries.filter((e) => e.path.endsWith('/subjectaccessreviews'));
    expect(reviews.length).toBeGreaterThan(0);
    for (const review of reviews) expect(review.impersonation?.user).toBeUndefined();
  });
});
