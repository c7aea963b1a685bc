// The audit writer: takes records off the request path and makes them durable in batches.
//
// What it guards: the promise that nothing is served unaudited. record() only queues (no I/O,
// no hashing on the response path). Every flush interval, the queue is linked into this
// instance's hash chain and written as one INSERT; if Postgres fails, the same batch is
// appended to the fsync'd spool instead, and from then on every batch goes to the spool (so
// order is kept) until a replay has moved the whole spool into Postgres. If the spool cannot
// be written either, the batch stays in memory, accepting() turns false and the proxy answers
// new requests 503 until a write succeeds again. The same happens when the queue outgrows
// its bound (Postgres slower than traffic).
//
// What it trusts: that Postgres commits what it acknowledges, that fsync means durable, and
// that no other process writes this instance's chain or spool directory.
//
// What it refuses: to drop a record. Duplicates are impossible instead of merely unlikely:
// every insert is ON CONFLICT (request_id) DO NOTHING, so a batch that timed out after
// committing and was spooled anyway replays as a no-op.
import type { Logger } from 'pino';
import { AuditChain, auditRecordOf, type ChainedAuditRecord } from './audit-record';
import type { AuditSink } from './audit-sink';
import type { AuditEvent } from './audit-event';
import type { AuditSpool } from './audit-spool';
import type { AuditStore, EncodedAuditBatch } from './audit-store';

/** Live records as they become durable, for the SSE tail. */
export interface AuditFeed {
  subscribe(listener: (record: ChainedAuditRecord) => void): () => void;
}

export interface AuditWriterOptions {
  instance: string;
  store: AuditStore;
  spool: AuditSpool;
  flushIntervalMs: number;
  batchSize: number;
  queueMax: number;
  retryIntervalMs: number;
  logger: Logger;
}

/** Records linked or encoded between two turns of the event loop (~1 ms of work). */
const SLICE = 50;

/** Lets pending I/O (requests being proxied) run before the writer continues. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** How many batches one replay pass moves before new records get their turn again. */
const REPLAY_BATCHES_PER_PASS = 10;

export class PostgresAuditWriter implements AuditSink, AuditFeed {
  /** Handed over by record(), not yet linked or written. */
  private queue: AuditEvent[] = [];
  /** Linked into the chain, not yet durable anywhere (kept in order across failed attempts). */
  private unwritten: ChainedAuditRecord[] = [];
  private draining: Promise<void> | undefined;
  private drainAgain = false;
  private spoolFailing = false;
  private databaseDown = false;
  private nextReplayAt = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(record: ChainedAuditRecord) => void>();
  /** Counters for tests, metrics and the bench. */
  readonly stats = { recorded: 0, inserted: 0, spooled: 0, replayed: 0 };

  private constructor(
    private readonly options: AuditWriterOptions,
    private readonly chain: AuditChain,
  ) {}

  /**
   * Replays what a previous run left in the spool (Postgres answered at boot), then continues
   * the chain from its last link: the spool's if anything is still spooled, else Postgres's.
   */
  static async open(options: AuditWriterOptions): Promise<PostgresAuditWriter> {
    const { spool, store, logger } = options;
    await spool.open();
    const probe = new PostgresAuditWriter(options, AuditChain.start());
    if (spool.hasBacklog()) {
      await probe.replay(Number.POSITIVE_INFINITY);
      if (spool.hasBacklog()) logger.warn({ spool: spool.dir }, 'audit spool not fully replayed at startup');
    }
    const spooledHead = spool.hasBacklog() ? await spool.lastRecord() : undefined;
    const head = spooledHead ?? (await store.chainHead(options.instance));
    const writer = new PostgresAuditWriter(
      options,
      head ? new AuditChain(head.seq, head.hash) : AuditChain.start(),
    );
    writer.databaseDown = probe.databaseDown;
    writer.nextReplayAt = probe.nextReplayAt;
    writer.timer = setInterval(() => writer.kick(), options.flushIntervalMs);
    writer.timer.unref();
    return writer;
  }

  get instance(): string {
    return this.options.instance;
  }

  /** The last link handed out (after close(): where a successor continues the chain). */
  get chainHead(): { seq: number; hash: string } {
    return this.chain.last;
  }

  record(event: AuditEvent): void {
    // The chain's owner names the instance, whatever the producer wrote.
    event.instance = this.options.instance;
    this.stats.recorded++;
    if (this.closed) {
      this.recordAfterClose(event);
      return;
    }
    this.queue.push(event);
    if (this.queue.length >= this.options.batchSize) this.kick();
  }

  accepting(): boolean {
    return !this.spoolFailing && this.queue.length + this.unwritten.length < this.options.queueMax;
  }

  /** Records waiting in memory (not yet durable). */
  get pending(): number {
    return this.queue.length + this.unwritten.length;
  }

  get spooling(): boolean {
    return this.options.spool.hasBacklog();
  }

  /** Bytes waiting in the spool for Postgres. */
  get spoolBytes(): number {
    return this.options.spool.bytes;
  }

  /** Whole seconds since the oldest record still in the spool was spooled (0 when none). */
  get replayLagSeconds(): number {
    const since = this.options.spool.backlogSince;
    return since === undefined ? 0 : Math.max(0, Math.floor((Date.now() - since) / 1000));
  }

  subscribe(listener: (record: ChainedAuditRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Flushes everything recorded so far (SIGTERM path), then stops the timer. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    // Keep draining until nothing is left in memory; a stuck spool is retried a few times
    // before giving up, since an exiting process cannot keep the records any longer.
    for (let attempt = 0; this.pending > 0 || this.draining; attempt++) {
      this.kick();
      await this.draining;
      if (this.pending > 0 && this.spoolFailing) {
        if (attempt >= 20) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    this.closed = true;
    if (this.pending > 0)
      this.options.logger.error({ lost: this.pending }, 'audit records could not be written before exit');
    await this.options.spool.close();
  }

  /** Starts a drain unless one is running (then it runs once more when done). */
  private kick(): void {
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = this.drain()
      .catch((err: unknown) => this.options.logger.error({ err }, 'audit writer failed'))
      .finally(() => {
        this.draining = undefined;
      });
  }

  private async drain(): Promise<void> {
    do {
      this.drainAgain = false;
      if (!(await this.flushQueue())) return;
      if (this.options.spool.hasBacklog() && Date.now() >= this.nextReplayAt) {
        if (await this.replay(REPLAY_BATCHES_PER_PASS)) this.drainAgain = true;
      }
    } while (this.drainAgain || this.queue.length >= this.options.batchSize);
  }

  /** Writes the queue out batch by batch; false when a batch could be kept nowhere. */
  private async flushQueue(): Promise<boolean> {
    // The next batch is linked and encoded while the current one is being written: hashing and
    // encoding on this core overlap with Postgres inserting on the other (done strictly one
    // after the other, the two were the writer's throughput limit). Order is unchanged: the
    // queue's front is always linked next, behind whatever is already linked but unwritten.
    let prepared = await this.prepareBatch(0);
    while (prepared) {
      const { batch, encoded } = prepared;
      const written = this.persist(batch, encoded);
      const following = this.prepareBatch(batch.length);
      const kept = await written;
      const next = await following;
      if (!kept) return false;
      this.unwritten = this.unwritten.slice(batch.length);
      this.publish(batch);
      prepared = next;
    }
    return true;
  }

  /**
   * The batch that starts `offset` records into `unwritten`: links records from the queue until
   * there is a whole batch (or the queue is empty), then encodes it for the INSERT. Both happen
   * a slice at a time with a turn of the event loop in between, so a large batch (traffic
   * bursts, a backlog after an outage) never holds requests up for more than about a
   * millisecond: done in one piece, 2,000 records kept the proxy waiting ~40 ms.
   */
  private async prepareBatch(
    offset: number,
  ): Promise<{ batch: ChainedAuditRecord[]; encoded?: EncodedAuditBatch } | undefined> {
    const { batchSize, store, spool } = this.options;
    const missing = batchSize - (this.unwritten.length - offset);
    if (missing > 0 && this.queue.length > 0) {
      // One cut of the queue per batch (a queue grown to 100,000 during an outage would be
      // copied 40 times per batch if it were cut per slice).
      const taken = this.queue.length <= missing ? this.queue : this.queue.slice(0, missing);
      this.queue = taken === this.queue ? [] : this.queue.slice(missing);
      for (let i = 0; i < taken.length; i += SLICE) {
        const end = Math.min(i + SLICE, taken.length);
        for (let j = i; j < end; j++) this.unwritten.push(this.chain.link(auditRecordOf(taken[j])));
        await nextTurn();
      }
    }
    const batch = this.unwritten.slice(offset, offset + batchSize);
    if (batch.length === 0) return undefined;
    // Behind a spool backlog the batch is appended to the spool: nothing to encode.
    if (spool.hasBacklog()) return { batch };
    const encoder = store.batchEncoder();
    for (let i = 0; i < batch.length; i += SLICE) {
      encoder.add(batch.slice(i, i + SLICE));
      await nextTurn();
    }
    return { batch, encoded: encoder.finish() };
  }

  /** Postgres first (unless a backlog must go first), else the spool. */
  private async persist(batch: ChainedAuditRecord[], encoded?: EncodedAuditBatch): Promise<boolean> {
    const { store, spool, logger } = this.options;
    if (!spool.hasBacklog()) {
      try {
        await store.insertEncoded(encoded ?? store.encodeBatch(batch));
        this.stats.inserted += batch.length;
        if (this.databaseDown) logger.info('audit: Postgres is back');
        this.databaseDown = false;
        this.spoolFailing = false;
        return true;
      } catch (err) {
        if (!this.databaseDown)
          logger.warn({ err: describe(err), spool: spool.dir }, 'audit: Postgres failed, spooling records');
        this.databaseDown = true;
        this.nextReplayAt = Date.now() + this.options.retryIntervalMs;
      }
    }
    try {
      await spool.append(batch);
      this.stats.spooled += batch.length;
      if (this.spoolFailing) logger.warn('audit: spool writable again, accepting requests');
      this.spoolFailing = false;
      return true;
    } catch (err) {
      if (!this.spoolFailing)
        logger.error(
          { err: describe(err), spool: spool.dir },
          'audit: neither Postgres nor the spool can keep records; refusing new requests (503)',
        );
      this.spoolFailing = true;
      return false;
    }
  }

  /**
   * Moves spooled records into Postgres, oldest segment first, at most `maxBatches` batches.
   * Returns true when it stopped for the budget with more to do.
   */
  private async replay(maxBatches: number): Promise<boolean> {
    const { store, spool, logger, batchSize } = this.options;
    for (let batches = 0; batches < maxBatches;) {
      const segment = await spool.nextForReplay();
      if (!segment) {
        logger.info('audit: spool replayed into Postgres');
        this.databaseDown = false;
        return false;
      }
      while (segment.replayed < segment.records.length) {
        if (batches++ >= maxBatches) return true;
        const batch = segment.records.slice(segment.replayed, segment.replayed + batchSize);
        try {
          this.stats.replayed += await store.insertBatch(batch);
        } catch (err) {
          if (!this.databaseDown) logger.warn({ err: describe(err) }, 'audit: replay failed, retrying later');
          this.databaseDown = true;
          this.nextReplayAt = Date.now() + this.options.retryIntervalMs;
          return false;
        }
        segment.replayed += batch.length;
      }
      await spool.finished(segment);
    }
    return true;
  }

  private recordAfterClose(event: AuditEvent): void {
    const record = this.chain.link(auditRecordOf(event));
    try {
      this.options.spool.appendSync([record]);
      this.stats.spooled++;
    } catch (err) {
      this.options.logger.error(
        { err: describe(err), requestId: record.requestId },
        'audit record after shutdown could not be spooled',
      );
    }
  }

  private publish(batch: readonly ChainedAuditRecord[]): void {
    if (this.listeners.size === 0) return;
    for (const record of batch) {
      for (const listener of this.listeners) {
        try {
          listener(record);
        } catch (err) {
          this.options.logger.warn({ err }, 'audit feed listener failed');
        }
      }
    }
  }
}

/** Errors from pg may carry the connection string in odd places; keep only what helps. */
function describe(err: unknown): { message: string; code?: string } {
  if (err instanceof Error) return { message: err.message, code: (err as { code?: string }).code };
  return { message: String(err) };
}
