// Drift guard: every migration applies to an empty database, and every Prisma model can then be
// written and read through the generated client. If schema.prisma and the SQL disagree, this fails.
import { Client } from 'pg';
import { Database, applyMigrations, connectWithDeadline, DatabaseUnavailableError, freePort } from '@kgw/db';
import { startTestPostgres, type TestPostgres } from '../support/postgres';

describe('database', () => {
  let pg: TestPostgres;
  beforeAll(async () => {
    pg = await startTestPostgres();
  });
  afterAll(async () => {
    await pg?.stop();
  });

  it('applies all migrations to an empty database, then reads and writes every model', async () => {
    const db = await Database.open({ url: pg.url, dataDir: pg.dataDir, connectTimeoutMs: 5000 });
    try {
      expect(db.migrations.applied.length).toBeGreaterThan(0);
      expect(await db.check()).toEqual({ ok: true, detail: expect.stringMatching(/^migrated to /) });

      const written = await db.prisma.auditEvent.create({
        data: {
          requestId: 'req-1',
          instance: 'test',
          authUser: 'alice',
          authMethod: 'token',
          tokenId: 't1',
          kubeUser: 'alice',
          kubeGroups: ['dev', 'system:authenticated'],
          serviceAccount: null,
          clientAddress: '127.0.0.1',
          userAgent: 'jest',
          verb: 'get',
          apiGroup: '',
          apiVersion: 'v1',
          resource: 'pods',
          subresource: 'log',
          namespace: 'default',
          name: 'nginx',
          path: '/api/v1/namespaces/default/pods/nginx/log',
          query: 'follow=true',
          code: 200,
          decision: 'allow',
          reason: 'RBAC',
          latencyMs: 1.5,
          bytesIn: 10n,
          bytesOut: 20n,
          streamMs: 100,
          prevHash: 'a',
          hash: 'b',
          kind: 'stream',
          transport: 'websocket',
          seq: 1n,
        },
      });
      const read = await db.prisma.auditEvent.findUniqueOrThrow({ where: { requestId: 'req-1' } });
      expect(read).toEqual(written);
      expect(read.kubeGroups).toEqual(['dev', 'system:authenticated']);

      // Authentication's models (issue 7).
      const expires = new Date(Date.now() + 3600_000);
      const token = await db.prisma.personalToken.create({
        data: {
          id: 'tok_1',
          tokenHash: 'h1',
          name: 'ci',
          ownerName: 'bob',
          ownerGroups: ['team-a'],
          createdVia: 'session',
          readOnly: true,
          namespaces: ['team-a'],
          forward: false,
          expiresAt: expires,
          parentTokenId: 'tok_0',
          parentSession: 's0',
        },
      });
      expect(await db.prisma.personalToken.findUniqueOrThrow({ where: { tokenHash: 'h1' } })).toEqual(token);
      const revokedIdToken = await db.prisma.revokedIdToken.create({
        data: { tokenHash: 'i1', expiresAt: expires },
      });
      expect(await db.prisma.revokedIdToken.findUniqueOrThrow({ where: { tokenHash: 'i1' } })).toEqual(
        revokedIdToken,
      );
      const session = await db.prisma.browserSession.create({
        data: {
          idHash: 's1',
          userName: 'bob',
          groups: ['team-a'],
          claims: { sub: 'bob' },
          issuer: 'https://idp',
          subject: 'bob',
          csrfToken: 'c',
          refreshAt: expires,
          expiresAt: expires,
        },
      });
      expect(await db.prisma.browserSession.findUniqueOrThrow({ where: { idHash: 's1' } })).toEqual(session);
      const login = await db.prisma.loginTransaction.create({
        data: {
          idHash: 'l1',
          data: { oidc: { code_verifier: 'v' } },
          returnTo: '/kgw/ui/',
          expiresAt: expires,
        },
      });
      expect(await db.prisma.loginTransaction.findUniqueOrThrow({ where: { idHash: 'l1' } })).toEqual(login);
      const grant = await db.prisma.cliLoginGrant.create({
        data: {
          codeHash: 'g1',
          kind: 'device',
          userCode: 'BCDF-GHJK',
          clientName: 'kgw',
          status: 'pending',
          approverGroups: [],
          expiresAt: expires,
        },
      });
      expect(await db.prisma.cliLoginGrant.findUniqueOrThrow({ where: { userCode: 'BCDF-GHJK' } })).toEqual(
        grant,
      );
    } finally {
      await db.close();
    }
  });

  it('applies each migration once, even when two replicas migrate at the same time', async () => {
    const a = await connectWithDeadline(pg.url, 5000);
    const b = await connectWithDeadline(pg.url, 5000);
    try {
      const [ra, rb] = await Promise.all([applyMigrations(a), applyMigrations(b)]);
      expect(ra.applied).toEqual([]);
      expect(rb.applied).toEqual([]);
      const rows = await a.query(
        'SELECT migration_name, count(*)::int AS n FROM "_prisma_migrations" GROUP BY 1',
      );
      for (const row of rows.rows) expect(row.n).toBe(1);
    } finally {
      await a.end();
      await b.end();
    }
  });

  it('refuses to start when an applied migration was edited', async () => {
    const client = new Client({ connectionString: pg.url });
    await client.connect();
    try {
      await client.query(
        `UPDATE "_prisma_migrations" SET checksum = 'edited' WHERE migration_name = (SELECT min(migration_name) FROM "_prisma_migrations")`,
      );
      await expect(applyMigrations(client)).rejects.toThrow(/was changed after it was applied/);
    } finally {
      await client.end();
    }
  });

  it('names the host:port of a database that does not answer, within the deadline', async () => {
    const port = await freePort();
    const started = Date.now();
    await expect(connectWithDeadline(`postgres://u:p@127.0.0.1:${port}/db`, 1500)).rejects.toThrow(
      new RegExp(`cannot reach Postgres at 127\\.0\\.0\\.1:${port}`),
    );
    await expect(connectWithDeadline(`postgres://u:p@127.0.0.1:${port}/db`, 1500)).rejects.toBeInstanceOf(
      DatabaseUnavailableError,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
