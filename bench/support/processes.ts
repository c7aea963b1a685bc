// Every process the bench starts goes through one ProcessGroup, so all of them are stopped at the
// end, on an error, and on Ctrl-C: SIGTERM first (the gateway drains and stops its Postgres, the
// servers close), SIGKILL after a grace period.
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';

export class Child {
  private out = '';
  private err = '';
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<number | null>;
  /** Date.now() when the process was spawned. */
  readonly startedAt = Date.now();

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
  ) {
    process.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.out = keepTail(this.out + chunk);
      this.notify();
    });
    process.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.err = keepTail(this.err + chunk);
      this.notify();
    });
    process.stdin?.on('error', () => undefined);
    this.exited = new Promise((resolve) =>
      process.once('exit', (code, signal) => {
        this.notify();
        resolve(code ?? (signal ? 128 : null));
      }),
    );
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** The first match of `pattern` in stdout+stderr; rejects if the process exits or time runs out. */
  waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: no ${pattern} within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      const check = (): void => {
        const match = `${this.out}\n${this.err}`.match(pattern);
        if (match) {
          done();
          resolve(match);
        } else if (!this.running) {
          done();
          reject(
            new Error(`${this.name} exited (${this.process.exitCode}) before ${pattern}\n${this.tail()}`),
          );
        }
      };
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The first stdout line that parses as a JSON object. */
  async firstJsonLine<T>(timeoutMs = 60_000): Promise<T> {
    const match = await this.waitFor(/^\{.*\}$/m, timeoutMs);
    return JSON.parse(match[0]) as T;
  }

  tail(): string {
    return `--- ${this.name} stdout ---\n${this.out.slice(-2000)}\n--- ${this.name} stderr ---\n${this.err.slice(-2000)}`;
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when the process has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

function keepTail(text: string): string {
  return text.length > 1_000_000 ? text.slice(-500_000) : text;
}

export class ProcessGroup {
  private readonly children = new Set<Child>();

  spawn(
    name: string,
    command: string,
    args: string[],
    options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
  ): Child {
    const child = new Child(
      name,
      spawn(command, args, {
        env: options.env ?? process.env,
        cwd: options.cwd,
        // stdin is a pipe so that our own servers notice when the bench dies and stop themselves.
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    this.children.add(child);
    void child.exited.then(() => this.children.delete(child));
    return child;
  }

  /** Stops every child still running, in reverse start order (clients before servers). */
  async stopAll(): Promise<void> {
    for (const child of [...this.children].reverse()) await child.stop();
  }

  /** Last resort at process exit (synchronous): SIGKILL whatever is left. */
  killNow(): void {
    for (const child of this.children) if (child.running) child.process.kill('SIGKILL');
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}

/** Polls `url` until it answers with `expectStatus` (default: anything below 500). */
export async function waitForHttp(
  url: string,
  options: { ca?: string; timeoutMs?: number; expectStatus?: number; alive?: () => boolean } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (options.alive && !options.alive()) throw new Error(`${url}: the process exited (${last})`);
    const status = await probe(url, options.ca).catch((err: Error) => {
      last = err.message;
      return 0;
    });
    if (status > 0) {
      last = `HTTP ${status}`;
      if (options.expectStatus === undefined ? status < 500 : status === options.expectStatus) return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not ready: ${last}`);
}

function probe(url: string, ca: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { ca, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}
