import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ChainVerifier, type ChainedAuditRecord } from './audit-record';
import type { AuditEvent } from './audit-event';
import { AuditSpool } from './audit-spool';
import type { AuditStore, EncodedAuditBatch } from './audit-store';
import { PostgresAuditWriter } from './postgres-audit-writer';

/** A strict stand-in for the table: unique request ids, and an on/off switch for outages. */
class FakeStore {
  rows: ChainedAuditRecord[] = [];
  down = false;
  async insertBatch(records: readonly ChainedAuditRecord[]): Promise<number> {
    if (this.down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    let inserted = 0;
    for (const r of records) {
      if (this.rows.some((row) => row.requestId === r.requestId)) continue;
      this.rows.push(r);
      inserted++;
    }
    return inserted;
  }
  /** The writer encodes ahead of inserting, a slice at a time; the fake keeps the records. */
  batchEncoder(): { add(records: readonly ChainedAuditRecord[]): void; finish(): EncodedAuditBatch } {
    const kept: ChainedAuditRecord[] = [];
    return {
      add: (records) => kept.push(...records),
      finish: () => ({ size: kept.length, columns: [], records: kept }) as EncodedAuditBatch,
    };
  }
  encodeBatch(records: readonly ChainedAuditRecord[]): EncodedAuditBatch {
    return { size: records.length, columns: [], records } as EncodedAuditBatch;
  }
  async insertEncoded(batch: EncodedAuditBatch): Promise<number> {
    return this.insertBatch((batch as EncodedAuditBatch & { records: ChainedAuditRecord[] }).records);
  }
  async chainHead(): Promise<{ seq: number; hash: string } | undefined> {
    const last = this.rows.at(-1);
    return last ? { seq: last.seq, hash: last.hash } : undefined;
  }
}

function event(n: number): AuditEvent {
  return {
    time: new Date(1_700_000_000_000 + n),
    requestId: `req-${n}`,
    instance: 'gw-0',
    authUser: 'alice',
    kubeGroups: ['dev'],
    path: '/api/v1/pods',
    code: 200,
    decision: 'allow',
    latencyMs: 1.25,
    bytesIn: 0,
    bytesOut: 10,
  };
}

const until = async (condition: () => boolean, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('PostgresAuditWriter', () => {
  let dir: string;
  let store: FakeStore;
  const logger = pino({ level: 'silent' });
  const open = (spoolDir = join(dir, 'spool'), queueMax = 1000, batchSize = 20) =>
    PostgresAuditWriter.open({
      instance: 'gw-0',
      store: store as unknown as AuditStore,
      spool: new AuditSpool(spoolDir, 50),
      flushIntervalMs: 5,
      batchSize,
      queueMax,
      retryIntervalMs: 20,
      logger,
    });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kgw-audit-writer-'));
    store = new FakeStore();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes records in batches, chained in the order they were recorded', async () => {
    const writer = await open();
    for (let n = 1; n <= 95; n++) writer.record(event(n));
    await until(() => store.rows.length === 95);
    await writer.close();
    const verifier = new ChainVerifier('gw-0');
    for (const row of store.rows) expect(verifier.check({ ...row, id: String(row.seq) })).toBe(true);
    expect(store.rows.map((r) => r.requestId)).toEqual(Array.from({ length: 95 }, (_, i) => `req-${i + 1}`));
    expect(store.rows.map((r) => r.seq)).toEqual(Array.from({ length: 95 }, (_, i) => i + 1));
  });

  it('prepares a large batch in slices, letting other work run in between, without changing the order', async () => {
    const writer = await open(join(dir, 'spool'), 10_000, 2000);
    // Stands in for requests being proxied: counts turns of the event loop the writer gave up.
    let turns = 0;
    let ticking = true;
    const tick = (): void => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const turnsAtInsert: number[] = [];
    const insert = store.insertBatch.bind(store);
    store.insertBatch = async (records) => {
      turnsAtInsert.push(turns);
      return insert(records);
    };
    for (let n = 1; n <= 4500; n++) writer.record(event(n));
    await until(() => store.rows.length === 4500);
    ticking = false;
    await writer.close();
    // 2,000 records are linked and encoded in slices of 50: dozens of turns before the first
    // INSERT, where a batch prepared in one piece would have allowed none.
    expect(turnsAtInsert[0]).toBeGreaterThan(40);
    expect(store.rows.map((r) => r.seq)).toEqual(Array.from({ length: 4500 }, (_, i) => i + 1));
    const verifier = new ChainVerifier('gw-0');
    for (const row of store.rows) expect(verifier.check({ ...row, id: String(row.seq) })).toBe(true);
  });

  it('spools while Postgres is down and replays in order, once, when it returns', async () => {
    const writer = await open();
    writer.record(event(1));
    await until(() => store.rows.length === 1);
    store.down = true;
    for (let n = 2; n <= 120; n++) writer.record(event(n));
    await until(() => writer.stats.spooled === 119);
    expect(writer.accepting()).toBe(true);
    expect(readdirSync(join(dir, 'spool')).length).toBeGreaterThan(0);
    store.down = false;
    // New records keep arriving during the replay; they must queue behind the spooled ones.
    for (let n = 121; n <= 130; n++) writer.record(event(n));
    await until(() => store.rows.length === 130);
    await writer.close();
    expect(store.rows.map((r) => r.seq)).toEqual(Array.from({ length: 130 }, (_, i) => i + 1));
    expect(readdirSync(join(dir, 'spool'))).toEqual([]);
  });

  it('replays a spool a crashed run left behind at startup, and continues its chain', async () => {
    // The run that crashes writes to a database that never comes back for it: a dead process
    // does not replay its own spool behind the next run's back.
    const database = store;
    store = Object.assign(new FakeStore(), { down: true });
    const first = await open(join(dir, 'crashed'));
    store = database;
    for (let n = 1; n <= 30; n++) first.record(event(n));
    await until(() => first.stats.spooled === 30);
    // A crash: no close(); what it left on disk is what the next run finds (a copy, so the
    // stand-in for the dead process can be stopped afterwards without touching it). Even a torn
    // last line must not stop the replay.
    cpSync(join(dir, 'crashed'), join(dir, 'spool'), { recursive: true });
    const segment = readdirSync(join(dir, 'spool')).sort().at(-1)!;
    writeFileSync(join(dir, 'spool', segment), '{"torn', { flag: 'a' });
    const second = await open();
    expect(store.rows).toHaveLength(30);
    second.record(event(31));
    await second.close();
    expect(store.rows.map((r) => r.seq)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
    expect(store.rows[30].prevHash).toBe(store.rows[29].hash);
    await first.close();
  });

  it('replaying records Postgres already has skips them (unique request id)', async () => {
    const writer = await open();
    for (let n = 1; n <= 10; n++) writer.record(event(n));
    await until(() => store.rows.length === 10);
    const spool = new AuditSpool(join(dir, 'again'));
    await spool.append(store.rows);
    await spool.close();
    await writer.close();
    const replayer = await open(join(dir, 'again'));
    await replayer.close();
    expect(store.rows).toHaveLength(10);
  });

  it('refuses new requests when neither Postgres nor the spool can keep records, and recovers', async () => {
    const blocker = join(dir, 'not-a-directory');
    const writer = await open(join(blocker, 'spool'));
    // The spool's parent turns out to be a file: every spool write fails (ENOTDIR).
    writeFileSync(blocker, '');
    store.down = true;
    writer.record(event(1));
    await until(() => !writer.accepting());
    store.down = false;
    // The kept-back record goes out once Postgres answers again; nothing was dropped.
    await until(() => writer.accepting() && store.rows.length === 1, 5000);
    await writer.close();
  });

  it('refuses new requests while the queue is over its bound', async () => {
    const writer = await open(undefined, 5);
    for (let n = 1; n <= 5; n++) writer.record(event(n));
    expect(writer.accepting()).toBe(false);
    await until(() => writer.accepting());
    await writer.close();
    expect(store.rows).toHaveLength(5);
  });

  it('close() flushes everything recorded so far', async () => {
    const writer = await open();
    for (let n = 1; n <= 500; n++) writer.record(event(n));
    await writer.close();
    expect(store.rows).toHaveLength(500);
  });

  it('publishes records to subscribers once they are durable', async () => {
    const writer = await open();
    const seen: string[] = [];
    const unsubscribe = writer.subscribe((r) => seen.push(r.requestId));
    writer.record(event(1));
    await until(() => seen.length === 1);
    unsubscribe();
    writer.record(event(2));
    await writer.close();
    expect(seen).toEqual(['req-1']);
  });
});
