// `kgw forward` as a user runs it, for end-to-end suites: the built CLI as a child process,
// waited on until it prints its "Forwarding from" lines (or exits), stopped with Ctrl-C
// (SIGINT); every child still running when the suite ends is killed by stopAll().
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const KGW_CLI = join(__dirname, '../../dist/apps/kgw/src/main.js');
const run = promisify(execFile);

export interface Forward {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Local port of each "Forwarding from" line, in order. */
  ports: number[];
  /** Resolves once what kgw printed on stderr matches `pattern`; rejects if kgw exits first. */
  waitForStderr(pattern: RegExp): Promise<void>;
  stop(): Promise<number | null>;
}

export class ForwardRunner {
  private readonly children = new Set<ChildProcess>();

  /** Starts `kgw forward ARGS` with `env` and waits until it listens on `expectPorts` ports (or exits). */
  async start(args: string[], env: NodeJS.ProcessEnv, expectPorts = 1): Promise<Forward> {
    const child = spawn(process.execPath, [KGW_CLI, 'forward', ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    let out = '';
    let err = '';
    let hasExited = false;
    const errChanged: Array<() => void> = [];
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
      errChanged.splice(0).forEach((w) => w());
    });
    const exited = new Promise<number | null>((done) =>
      child.once('exit', (code) => {
        this.children.delete(child);
        hasExited = true;
        errChanged.splice(0).forEach((w) => w());
        done(code);
      }),
    );
    const ports: number[] = [];
    await new Promise<void>((ready) => {
      const check = () => {
        const found = [...out.matchAll(/Forwarding from 127\.0\.0\.1:(\d+) -> /g)].map((m) => Number(m[1]));
        if (found.length >= expectPorts) {
          ports.push(...found);
          ready();
        }
      };
      child.stdout.on('data', check);
      void exited.then(() => ready());
    });
    return {
      child,
      stdout: () => out,
      stderr: () => err,
      exited,
      ports,
      async waitForStderr(pattern) {
        while (!pattern.test(err)) {
          if (hasExited) throw new Error(`kgw exited before printing ${pattern}:\n${err}`);
          await new Promise<void>((r) => errChanged.push(r));
        }
      },
      async stop() {
        child.kill('SIGINT');
        return exited;
      },
    };
  }

  stopAll(): void {
    for (const child of this.children) child.kill('SIGKILL');
  }
}

/** GET through a local forward with real curl; the body. */
export async function curlLocal(port: number, path = '/'): Promise<string> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '30', `http://127.0.0.1:${port}${path}`]);
  return stdout;
}

/** Polls `probe` until it gives a value (audit rows land asynchronously). */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Sends `bytes` random bytes to the sink behind `port` and compares its SHA-256 with ours. */
export async function throughSink(
  port: number,
  bytes: number,
  during?: (sent: number) => void,
): Promise<{ ours: string; theirs: string }> {
  const hash = createHash('sha256');
  const block = randomBytes(1 << 20);
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  let answer = '';
  socket.setEncoding('utf8').on('data', (c: string) => (answer += c));
  const ended = new Promise<void>((done, fail) => {
    socket.on('end', () => done());
    socket.on('error', fail);
  });
  await new Promise<void>((done) => socket.once('connect', () => done()));
  for (let sent = 0; sent < bytes; sent += block.length) {
    hash.update(block);
    if (!socket.write(block)) await new Promise((r) => socket.once('drain', r));
    during?.(sent + block.length);
  }
  socket.end();
  await ended;
  const [theirs, count] = answer.trim().split(' ');
  expect(Number(count)).toBe(bytes);
  return { ours: hash.digest('hex'), theirs };
}
