// The audit writer on its own thread. Linking the hash chain, encoding batches, the Postgres
// client and the garbage of records waiting for their batch cost the proxy about a tenth of
// its CPU when they shared its event loop — measurable as a higher p99 on every request. Here
// the request path only appends the event to an outbox; once per turn of the event loop the
// outbox goes to the writer thread (audit-writer-worker.ts) in one message.
//
// What it guards: still the promise that nothing is served unaudited. accepting() mirrors the
// writer's own answer (Postgres or the spool can keep records, the queue is within its bound)
// and turns false for good if the thread dies, so the proxy answers 503 rather than serve
// traffic nobody records. Records that arrive after close() are chained and spooled
// synchronously here, continuing the chain from the head the thread reported when it closed.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { GatewayConfig } from '@kgw/config';
import { AuditChain, auditRecordOf, type ChainedAuditRecord } from './audit-record';
import type { AuditSink } from './audit-sink';
import type { AuditTrailStats } from '../metrics/gateway-metrics';
import type { AuditEvent } from './audit-event';
import { AuditSpool } from './audit-spool';
import type { AuditFeed } from './postgres-audit-writer';

/** What the thread needs to run a PostgresAuditWriter (workerData; plain data only). */
export interface AuditWriterThreadOptions {
  instance: string;
  databaseUrl: string;
  spoolDir: string;
  flushIntervalMs: number;
  batchSize: number;
  queueMax: number;
  retryIntervalMs: number;
  writeTimeoutMs: number;
  log: GatewayConfig['log'];
}

export type ToWriterThread =
  { type: 'records'; events: AuditEvent[] } | { type: 'feed'; on: boolean } | { type: 'close' };

export type FromWriterThread =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'status'; accepting: boolean; pending: number; spoolBytes: number; replayLagSeconds: number }
  /** A JSON log record from the thread's logger, to be written by the gateway's. */
  | { type: 'log'; line: string }
  | { type: 'published'; records: ChainedAuditRecord[] }
  | { type: 'closed'; head: { seq: number; hash: string }; lost: number };

/**
 * The compiled worker entry. Run from TypeScript sources (the in-process e2e gateway under
 * Jest), Node cannot execute the .ts file, so the build's copy in dist/ is used; `npm run
 * test:e2e` builds before it runs.
 */
function workerEntry(): string {
  const beside = join(__dirname, 'audit-writer-worker.js');
  if (existsSync(beside)) return beside;
  return join(__dirname, '../../../../dist/apps/gateway/src/audit/audit-writer-worker.js');
}

const LOG_METHODS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** Writes a JSON log record of the thread through the gateway's logger. */
function relayLog(logger: Logger, line: string): void {
  try {
    // Time and pid are the gateway logger's own.
    const {
      level,
      msg,
      time: _time,
      pid: _pid,
      ...fields
    } = JSON.parse(line) as { level: number; msg?: string; time?: string; pid?: number };
    logger[LOG_METHODS[level] ?? 'info'](fields, msg);
  } catch {
    logger.warn('unreadable log record from the audit writer thread');
  }
}

export class AuditWriterThread implements AuditSink, AuditFeed {
  private outbox: AuditEvent[] = [];
  private postScheduled = false;
  /** The thread's last report, plus what was sent since (so the bound holds between reports). */
  private status = { accepting: true, pending: 0, spoolBytes: 0, replayLagSeconds: 0 };
  private sentSinceStatus = 0;
  private dead = false;
  private closing: Promise<void> | undefined;
  /** Set by close() once the outbox went out: later records wait for the thread's chain head. */
  private holding = false;
  /** After close(): records are chained and spooled here. */
  private afterClose: { chain: AuditChain; spool: AuditSpool } | undefined;
  private readonly listeners = new Set<(record: ChainedAuditRecord) => void>();
  private closedReport: ((message: Extract<FromWriterThread, { type: 'closed' }>) => void) | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly options: AuditWriterThreadOptions,
    private readonly logger: Logger,
  ) {
    worker.on('message', (message: FromWriterThread) => this.onMessage(message));
    worker.on('error', (err) => {
      this.dead = true;
      logger.error({ err }, 'audit writer thread failed; refusing new requests (503)');
    });
    worker.on('exit', (code) => {
      if (this.closedReport || this.afterClose) return;
      this.dead = true;
      logger.error({ code }, 'audit writer thread exited; refusing new requests (503)');
    });
  }

  /** Starts the thread; resolves once its writer has replayed any spool and holds the chain head. */
  static open(
    options: AuditWriterThreadOptions,
    logger: Logger,
    // Tests hand in a stand-in thread that speaks the same messages.
    worker: Worker = new Worker(workerEntry(), { workerData: options }),
  ): Promise<AuditWriterThread> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number): void =>
        reject(new Error(`the audit writer thread exited (${code}) before it was ready`));
      const onMessage = (message: FromWriterThread): void => {
        // The writer may log while it opens (a spool replayed, Postgres unreachable).
        if (message.type === 'log') return relayLog(logger, message.line);
        worker.off('message', onMessage);
        worker.off('error', reject);
        worker.off('exit', onExit);
        if (message.type === 'ready') resolve(new AuditWriterThread(worker, options, logger));
        else {
          void worker.terminate();
          reject(new Error(message.type === 'failed' ? message.message : `unexpected ${message.type}`));
        }
      };
      worker.once('error', reject);
      worker.once('exit', onExit);
      worker.on('message', onMessage);
    });
  }

  get instance(): string {
    return this.options.instance;
  }

  record(event: AuditEvent): void {
    event.instance = this.options.instance;
    if (this.afterClose) return this.recordAfterClose(event);
    this.outbox.push(event);
    if (this.postScheduled || this.holding) return;
    this.postScheduled = true;
    // One message per turn of the event loop, however many requests ended in it.
    setImmediate(() => this.post());
  }

  /** The thread's last report, with what was queued here since. */
  trailStats(): AuditTrailStats {
    return {
      queueDepth: this.status.pending + this.sentSinceStatus + this.outbox.length,
      spoolBytes: this.status.spoolBytes,
      replayLagSeconds: this.status.replayLagSeconds,
    };
  }

  accepting(): boolean {
    if (this.dead) return false;
    const pending = this.status.pending + this.sentSinceStatus + this.outbox.length;
    return this.status.accepting && pending < this.options.queueMax;
  }

  subscribe(listener: (record: ChainedAuditRecord) => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.send({ type: 'feed', on: true });
    return () => {
      if (this.listeners.delete(listener) && this.listeners.size === 0)
        this.send({ type: 'feed', on: false });
    };
  }

  /** Flushes everything recorded so far (the thread writes or spools it), then stops the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.post();
      this.holding = true;
      const report = await new Promise<Extract<FromWriterThread, { type: 'closed' }> | undefined>((done) => {
        if (this.dead) return done(undefined);
        this.closedReport = done;
        this.worker.once('exit', () => done(undefined));
        this.send({ type: 'close' });
      });
      if (report?.lost)
        this.logger.error({ lost: report.lost }, 'audit records could not be written before exit');
      if (report) {
        const spool = new AuditSpool(this.options.spoolDir);
        await spool.open();
        this.afterClose = { chain: new AuditChain(report.head.seq, report.head.hash), spool };
        const held = this.outbox;
        this.outbox = [];
        for (const event of held) this.recordAfterClose(event);
      } else {
        this.logger.error(
          { lost: this.outbox.length },
          'the audit writer thread ended without a final report',
        );
      }
      await this.worker.terminate();
    })();
    return this.closing;
  }

  private post(): void {
    this.postScheduled = false;
    if (this.outbox.length === 0 || this.holding) return;
    const events = this.outbox;
    this.outbox = [];
    if (this.dead) {
      // Exchanges that were already under way when the thread died; new ones are refused (503).
      this.logger.error(
        { lost: events.length, requestIds: events.map((e) => e.requestId) },
        'audit records lost: the writer thread is gone',
      );
      return;
    }
    this.sentSinceStatus += events.length;
    this.send({ type: 'records', events });
  }

  private send(message: ToWriterThread): void {
    if (!this.dead) this.worker.postMessage(message);
  }

  private onMessage(message: FromWriterThread): void {
    switch (message.type) {
      case 'status':
        this.status = {
          accepting: message.accepting,
          pending: message.pending,
          spoolBytes: message.spoolBytes,
          replayLagSeconds: message.replayLagSeconds,
        };
        this.sentSinceStatus = 0;
        break;
      case 'published':
        for (const record of message.records)
          for (const listener of this.listeners) {
            try {
              listener(record);
            } catch (err) {
              this.logger.warn({ err }, 'audit feed listener failed');
            }
          }
        break;
      case 'closed':
        this.closedReport?.(message);
        break;
      case 'log':
        relayLog(this.logger, message.line);
        break;
      case 'ready':
      case 'failed':
        // Only the first message; open() took it.
        break;
    }
  }

  private recordAfterClose(event: AuditEvent): void {
    const { chain, spool } = this.afterClose!;
    const record = chain.link(auditRecordOf(event));
    try {
      spool.appendSync([record]);
    } catch (err) {
      this.logger.error(
        { err, requestId: record.requestId },
        'audit record after shutdown could not be spooled',
      );
    }
  }
}
