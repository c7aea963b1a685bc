// The audit spool: where records go when Postgres cannot take them, so none is lost while it is
// away. Append-only NDJSON segment files, each batch fsync'd before it counts as kept (and the
// directory fsync'd when a segment is created, so the file itself survives a crash). Segments
// are replayed oldest first and deleted only after every record in them is in Postgres; a
// replay cut short is simply repeated, which is safe because inserts skip request ids already
// stored. A torn last line (a crash mid-write) was never acknowledged and is skipped.
//
// One directory per gateway instance: two processes must never share one (the instance name
// is the pod name in a cluster, unique by construction).
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChainedAuditRecord } from './audit-record';

const SEGMENT = /^(\d{16})\.ndjson$/;

interface OpenSegment {
  name: string;
  handle: FileHandle;
  records: number;
}

/** A closed segment being replayed: its records, and how many are already in Postgres. */
export interface ReplaySegment {
  name: string;
  records: ChainedAuditRecord[];
  replayed: number;
}

export class AuditSpool {
  /** Closed segments waiting for replay, oldest first. */
  private closed: string[] = [];
  private current: OpenSegment | undefined;
  private nextNumber = 1;
  private replaying: ReplaySegment | undefined;
  /** Lines that could not be parsed when segments were read (torn writes). */
  skippedLines = 0;
  /** Segments not yet replayed, oldest first: their size, and when their first record was kept. */
  private readonly sizes = new Map<string, { bytes: number; since: number }>();

  constructor(
    readonly dir: string,
    private readonly segmentMaxRecords = 20_000,
  ) {}

  /** Finds segments left by a previous run; creates nothing until a record must be spooled. */
  async open(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') names = [];
      else throw err;
    }
    const segments = names.filter((n) => SEGMENT.test(n)).sort();
    this.closed = segments;
    for (const name of segments) {
      // A previous run's segment: its modification time stands in for its first record's.
      const { size, mtimeMs } = await stat(join(this.dir, name));
      this.sizes.set(name, { bytes: size, since: mtimeMs });
    }
    const last = segments.at(-1);
    if (last) this.nextNumber = Number(SEGMENT.exec(last)![1]) + 1;
  }

  /** True while any record is spooled and not yet replayed: new records must queue behind them. */
  hasBacklog(): boolean {
    return this.closed.length > 0 || (this.current?.records ?? 0) > 0 || this.replaying !== undefined;
  }

  /** Bytes spooled and not yet replayed. */
  get bytes(): number {
    let total = 0;
    for (const { bytes } of this.sizes.values()) total += bytes;
    return total;
  }

  /** When the oldest record not yet replayed was spooled (ms since the epoch), if any is. */
  get backlogSince(): number | undefined {
    for (const { since } of this.sizes.values()) return since;
    return undefined;
  }

  private counted(name: string, bytes: number): void {
    const size = this.sizes.get(name);
    if (size) size.bytes += bytes;
    else this.sizes.set(name, { bytes, since: Date.now() });
  }

  /** Appends a batch and fsyncs it; resolves only once the records would survive a crash. */
  async append(records: readonly ChainedAuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    const segment = this.current ?? (await this.createSegment());
    const data = records.map((r) => `${JSON.stringify(r)}\n`).join('');
    try {
      await segment.handle.write(data);
      await segment.handle.sync();
      this.counted(segment.name, Buffer.byteLength(data));
    } catch (err) {
      // A failed write may have left a torn line: never append after it, start a new segment.
      await this.closeCurrent();
      throw err;
    }
    segment.records += records.length;
    if (segment.records >= this.segmentMaxRecords) await this.closeCurrent();
  }

  /**
   * Synchronous append for records that arrive after the writer has closed (connections cut at
   * the end of a shutdown): there is no event loop turn left to wait for.
   */
  appendSync(records: readonly ChainedAuditRecord[]): void {
    if (records.length === 0) return;
    mkdirSync(this.dir, { recursive: true });
    const name = this.segmentName(this.nextNumber++);
    const fd = openSync(join(this.dir, name), 'a', 0o600);
    try {
      const data = records.map((r) => `${JSON.stringify(r)}\n`).join('');
      writeSync(fd, data);
      fsyncSync(fd);
      this.counted(name, Buffer.byteLength(data));
    } finally {
      closeSync(fd);
    }
    this.closed.push(name);
  }

  /** The segment to replay next: the oldest closed one, else the current one (closed now). */
  async nextForReplay(): Promise<ReplaySegment | undefined> {
    if (this.replaying) return this.replaying;
    if (this.closed.length === 0 && (this.current?.records ?? 0) > 0) await this.closeCurrent();
    const name = this.closed[0];
    if (!name) return undefined;
    this.replaying = { name, records: await this.readSegment(name), replayed: 0 };
    return this.replaying;
  }

  /** Deletes a fully replayed segment. */
  async finished(segment: ReplaySegment): Promise<void> {
    await unlink(join(this.dir, segment.name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    this.closed = this.closed.filter((n) => n !== segment.name);
    this.sizes.delete(segment.name);
    if (this.replaying === segment) this.replaying = undefined;
    await this.syncDir();
  }

  /** The newest spooled record, where this instance's chain continues after a restart. */
  async lastRecord(): Promise<ChainedAuditRecord | undefined> {
    for (const name of [...this.closed].reverse()) {
      const records = await this.readSegment(name);
      if (records.length > 0) return records[records.length - 1];
    }
    return undefined;
  }

  async close(): Promise<void> {
    await this.closeCurrent();
  }

  private async createSegment(): Promise<OpenSegment> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const name = this.segmentName(this.nextNumber++);
    const handle = await open(join(this.dir, name), 'a', 0o600);
    this.current = { name, handle, records: 0 };
    await this.syncDir();
    return this.current;
  }

  private async closeCurrent(): Promise<void> {
    const segment = this.current;
    if (!segment) return;
    this.current = undefined;
    await segment.handle.close().catch(() => undefined);
    if (segment.records > 0) this.closed.push(segment.name);
    else {
      this.sizes.delete(segment.name);
      await unlink(join(this.dir, segment.name)).catch(() => undefined);
    }
  }

  private segmentName(n: number): string {
    return `${String(n).padStart(16, '0')}.ndjson`;
  }

  private async readSegment(name: string): Promise<ChainedAuditRecord[]> {
    const text = await readFile(join(this.dir, name), 'utf8');
    const records: ChainedAuditRecord[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const parsed = JSON.parse(line) as ChainedAuditRecord & { time: string };
        records.push({ ...parsed, time: new Date(parsed.time) });
      } catch {
        this.skippedLines++;
      }
    }
    return records;
  }

  private async syncDir(): Promise<void> {
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
