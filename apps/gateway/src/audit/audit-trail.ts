// Builds the gateway's audit trail from the config: this process's chain (instance claim), the
// Postgres writer on its own thread with the spool under the data directory, the retention
// job, and the live feed of every instance's records (replica-audit-feed.ts).
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { GatewayConfig } from '@kgw/config';
import { ChannelListener, type Database } from '@kgw/db';
import type { ChainedAuditRecord } from './audit-record';
import { AuditRetention } from './audit-retention';
import type { AuditSink } from './audit-sink';
import type { AuditTrailStats } from '../metrics/gateway-metrics';
import type { AuditEvent } from './audit-event';
import { AUDIT_CHANNEL, AuditStore } from './audit-store';
import { AuditInstanceClaim } from './instance-claim';
import { workerInstanceName, workerSlot } from '../lifecycle/worker-cluster';
import { AuditWriterThread } from './audit-writer-thread';
import type { AuditFeed } from './postgres-audit-writer';
import { ReplicaAuditFeed } from './replica-audit-feed';

export class AuditTrail implements AuditSink, AuditFeed {
  constructor(
    private readonly writer: AuditWriterThread,
    private readonly retention: AuditRetention | undefined,
    private readonly claim: AuditInstanceClaim,
    private readonly feed: ReplicaAuditFeed,
    private readonly notices: ChannelListener,
  ) {}

  get instance(): string {
    return this.writer.instance;
  }

  record(event: AuditEvent): void {
    this.writer.record(event);
  }

  accepting(): boolean {
    return this.writer.accepting();
  }

  trailStats(): AuditTrailStats {
    return this.writer.trailStats();
  }

  /** Every instance's records: this one's as written, the others' as they reach Postgres. */
  subscribe(listener: (record: ChainedAuditRecord) => void): () => void {
    return this.feed.subscribe(listener);
  }

  async close(): Promise<void> {
    await this.notices.stop();
    await this.retention?.close();
    await this.writer.close();
    await this.claim.release();
  }
}

export async function openAuditTrail(ctx: {
  config: GatewayConfig;
  db: Database;
  logger: Logger;
}): Promise<AuditTrail> {
  const settings = ctx.config.audit;
  const logger = ctx.logger.child({ component: 'audit' });
  let claim: AuditInstanceClaim | undefined;
  let notices: ChannelListener | undefined;
  try {
    const slot = workerSlot();
    const bases = settings.instance
      ? [settings.instance]
      : [hostname(), ...Array.from({ length: 15 }, (_, i) => `${hostname()}-${i + 2}`)];
    // Each worker of a multi-process gateway writes its own chain.
    const candidates = slot === undefined ? bases : bases.map((base) => workerInstanceName(base, slot));
    claim = await AuditInstanceClaim.take(ctx.db.url, candidates, settings.retryIntervalMs, logger);
    const instance = claim.name;
    // The writer runs on its own thread with its own small pool (a slow query elsewhere never
    // delays audit writes, and a write has its own timeout); the claim stays here, held for
    // as long as this process writes the chain.
    const writer = await AuditWriterThread.open(
      {
        instance,
        databaseUrl: ctx.db.url,
        spoolDir: join(settings.spoolDir, spoolDirName(instance)),
        flushIntervalMs: settings.flushIntervalMs,
        batchSize: settings.batchSize,
        queueMax: settings.queueMax,
        retryIntervalMs: settings.retryIntervalMs,
        writeTimeoutMs: settings.writeTimeoutMs,
        log: ctx.config.log,
      },
      logger,
    );
    let retention: AuditRetention | undefined;
    if (settings.retentionDays > 0) {
      retention = new AuditRetention({
        store: new AuditStore(ctx.db.pool),
        maxAgeMs: settings.retentionDays * 86_400_000,
        intervalMs: settings.retentionIntervalMinutes * 60_000,
        logger,
      });
      retention.start();
    }
    const feed = new ReplicaAuditFeed({
      local: writer,
      instance,
      store: new AuditStore(ctx.db.pool),
      logger,
    });
    notices = new ChannelListener({
      url: ctx.db.url,
      channel: AUDIT_CHANNEL,
      onNotification: (payload) => feed.heard(payload),
      onListening: (listening) => feed.setListening(listening),
      onProblem: (message) => logger.warn(`audit feed listener ${message}`),
    });
    await notices.start();
    logger.info(
      { instance, ...ctx.config.pod, spool: settings.spoolDir, flushIntervalMs: settings.flushIntervalMs },
      'audit trail writing to Postgres',
    );
    return new AuditTrail(writer, retention, claim, feed, notices);
  } catch (err) {
    await notices?.stop();
    await claim?.release();
    throw err;
  }
}

/** The instance name as a directory name: it comes from configuration, never a path. */
function spoolDirName(instance: string): string {
  return instance.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'instance';
}
