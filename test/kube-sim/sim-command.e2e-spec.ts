// `npm run sim` as a user runs it (the built command, its kubeconfigs): pod streams work like in
// the demo — kubectl exec, logs and port-forward against the admin kubeconfig.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(__dirname, '..', '..');

describe('npm run sim', () => {
  let sim: ChildProcess;
  let dir: string;
  let kubeconfig: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sim-command-'));
    sim = spawn(process.execPath, [join(root, 'dist/libs/kube-sim/src/main.js')], {
      env: { ...process.env, KUBE_SIM_PORT: '0', KUBE_SIM_DIR: dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      sim.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (/kgw\s+KUBECONFIG=/.test(out)) resolve();
      });
      sim.once('exit', (code) => reject(new Error(`kube-sim exited ${code}: ${out}`)));
    });
    // Named like the demo's: .kgw/sim/kubeconfig-<name>, .kgw/demo/kubeconfig-<name>.
    kubeconfig = join(dir, 'kubeconfig-admin');
  });

  afterAll(async () => {
    if (sim.exitCode === null) {
      const exited = new Promise((resolve) => sim.once('exit', resolve));
      sim.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const kubectl = (...args: string[]) =>
    run('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeout: 60_000 });

  it('kubectl exec runs a command in a pod', async () => {
    const { stdout } = await kubectl('exec', 'nginx', '--', 'echo', 'hi');
    expect(stdout).toBe('hi\n');
  });

  it('kubectl logs prints the pod log', async () => {
    const { stdout } = await kubectl('logs', 'nginx');
    expect(stdout).toMatch(/nginx/);
  });

  it('kubectl port-forward reaches the pod port', async () => {
    const forward = spawn('kubectl', ['--kubeconfig', kubeconfig, 'port-forward', 'pod/nginx', ':80'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        forward.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
          if (match) resolve(Number(match[1]));
        });
        forward.once('exit', (code) => reject(new Error(`port-forward exited ${code}: ${out}`)));
      });
      const page = await new Promise<string>((resolve, reject) => {
        const socket = createConnection({ port, host: '127.0.0.1' }, () =>
          socket.write('GET / HTTP/1.1\r\nHost: nginx\r\nConnection: close\r\n\r\n'),
        );
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      expect(page).toMatch(/^HTTP\/1\.1 200/);
    } finally {
      const exited = new Promise((resolve) => forward.once('exit', resolve));
      forward.kill('SIGTERM');
      await exited;
    }
  });
});
