// The audit writer's sustained throughput into Postgres (target ≥ 20,000 records/s): the real
// writer as the gateway runs it, on its own thread (hash chain, batched INSERTs of unnested column
// arrays), on the bench's embedded Postgres, fed as fast as it accepts records, for the run's
// duration. One line per batch size tried, so the default (KGW_AUDIT_BATCH_SIZE=2000) can be
// compared with its neighbours.
import { join } from 'node:path';
import { Pool } from 'pg';
import pino from 'pino';
import { Database } from '@kgw/db';
import type { AuditEvent } from '../../apps/gateway/src/audit/audit-event';
import { AuditWriterThread } from '../../apps/gateway/src/audit/audit-writer-thread';
import type { BenchContext, BenchLine, BenchScenario } from '../support/context';
import { postgres } from '../support/environment';

/** A record shaped like a typical `kubectl get pods` through the gateway. */
function sampleEvent(n: number, instance: string): AuditEvent {
  return {
    time: new Date(),
    requestId: `bench-${instance}-${n}`,
    instance,
    authUser: 'alice',
    authMethod: 'pat',
    tokenId: 'tok_0123456789',
    kubeUser: 'alice',
    kubeGroups: ['team-a', 'system:authenticated'],
    clientAddress: '10.1.2.3',
    userAgent: 'kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07',
    verb: 'list',
    apiVersion: 'v1',
    resource: 'pods',
    namespace: 'team-a',
    path: '/api/v1/namespaces/team-a/pods',
    query: 'limit=500',
    code: 200,
    decision: 'allow',
    reason: 'RBAC: allowed by RoleBinding "edit/team-a"',
    latencyMs: 3.21,
    bytesIn: 0,
    bytesOut: 4711,
  };
}

export async function measureAuditWriter(
  databaseUrl: string,
  options: { durationSec: number; batchSize: number; spoolDir: string; instance: string },
): Promise<{ records: number; seconds: number; recordsPerSec: number }> {
  // The writer as the gateway runs it: on its own thread, fed from this event loop.
  const writer = await AuditWriterThread.open(
    {
      instance: options.instance,
      databaseUrl,
      spoolDir: options.spoolDir,
      flushIntervalMs: 50,
      batchSize: options.batchSize,
      queueMax: 100_000,
      retryIntervalMs: 1000,
      writeTimeoutMs: 10_000,
      log: { level: 'warn', format: 'json' },
    },
    pino({ level: 'warn' }),
  );
  const started = performance.now();
  const deadline = started + options.durationSec * 1000;
  let n = 0;
  // Offer records in bursts whenever the writer accepts them, as a busy gateway would.
  while (performance.now() < deadline) {
    if (writer.accepting()) for (let i = 0; i < 1000; i++) writer.record(sampleEvent(n++, options.instance));
    await new Promise((r) => setImmediate(r));
  }
  await writer.close();
  const seconds = (performance.now() - started) / 1000;
  // Every record offered must be in Postgres, once (none spooled, none lost).
  const pool = new Pool({ connectionString: databaseUrl, max: 1 });
  const stored = await pool.query<{ n: string }>(
    'SELECT count(*)::text AS n FROM audit_event WHERE instance = $1',
    [options.instance],
  );
  await pool.end();
  if (Number(stored.rows[0].n) !== n) throw new Error(`wrote ${stored.rows[0].n} of ${n} records`);
  return { records: n, seconds, recordsPerSec: n / seconds };
}

export const auditWriterBench: BenchScenario = {
  name: 'audit-writer',
  description: 'Sustained audit records/s into Postgres through the real writer (target ≥ 20,000/s)',
  async *run(ctx: BenchContext): AsyncIterable<BenchLine> {
    const url = await postgres(ctx);
    // Applies the migrations when no gateway has booted on this Postgres yet.
    const db = await Database.open({ url, dataDir: join(ctx.workDir, 'pg'), connectTimeoutMs: 10_000 });
    await db.close();
    for (const batchSize of [500, 2000, 5000]) {
      const id = `audit-writer/batch-${batchSize}`;
      if (ctx.options.filter && !ctx.options.filter.test(id)) continue;
      ctx.log(`${id}: ${ctx.options.durationSec} s`);
      const result = await measureAuditWriter(url, {
        durationSec: Math.max(ctx.options.durationSec, 2),
        batchSize,
        spoolDir: join(ctx.workDir, `audit-spool-${batchSize}`),
        instance: `bench-${batchSize}-${Date.now()}`,
      });
      yield {
        bench: 'audit-writer',
        id,
        batch_size: batchSize,
        records: result.records,
        seconds: Number(result.seconds.toFixed(2)),
        records_per_s: Math.round(result.recordsPerSec),
        target_records_per_s: 20_000,
        meets_target: result.recordsPerSec >= 20_000,
      };
    }
  },
};
