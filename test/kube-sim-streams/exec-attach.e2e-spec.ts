// kubectl exec, attach and logs against the simulator (demo scenario), over WebSocket v5
// (kubectl's default) and over SPDY (KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false); `exec -it` runs
// under tmux to get a real terminal and follow a resize; forbidden users get kubectl's messages.
import { execFileSync } from 'node:child_process';
import * as http from 'node:http';
import { KubectlRunner } from '../support/kubectl';
import { startStreamsSim, StreamsSim } from '../support/streams-sim';

const TRANSPORTS: Array<[string, Record<string, string>, string]> = [
  ['kubectl defaults (WebSocket v5)', {}, 'websocket'],
  ['KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false (SPDY)', { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }, 'spdy'],
];

async function waitUntil(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    // tmux offers no event for "the pane changed"; poll its capture.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('kubectl exec, attach and logs through the simulator', () => {
  let server: StreamsSim;
  let kubectl: KubectlRunner;
  let carol: KubectlRunner;
  let bob: KubectlRunner;

  beforeAll(async () => {
    server = await startStreamsSim();
    kubectl = new KubectlRunner(server.kubeconfigs.admin);
    carol = new KubectlRunner(server.kubeconfigs.carol);
    bob = new KubectlRunner(server.kubeconfigs.bob);
  });

  afterAll(async () => {
    await kubectl?.cleanup();
    await carol?.cleanup();
    await bob?.cleanup();
    await server?.close();
  });

  /** Makes an HTTP request straight to the nginx pod's port-80 listener (so it logs a line). */
  async function requestNginx(path: string): Promise<void> {
    const runtime = await server.streams.runtimes.get('default', 'nginx');
    const { host, port } = runtime!.backendFor(80)!;
    await new Promise<void>((resolve, reject) =>
      http
        .get({ host, port, path, agent: false, headers: { 'user-agent': 'streams-e2e' } }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject),
    );
  }

  /** Resolves when the next exec/attach session on pod nginx runs, with the wire it used. */
  function nextSession(subresource: 'exec' | 'attach'): Promise<string> {
    return new Promise((resolve) => {
      const off = server.streams.onSessionStarted((event) => {
        if (event.pod !== 'nginx' || event.subresource !== subresource) return;
        off();
        resolve(event.wire);
      });
    });
  }

  describe.each(TRANSPORTS)('%s', (_name, env, wire) => {
    it('exec nginx -- env shows the pod and API server variables', async () => {
      const before = server.streams.recentStreams.length;
      const result = await kubectl.run(['exec', 'nginx', '--', 'env'], { env });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const service = server.sim.store.get('services', 'default', 'my-nginx')!;
      expect(result.stdout).toContain('HOSTNAME=nginx\n');
      expect(result.stdout).toContain(`KUBERNETES_SERVICE_HOST=${server.sim.host}\n`);
      expect(result.stdout).toContain(`KUBERNETES_SERVICE_PORT=${server.sim.port}\n`);
      expect(result.stdout).toContain(
        `MY_NGINX_SERVICE_HOST=${(service.spec as { clusterIP: string }).clusterIP}\n`,
      );
      expect(result.stdout).toContain('MY_NGINX_SERVICE_PORT=80\n');
      expect(server.streams.recentStreams.slice(before).map((event) => event.wire)).toEqual([wire]);
    });

    it('exec -i nginx -- cat round-trips stdin', async () => {
      const input = Array.from({ length: 2000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}\n`).join('');
      const result = await kubectl.run(['exec', '-i', 'nginx', '--', 'cat'], { env, stdin: input });
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(input);
    });

    it("exec nginx -- sh -c 'exit 3' exits 3, and stderr stays separate", async () => {
      const result = await kubectl.run(
        ['exec', 'nginx', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'],
        { env },
      );
      expect(result.code).toBe(3);
      expect(result.stdout).toBe('out\n');
      expect(result.stderr).toContain('err\n');
      expect(result.stderr).toContain('command terminated with exit code 3');
    });

    it("exec nginx -- sh -c 'ps aux | grep nginx' and stdin through a pipe: what people type first", async () => {
      const ps = await kubectl.run(['exec', 'nginx', '--', 'sh', '-c', 'ps aux | grep nginx'], { env });
      expect(ps.code).toBe(0);
      expect(ps.stdout).toMatch(/^root\s+1\s.*nginx: master process nginx -g daemon off;$/m);
      expect(ps.stdout).toMatch(/nginx: worker process$/m);
      expect(ps.stdout).toMatch(/grep nginx$/m);
      const counted = await kubectl.run(['exec', '-i', 'nginx', '--', 'sh', '-c', 'cat | grep -c keep'], {
        env,
        stdin: 'keep 1\ndrop\nkeep 2\n',
      });
      expect(counted.stdout).toBe('2\n');
    });

    it('exec reads the service account files', async () => {
      const result = await kubectl.run(
        [
          'exec',
          'nginx',
          '--',
          'cat',
          '/var/run/secrets/kubernetes.io/serviceaccount/namespace',
          '/etc/hostname',
        ],
        { env },
      );
      expect(result.code).toBe(0);
      expect(result.stdout).toBe('defaultnginx\n');
    });

    it('exec of a missing pod says pods "x" not found', async () => {
      const result = await kubectl.run(['exec', 'missing', '--', 'env'], { env });
      expect(result.code).toBe(1);
      expect(result.stderr).toBe('Error from server (NotFound): pods "missing" not found\n');
    });

    it('exec as a view-only user gets the forbidden message', async () => {
      const result = await carol.run(['exec', 'nginx', '--', 'env'], { env });
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        'Error from server (Forbidden): pods "nginx" is forbidden: User "carol" cannot create resource "pods/exec" in API group "" in the namespace "default"\n',
      );
    });

    it('attach nginx shows the main process output live', async () => {
      const opened = nextSession('attach');
      const attach = kubectl.start(['attach', 'nginx'], { env });
      try {
        expect(await opened).toBe(wire);
        const path = `/after-attach-${wire}`;
        await requestNginx(path);
        await attach.waitFor(new RegExp(`"GET ${path} HTTP/1\\.1" 404 \\d+ "-" "streams-e2e"`));
      } finally {
        await attach.stop();
      }
    });

    it('attach -i echoes stdin lines through the main process', async () => {
      const opened = nextSession('attach');
      const attach = kubectl.start(['attach', '-i', 'nginx'], { env });
      try {
        expect(await opened).toBe(wire);
        attach.child.stdin!.write(`hello from attach over ${wire}\n`);
        await attach.waitFor(new RegExp(`hello from attach over ${wire}`));
      } finally {
        await attach.stop();
      }
    });

    it('attach as a view-only user gets the forbidden message', async () => {
      const result = await carol.run(['attach', 'nginx'], { env });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        '\nError from server (Forbidden): pods "nginx" is forbidden: User "carol" cannot create resource "pods/attach" in API group "" in the namespace "default"\n',
      );
    });
  });

  it.each(TRANSPORTS)(
    'exec -it under tmux shows a prompt and follows a resize (%s)',
    async (_name, env, wire) => {
      const session = `kgw-streams-${process.pid}-${wire}`;
      const tmux = (...args: string[]): string =>
        execFileSync('tmux', ['-L', session, ...args], { encoding: 'utf8' });
      const variables = Object.entries({ HOME: kubectl.home, KUBECONFIG: server.kubeconfigs.admin, ...env })
        .map(([key, value]) => `${key}=${value}`)
        .join(' ');
      const opened = nextSession('exec');
      tmux(
        'new-session',
        '-d',
        '-s',
        session,
        '-x',
        '80',
        '-y',
        '24',
        `env ${variables} kubectl exec -it nginx -- bash`,
      );
      try {
        const screen = (): string => tmux('capture-pane', '-p', '-t', session);
        expect(await opened).toBe(wire);
        await waitUntil(() => screen().includes('root@nginx:/#'), 30_000, screen);
        tmux('send-keys', '-t', session, 'stty size', 'Enter');
        await waitUntil(() => /\n24 80\s/.test(screen()), 30_000, screen);
        tmux('resize-window', '-t', session, '-x', '100', '-y', '30');
        tmux('send-keys', '-t', session, 'tput cols; stty size', 'Enter');
        await waitUntil(() => /\n100\s+30 100\s/.test(screen()), 30_000, screen);
        tmux('send-keys', '-t', session, 'exit 4', 'Enter');
      } finally {
        try {
          tmux('kill-server');
        } catch {
          // Already gone with its last session.
        }
      }
    },
  );

  it('logs -f shows a line for a request made after it started', async () => {
    const logs = kubectl.start(['logs', '-f', 'nginx']);
    try {
      await logs.waitFor(/start worker processes/);
      await requestNginx('/after-follow');
      await logs.waitFor(/"GET \/after-follow HTTP\/1\.1" 404 \d+ "-" "streams-e2e"/);
    } finally {
      await logs.stop();
    }
  });

  it('logs: a viewer may read them, a user without access gets the forbidden message', async () => {
    const viewer = await carol.run(['logs', 'nginx', '--tail=1']);
    expect(viewer.stderr).toBe('');
    expect(viewer.code).toBe(0);
    expect(viewer.stdout).not.toBe('');
    // bob edits team-a only; kubectl GETs the pod first, and that is what the API server refuses.
    const outsider = await bob.run(['logs', 'nginx', '-n', 'default']);
    expect(outsider.code).toBe(1);
    expect(outsider.stderr).toBe(
      'Error from server (Forbidden): pods "nginx" is forbidden: User "bob" cannot get resource "pods" in API group "" in the namespace "default"\n',
    );
  });

  it('logs --tail, --timestamps and --limit-bytes', async () => {
    const tail = await kubectl.run(['logs', 'nginx', '--tail=1', '--timestamps']);
    expect(tail.code).toBe(0);
    expect(tail.stdout.trim().split('\n')).toHaveLength(1);
    expect(tail.stdout).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z /);
    const limited = await kubectl.run(['logs', 'nginx', '--limit-bytes=5']);
    expect(limited.stdout).toBe('/dock');
    const previous = await kubectl.run(['logs', 'nginx', '--previous']);
    expect(previous.code).toBe(1);
    expect(previous.stderr).toContain('previous terminated container "nginx" in pod "nginx" not found');
  });
});
