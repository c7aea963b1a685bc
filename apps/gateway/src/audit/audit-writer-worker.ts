// The writer thread's entry (see audit-writer-thread.ts): a PostgresAuditWriter on its own pool,
// fed by the gateway's event loop one message per turn, reporting back whether it can keep
// records (the proxy's 503 decision) and, while someone tails the audit, what became durable.
import { parentPort, workerData } from 'node:worker_threads';
import { Pool } from 'pg';
import { createLogger } from '../logging/logger';
import type { ChainedAuditRecord } from './audit-record';
import { AuditSpool } from './audit-spool';
import { AuditStore } from './audit-store';
import type { AuditWriterThreadOptions, FromWriterThread, ToWriterThread } from './audit-writer-thread';
import { PostgresAuditWriter } from './postgres-audit-writer';

async function run(port: NonNullable<typeof parentPort>, options: AuditWriterThreadOptions): Promise<void> {
  const post = (message: FromWriterThread): void => port.postMessage(message);
  // Log records go to the gateway's own logger (its destination, format and redaction): a
  // thread writing to stdout itself would bypass where the operator sent the logs.
  const logger = createLogger(options.log, {
    write: (line: string) => post({ type: 'log', line }),
  }).child({ instance: options.instance });
  const pool = new Pool({
    connectionString: options.databaseUrl,
    max: 2,
    connectionTimeoutMillis: options.writeTimeoutMs,
    query_timeout: options.writeTimeoutMs,
  });
  // A pooled connection whose server went away emits 'error'; unhandled, it would end the thread.
  pool.on('error', (err) => logger.debug({ err: err.message }, 'audit pool connection lost'));
  let writer: PostgresAuditWriter;
  try {
    writer = await PostgresAuditWriter.open({
      instance: options.instance,
      store: new AuditStore(pool),
      spool: new AuditSpool(options.spoolDir),
      flushIntervalMs: options.flushIntervalMs,
      batchSize: options.batchSize,
      queueMax: options.queueMax,
      retryIntervalMs: options.retryIntervalMs,
      logger,
    });
  } catch (err) {
    await pool.end().catch(() => undefined);
    post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
    return;
  }

  // Status on change, every flush interval. Not after each batch of records: the gateway counts
  // what it sent since the last report itself, so the queue bound holds in between.
  let reported = { accepting: true, pending: -1, spoolBytes: 0, replayLagSeconds: 0 };
  const report = (): void => {
    const now = {
      accepting: writer.accepting(),
      pending: writer.pending,
      spoolBytes: writer.spoolBytes,
      replayLagSeconds: writer.replayLagSeconds,
    };
    if (
      now.accepting === reported.accepting &&
      now.pending === reported.pending &&
      now.spoolBytes === reported.spoolBytes &&
      now.replayLagSeconds === reported.replayLagSeconds
    )
      return;
    reported = now;
    post({ type: 'status', ...now });
  };
  const timer = setInterval(report, options.flushIntervalMs);

  let feed: ChainedAuditRecord[] | undefined;
  let unsubscribe: (() => void) | undefined;
  const startFeed = (): void => {
    unsubscribe ??= writer.subscribe((record) => {
      if (!feed) {
        feed = [];
        setImmediate(() => {
          const records = feed ?? [];
          feed = undefined;
          post({ type: 'published', records });
        });
      }
      feed.push(record);
    });
  };

  port.on('message', (message: ToWriterThread) => {
    switch (message.type) {
      case 'records':
        for (const event of message.events) writer.record(event);
        break;
      case 'feed':
        if (message.on) startFeed();
        else {
          unsubscribe?.();
          unsubscribe = undefined;
        }
        break;
      case 'close':
        clearInterval(timer);
        void writer
          .close()
          .then(() => pool.end().catch(() => undefined))
          .then(() => post({ type: 'closed', head: writer.chainHead, lost: writer.pending }));
        break;
    }
  });
  post({ type: 'ready' });
}

if (!parentPort) throw new Error('audit-writer-worker runs as a worker thread');
void run(parentPort, workerData as AuditWriterThreadOptions);
