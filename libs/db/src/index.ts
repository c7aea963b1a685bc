export {
  Database,
  DatabaseUnavailableError,
  connectWithDeadline,
  describeTarget,
  type DatabaseOptions,
  type ReadinessCheck,
} from './database';
export { EmbeddedPostgres, EmbeddedPostgresError, freePort } from './embedded-postgres';
export { applyMigrations, migrationsDir, latestMigration, MigrationError } from './migrations';
export { PrismaClient, Prisma } from '../../../prisma/generated/prisma/client';
export { ChannelListener, type ChannelListenerOptions } from './channel-listener';
