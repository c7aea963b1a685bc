// Prisma CLI configuration. Only `prisma generate` is used: it works offline once
// PRISMA_SCHEMA_ENGINE_BINARY names an existing file, which stops the CLI from trying to
// download its native schema engine (no internet on our machines). Migrations are applied by
// our own runner (libs/db), see docs/database.md.
import { existsSync } from 'node:fs';
import { defineConfig } from 'prisma/config';

if (!process.env.PRISMA_SCHEMA_ENGINE_BINARY || !existsSync(process.env.PRISMA_SCHEMA_ENGINE_BINARY)) {
  process.env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
}

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
