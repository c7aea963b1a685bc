// Opens the gateway's Postgres: DATABASE_URL when configured, otherwise an embedded server in
// the data directory. Boot fails fast and says which host:port did not answer; it never hangs
// and never carries on without a database.
import { PrismaPg } from '@prisma/adapter-pg';
import { Client, Pool } from 'pg';
import { PrismaClient } from '../../../prisma/generated/prisma/client';
import { EmbeddedPostgres } from './embedded-postgres';
import { applyMigrations, latestMigration, type MigrationResult } from './migrations';

export interface DatabaseOptions {
  /** DATABASE_URL; undefined = embedded. */
  url?: string;
  dataDir: string;
  connectTimeoutMs: number;
  onLog?: (line: string) => void;
  /** Run the embedded Postgres in its own process group (see EmbeddedPostgresOptions). */
  ownProcessGroup?: boolean;
}

export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

export interface ReadinessCheck {
  ok: boolean;
  detail: string;
}

export class Database {
  private constructor(
    readonly prisma: PrismaClient,
    readonly pool: Pool,
    readonly url: string,
    readonly migrations: MigrationResult,
    readonly embedded: EmbeddedPostgres | undefined,
  ) {}

  /** Connects (starting embedded Postgres if needed), applies pending migrations, returns the handle. */
  static async open(options: DatabaseOptions): Promise<Database> {
    let embedded: EmbeddedPostgres | undefined;
    let url = options.url;
    if (!url) {
      embedded = new EmbeddedPostgres({
        dataDir: options.dataDir,
        onLog: options.onLog,
        ownProcessGroup: options.ownProcessGroup,
      });
      url = await embedded.start();
    }
    try {
      const client = await connectWithDeadline(url, options.connectTimeoutMs);
      let migrations: MigrationResult;
      try {
        migrations = await applyMigrations(client);
      } finally {
        await client.end();
      }
      const pool = new Pool({
        connectionString: url,
        max: 10,
        connectionTimeoutMillis: options.connectTimeoutMs,
      });
      // An idle client that loses its server emits 'error'; without a listener that kills the process.
      pool.on('error', (err) => options.onLog?.(`postgres pool: ${err.message}`));
      const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
      return new Database(prisma, pool, url, migrations, embedded);
    } catch (err) {
      await embedded?.stop();
      throw err;
    }
  }

  async check(): Promise<ReadinessCheck> {
    try {
      const latest = latestMigration();
      const rows = await this.pool.query<{ migration_name: string }>(
        'SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name DESC LIMIT 1',
      );
      const current = rows.rows[0]?.migration_name;
      if (current !== latest)
        return { ok: false, detail: `schema at ${current ?? 'nothing'}, expected ${latest}` };
      return { ok: true, detail: `migrated to ${current}` };
    } catch (err) {
      return { ok: false, detail: `unreachable: ${(err as Error).message}` };
    }
  }

  async close(): Promise<void> {
    await this.prisma.$disconnect();
    await this.pool.end();
    await this.embedded?.stop();
  }
}

/** Retries refused/reset connections until the deadline, then names the host:port that failed. */
export async function connectWithDeadline(url: string, timeoutMs: number): Promise<Client> {
  const target = describeTarget(url);
  const deadline = Date.now() + timeoutMs;
  let lastError: Error | undefined;
  while (Date.now() < deadline) {
    const client = new Client({
      connectionString: url,
      connectionTimeoutMillis: Math.max(100, deadline - Date.now()),
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (err) {
      lastError = err as Error;
      await client.end().catch(() => undefined);
      const code = (err as { code?: string }).code ?? '';
      // Authentication and missing-database errors will not fix themselves: fail at once.
      if (/^(28|3D)/.test(code)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const reason = lastError
    ? lastError.message || (lastError as { code?: string }).code || String(lastError)
    : 'timed out';
  throw new DatabaseUnavailableError(`cannot reach Postgres at ${target} within ${timeoutMs} ms: ${reason}`);
}

export function describeTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}
