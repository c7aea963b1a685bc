// Runs the built gateway (dist/, as `npm start` does) as a child process and waits for its
// "ready" log line. Used by the tests that are about the process itself: boot, bad input, signals.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const GATEWAY_MAIN = join(__dirname, '../../dist/apps/gateway/src/main.js');

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  logLines: () => string[];
  stderr: () => string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  /**
   * Start the gateway as the leader of a new process group, as a shell starts a foreground job:
   * `process.kill(-pid, 'SIGINT')` is then what Ctrl-C in a terminal does.
   */
  ownProcessGroup?: boolean;
}

function spawnGateway(
  env: Record<string, string>,
  options: SpawnOptions = {},
): {
  child: ChildProcess;
  out: string[];
  err: string[];
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [GATEWAY_MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      KGW_LOG_FORMAT: 'json',
      KGW_HTTP_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.ownProcessGroup ?? false,
  });
  const out: string[] = [];
  const err: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (c: string) => out.push(c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => err.push(c));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, out, err, exited };
}

/** Runs the gateway expecting it to exit by itself (bad input). */
export async function runGatewayToExit(env: Record<string, string>, timeoutMs = 30_000): Promise<Exit> {
  const { child, out, err, exited } = spawnGateway(env);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

export async function startGatewayProcess(
  env: Record<string, string>,
  timeoutMs = 60_000,
  options: SpawnOptions = {},
): Promise<GatewayProcess> {
  const { child, out, err, exited } = spawnGateway(env, options);
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`gateway not ready in ${timeoutMs} ms:\n${out.join('')}\n${err.join('')}`)),
      timeoutMs,
    );
    const onData = (): void => {
      const ready = out
        .join('')
        .split('\n')
        .map((l) => (l.startsWith('{') ? (JSON.parse(l) as { url?: string; startupMs?: number }) : {}))
        .find((l) => l.url && l.startupMs !== undefined);
      if (ready?.url) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        ok(ready.url);
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`gateway exited with ${code} before it was ready:\n${out.join('')}\n${err.join('')}`));
    });
  });
  return {
    child,
    url,
    exited,
    logLines: () => out.join('').split('\n').filter(Boolean),
    stderr: () => err.join(''),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** The process group of a process (field 5 of /proc/<pid>/stat, after the parenthesised name). */
export function processGroupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/** Whether a process (a gateway, one of its workers) still exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
