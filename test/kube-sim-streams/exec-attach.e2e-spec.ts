// kubectl exec and attach against the simulator's pods, over WebSocket v5 (kubectl's default) and
// over SPDY (KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false); `exec -it` runs under tmux to get a real
// terminal and follow a resize.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubectlRunner } from '../support/kubectl';
import { startStreamsTestServer, StreamsTestServer } from '../support/streams-test-server';

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

describe('kubectl exec and attach through the simulator', () => {
  let server: StreamsTestServer;
  let dir: string;
  let kubectl: KubectlRunner;

  beforeAll(async () => {
    server = await startStreamsTestServer();
    dir = mkdtempSync(join(tmpdir(), 'kgw-streams-exec-'));
    kubectl = new KubectlRunner(server.writeKubeconfig(dir));
  });

  afterAll(async () => {
    await kubectl.cleanup();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe.each(TRANSPORTS)('%s', (_name, env, wire) => {
    it('exec nginx -- env shows the pod and API server variables', async () => {
      const before = server.streams.recentStreams.length;
      const result = await kubectl.run(['exec', 'nginx', '--', 'env'], { env });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('HOSTNAME=nginx\n');
      expect(result.stdout).toContain('KUBERNETES_SERVICE_HOST=10.96.0.1\n');
      expect(result.stdout).toContain('KUBERNETES_SERVICE_PORT=443\n');
      expect(result.stdout).toContain('MY_POD_NAME=nginx\n');
      expect(result.stdout).toContain('MY_NGINX_SERVICE_HOST=10.96.12.34\n');
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
      expect(result.stderr).toContain('pods "missing" not found');
    });

    it('attach -i shows the main process output and echoes stdin lines', async () => {
      const attach = kubectl.start(['attach', '-i', 'nginx-2'], { env });
      try {
        await attach.waitFor(/If you don't see a command prompt|./);
        attach.child.stdin!.write('hello from attach\n');
        await attach.waitFor(/hello from attach/);
      } finally {
        await attach.stop();
      }
    });
  });

  it('exec -it under tmux shows a prompt and follows a resize', async () => {
    const session = `kgw-streams-${process.pid}`;
    const tmux = (...args: string[]): string =>
      execFileSync('tmux', ['-L', session, ...args], { encoding: 'utf8' });
    const command = `env HOME=${kubectl.home} KUBECONFIG=${join(dir, 'kubeconfig')} kubectl exec -it nginx -- bash`;
    tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', command);
    try {
      const screen = (): string => tmux('capture-pane', '-p', '-t', session);
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
  });

  it('logs -f shows a line for a request made after it started', async () => {
    const logs = kubectl.start(['logs', '-f', 'nginx']);
    try {
      await logs.waitFor(/start worker processes/);
      const runtime = await server.streams.runtimes.get('default', 'nginx');
      const port = runtime!.backendFor(80)!.port;
      await new Promise<void>((resolve, reject) =>
        http
          .get(
            { host: '127.0.0.1', port, path: '/after-follow', headers: { 'user-agent': 'streams-e2e' } },
            (res) => {
              res.resume();
              res.on('end', resolve);
            },
          )
          .on('error', reject),
      );
      await logs.waitFor(/"GET \/after-follow HTTP\/1\.1" 404 \d+ "-" "streams-e2e"/);
    } finally {
      await logs.stop();
    }
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
