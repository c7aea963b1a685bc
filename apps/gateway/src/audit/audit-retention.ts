// Retention: deletes audit records older than the configured age, a batch at a time, from a
// periodic job. Each batch is its own short statement on rows nobody writes any more, so the
// writer's inserts never wait on it; deleting only a chain's oldest links keeps every
// remaining chain verifiable from its new start.
import type { Logger } from 'pino';
import type { AuditStore } from './audit-store';

export interface AuditRetentionOptions {
  store: AuditStore;
  maxAgeMs: number;
  intervalMs: number;
  batchSize?: number;
  logger: Logger;
}

export class AuditRetention {
  private firstRun: NodeJS.Timeout | undefined;
  private interval: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private stopped = false;

  constructor(private readonly options: AuditRetentionOptions) {}

  /** Runs shortly after startup, then every interval. */
  start(firstRunDelayMs = 10_000): void {
    const tick = (): void => void this.runOnce();
    this.firstRun = setTimeout(tick, firstRunDelayMs);
    this.firstRun.unref();
    this.interval = setInterval(tick, this.options.intervalMs);
    this.interval.unref();
  }

  /** One pass: deletes every expired record, batch by batch; resolves with how many went. */
  runOnce(now = new Date()): Promise<number> {
    this.running ??= this.deleteExpired(now).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.firstRun);
    clearInterval(this.interval);
    await this.running?.catch(() => undefined);
  }

  private async deleteExpired(now: Date): Promise<number> {
    const { store, maxAgeMs, logger } = this.options;
    const batchSize = this.options.batchSize ?? 5000;
    const cutoff = new Date(now.getTime() - maxAgeMs);
    let deleted = 0;
    try {
      for (const instance of await store.instancesWithExpired(cutoff)) {
        for (;;) {
          if (this.stopped) return deleted;
          const n = await store.deleteExpired(instance, cutoff, batchSize);
          deleted += n;
          if (n < batchSize) break;
          // Let other queries in between batches.
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      if (deleted > 0) logger.info({ deleted, cutoff }, 'audit retention: deleted expired records');
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'audit retention failed; retrying next interval');
    }
    return deleted;
  }
}
