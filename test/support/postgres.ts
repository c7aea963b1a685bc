// One embedded Postgres per test file, in a fresh temporary data directory.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedPostgres } from '@kgw/db';

export interface TestPostgres {
  server: EmbeddedPostgres;
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const root = mkdtempSync(join(tmpdir(), 'kgw-pg-'));
  // mkdtemp makes a 0700 directory; Postgres runs as another OS user when we are root.
  chmodSync(root, 0o755);
  const dataDir = join(root, 'pg');
  const server = new EmbeddedPostgres({ dataDir });
  const url = await server.start();
  return {
    server,
    url,
    dataDir,
    async stop() {
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
