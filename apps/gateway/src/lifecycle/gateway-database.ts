// The gateway's Postgres, opened the same way by a single gateway and by the primary of a
// multi-process one: DATABASE_URL or the embedded server, migrations applied, the outcome logged.
import type { Logger } from 'pino';
import type { GatewayConfig } from '@kgw/config';
import { Database } from '@kgw/db';

export async function openGatewayDatabase(config: GatewayConfig, logger: Logger): Promise<Database> {
  const db = await Database.open({
    url: config.db.url,
    dataDir: config.db.dataDir,
    connectTimeoutMs: config.db.connectTimeoutMs,
    onLog: (line) => logger.debug({ component: 'postgres' }, line),
    // A terminal's Ctrl-C reaches the whole foreground process group; Postgres must not stop
    // before the gateway has drained and flushed its audit records into it. The gateway stops it
    // last (or at once on exit).
    ownProcessGroup: true,
  });
  logger.info(
    {
      database: db.embedded ? `embedded Postgres in ${config.db.dataDir}` : 'DATABASE_URL',
      migrationsApplied: db.migrations.applied,
    },
    'database ready',
  );
  return db;
}
