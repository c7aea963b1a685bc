// Runs the real kubectl (/usr/bin/kubectl) against a kubeconfig, with a fresh HOME so no cache
// or user config leaks in, and tracks every process so tests can always kill them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class KubectlRunner {
  readonly home = mkdtempSync(join(tmpdir(), 'kgw-streams-home-'));
  private readonly children = new Set<ChildProcess>();

  constructor(
    private readonly kubeconfig: string,
    private readonly baseEnv: Record<string, string> = {},
  ) {}

  private env(extra: Record<string, string>): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: this.home,
      KUBECONFIG: this.kubeconfig,
      ...this.baseEnv,
      ...extra,
    };
  }

  /** Runs to completion, optionally feeding stdin. */
  run(
    args: string[],
    options: { env?: Record<string, string>; stdin?: string | Buffer; timeoutMs?: number } = {},
  ): Promise<KubectlResult> {
    const child = spawn('kubectl', args, {
      env: this.env(options.env ?? {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.children.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.stdin.on('error', () => undefined);
    if (options.stdin !== undefined) child.stdin.end(options.stdin);
    else child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    return new Promise((resolve) => {
      child.on('close', (code) => {
        clearTimeout(timer);
        this.children.delete(child);
        resolve({
          code,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        });
      });
    });
  }

  /** Starts a long-running kubectl (proxy, port-forward, logs -f, attach). */
  start(args: string[], options: { env?: Record<string, string> } = {}): LongRunningKubectl {
    const child = spawn('kubectl', args, {
      env: this.env(options.env ?? {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.children.add(child);
    child.on('close', () => this.children.delete(child));
    return new LongRunningKubectl(child);
  }

  async cleanup(): Promise<void> {
    await Promise.all(
      [...this.children].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('close', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(this.home, { recursive: true, force: true });
  }
}

export class LongRunningKubectl {
  private stdoutText = '';
  private stderrText = '';
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdoutText += chunk;
      this.notify();
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderrText += chunk;
      this.notify();
    });
    child.stdin!.on('error', () => undefined);
    this.exited = new Promise((resolve) =>
      child.on('close', (code) => {
        this.notify();
        resolve(code);
      }),
    );
  }

  get stdout(): string {
    return this.stdoutText;
  }

  get stderr(): string {
    return this.stderrText;
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Resolves with the first match of `pattern` in stdout+stderr, or rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const match = (this.stdoutText + '\n' + this.stderrText).match(pattern);
        if (match) {
          cleanup();
          resolve(match);
          return true;
        }
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          cleanup();
          reject(
            new Error(
              `kubectl exited before ${pattern}: stdout=${this.stdoutText} stderr=${this.stderrText}`,
            ),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(`timed out waiting for ${pattern}: stdout=${this.stdoutText} stderr=${this.stderrText}`),
        );
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(onData);
      };
      const onData = (): void => void check();
      if (!check()) this.waiters.add(onData);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}
