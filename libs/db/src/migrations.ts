// Applies prisma/migrations at boot. Prisma's own `migrate deploy` needs a native engine that
// cannot be downloaded here, so we keep Prisma's folder layout and its `_prisma_migrations`
// bookkeeping exactly (a deployment can switch to `prisma migrate deploy` at any time) and
// apply pending folders ourselves: one transaction each, under an advisory lock so replicas
// starting together do not race.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';

/** Arbitrary constant: the advisory lock every kgw replica takes while migrating. */
const MIGRATION_LOCK_KEY = 72_917_331;

export interface MigrationResult {
  applied: string[];
  alreadyApplied: number;
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export function migrationsDir(): string {
  // Works from the sources (libs/db/src) and from the build (dist/libs/db/src).
  for (const candidate of [
    join(__dirname, '../../../prisma/migrations'),
    join(__dirname, '../../../../prisma/migrations'),
  ]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new MigrationError('prisma/migrations not found next to the gateway');
}

export async function applyMigrations(client: Client, dir = migrationsDir()): Promise<MigrationResult> {
  const folders = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'migration.sql')))
    .map((e) => e.name)
    .sort();

  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0
    )`);
    const done = await client.query<{ migration_name: string; checksum: string }>(
      'SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
    );
    const applied = new Map(done.rows.map((r) => [r.migration_name, r.checksum]));
    const result: MigrationResult = { applied: [], alreadyApplied: 0 };

    for (const name of folders) {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      const previous = applied.get(name);
      if (previous !== undefined) {
        // An edited migration means this database and the code disagree on the schema.
        if (previous !== checksum) {
          throw new MigrationError(
            `migration ${name} was changed after it was applied (checksum differs); add a new migration instead`,
          );
        }
        result.alreadyApplied++;
        continue;
      }
      const id = randomUUID();
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
           VALUES ($1, $2, $3, now(), now(), 1)`,
          [id, checksum, name],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new MigrationError(`migration ${name} failed: ${(err as Error).message}`);
      }
      result.applied.push(name);
    }
    return result;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
  }
}

export function latestMigration(dir = migrationsDir()): string | undefined {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
    .pop();
}
