// Runs the machine's real kubectl against a simulator's kubeconfigs, with a fresh HOME per
// runner so kubectl's discovery cache from other runs cannot leak in.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface SimKubectl {
  run(user: string, args: string[], options?: { stdin?: string; timeoutMs?: number }): Promise<KubectlResult>;
  /** Starts a long-running kubectl (e.g. `get -w`); stop() kills it and resolves with its output. */
  spawn(
    user: string,
    args: string[],
  ): {
    output(): string;
    waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
    stop(): Promise<KubectlResult>;
  };
  home: string;
  cleanup(): void;
}

export const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';

export function simKubectl(kubeconfigs: Record<string, string>): SimKubectl {
  const home = mkdtempSync(join(tmpdir(), 'sim-kubectl-home-'));
  const env = (user: string): NodeJS.ProcessEnv => {
    const path = kubeconfigs[user];
    if (!path) throw new Error(`no kubeconfig for ${user}`);
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      KUBECONFIG: path,
      KUBECACHEDIR: join(home, '.kube', 'cache'),
    };
  };
  return {
    home,
    run(user, args, options = {}) {
      return new Promise((resolve) => {
        const child = execFile(
          KUBECTL,
          args,
          { env: env(user), timeout: options.timeoutMs ?? 60_000, maxBuffer: 32 * 1024 * 1024 },
          (err, stdout, stderr) => {
            const code = err
              ? typeof (err as { code?: unknown }).code === 'number'
                ? (err as { code: number }).code
                : 1
              : 0;
            resolve({ code, stdout, stderr });
          },
        );
        if (options.stdin !== undefined) child.stdin?.end(options.stdin);
      });
    },
    spawn(user, args) {
      let stdout = '';
      let stderr = '';
      const waiters: { test: (s: string) => boolean; resolve: () => void }[] = [];
      const child = execFile(KUBECTL, args, { env: env(user), maxBuffer: 32 * 1024 * 1024 });
      const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
      child.stdout?.on('data', (d: Buffer) => {
        stdout += d.toString();
        for (const w of [...waiters])
          if (w.test(stdout)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
      });
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      return {
        output: () => stdout,
        waitFor(text, timeoutMs = 30_000) {
          const test = (s: string): boolean => (typeof text === 'string' ? s.includes(text) : text.test(s));
          if (test(stdout)) return Promise.resolve();
          return new Promise((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`timed out waiting for ${String(text)} in:\n${stdout}\n${stderr}`)),
              timeoutMs,
            );
            waiters.push({
              test,
              resolve: () => {
                clearTimeout(timer);
                resolve();
              },
            });
          });
        },
        async stop() {
          child.kill('SIGTERM');
          const code = await exited;
          return { code, stdout, stderr };
        },
      };
    },
    cleanup() {
      rmSync(home, { recursive: true, force: true });
    },
  };
}
