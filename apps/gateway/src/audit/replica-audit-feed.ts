// The live audit feed of the whole deployment, for the SSE tail (/kgw/v1/audit/stream): this
// process's records as its writer makes them durable, and every other gateway's (replicas,
// workers) as they reach Postgres.
//
// How the others' records arrive: every INSERT into audit_event announces itself with a NOTIFY
// naming the instance and the range of chain positions it added (audit-store.ts). The notice is
// only a wake-up; the rows are read from the table by (instance, seq) — the chain's own
// unique index — after a per-instance cursor. Why this and not the alternatives:
// - Polling the table by row id misses rows: ids are taken when a row is inserted, not when its
//   transaction commits, so id 41 of one replica can become visible after id 42 of another has
//   been read. A chain position is gap-free per instance and written by a single writer in
//   order (the instance claim), so "seq > cursor" never skips a committed row.
// - Records in the NOTIFY payload itself would hit its 8000-byte limit with one batch.
// - NOTIFY is sent at commit: a notice never names rows that are not visible yet, and the
//   gateway already holds a LISTEN connection for token revocations (same mechanism).
// A notice that is lost (listener reconnecting) leaves a gap that the next notice of the same
// instance fills (the cursor, not the notice, says where reading starts); after a reconnect
// every known instance is read up to date at once. Records an instance spooled while Postgres
// was down appear when its spool is replayed.
//
// Guards: the tail's promise to show every record, whichever replica wrote it. Trusts: notices
// on the channel only as hints (a malformed one is ignored; what is shown comes from the
// table). Costs: nothing while nobody tails; with tails open, one indexed read per batch of
// each other instance, whatever the number of tails (filters apply in memory, per tail).
import type { Logger } from 'pino';
import type { AuditStore, StoredAuditRecord } from './audit-store';
import type { ChainedAuditRecord } from './audit-record';
import type { AuditFeed } from './postgres-audit-writer';

/** Rows read per query while catching up on an instance. */
const PAGE = 500;

export interface AuditNotice {
  instance: string;
  from: number;
  to: number;
}

/** A notice from the channel, or undefined when it is not one of ours. */
export function parseAuditNotice(payload: string): AuditNotice | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { instance, from, to } = value as Record<string, unknown>;
  if (typeof instance !== 'string' || instance === '') return undefined;
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) return undefined;
  if ((from as number) < 1 || (to as number) < (from as number)) return undefined;
  return { instance, from: from as number, to: to as number };
}

interface InstanceCursor {
  /** The last chain position delivered. */
  seq: number;
  /** A read in progress; notices that arrive meanwhile ask for one more. */
  reading?: Promise<void>;
  again: boolean;
}

export class ReplicaAuditFeed implements AuditFeed {
  private readonly listeners = new Set<(record: ChainedAuditRecord) => void>();
  private readonly cursors = new Map<string, InstanceCursor>();
  private unsubscribeLocal: (() => void) | undefined;
  private listening = true;

  constructor(
    private readonly options: {
      /** This process's own records, straight from its writer. */
      local: AuditFeed;
      /** This process's instance: its notices are skipped (the local feed has them first). */
      instance: string;
      store: Pick<AuditStore, 'chainPage'>;
      logger: Logger;
    },
  ) {}

  subscribe(listener: (record: ChainedAuditRecord) => void): () => void {
    this.listeners.add(listener);
    this.unsubscribeLocal ??= this.options.local.subscribe((record) => this.deliver(record));
    return () => {
      if (!this.listeners.delete(listener) || this.listeners.size > 0) return;
      this.unsubscribeLocal?.();
      this.unsubscribeLocal = undefined;
      // Nobody tails: positions are forgotten, and the next tail starts from what is new then.
      this.cursors.clear();
    };
  }

  /** A payload from the audit channel. */
  heard(payload: string): void {
    if (this.listeners.size === 0) return;
    const notice = parseAuditNotice(payload);
    if (!notice || notice.instance === this.options.instance) return;
    let cursor = this.cursors.get(notice.instance);
    if (!cursor) {
      cursor = { seq: notice.from - 1, again: false };
      this.cursors.set(notice.instance, cursor);
    }
    this.read(notice.instance, cursor);
  }

  /** The channel's listener lost or regained its connection. */
  setListening(listening: boolean): void {
    const regained = listening && !this.listening;
    this.listening = listening;
    // Notices sent meanwhile are gone: read every instance we follow up to date.
    if (regained) for (const [instance, cursor] of this.cursors) this.read(instance, cursor);
  }

  private read(instance: string, cursor: InstanceCursor): void {
    if (cursor.reading) {
      cursor.again = true;
      return;
    }
    cursor.reading = (async () => {
      do {
        cursor.again = false;
        for (;;) {
          const rows = await this.options.store.chainPage(instance, cursor.seq, PAGE);
          // The cursor was dropped (the last tail closed) while this read was under way.
          if (this.cursors.get(instance) !== cursor) return;
          for (const row of rows) {
            cursor.seq = row.seq ?? cursor.seq;
            this.deliver(chained(row));
          }
          if (rows.length < PAGE) break;
        }
      } while (cursor.again);
    })()
      .catch((err: unknown) =>
        this.options.logger.warn(
          { err: (err as Error).message, instance },
          'audit feed: cannot read the records of another instance',
        ),
      )
      .finally(() => {
        cursor.reading = undefined;
      });
  }

  private deliver(record: ChainedAuditRecord): void {
    for (const listener of this.listeners) {
      try {
        listener(record);
      } catch (err) {
        this.options.logger.warn({ err }, 'audit feed listener failed');
      }
    }
  }
}

/** A row read by chain position always has one; the feed's listeners take chained records. */
function chained(row: StoredAuditRecord): ChainedAuditRecord {
  return { ...row, seq: row.seq ?? 0, prevHash: row.prevHash ?? '', hash: row.hash ?? '' };
}
