import pino from 'pino';
import type { ChainedAuditRecord } from './audit-record';
import type { StoredAuditRecord } from './audit-store';
import type { AuditFeed } from './postgres-audit-writer';
import { parseAuditNotice, ReplicaAuditFeed } from './replica-audit-feed';

/** Stored rows of other instances, read by chain position as the real store does. */
class FakeChains {
  rows: StoredAuditRecord[] = [];
  reads = 0;
  add(instance: string, seq: number): void {
    this.rows.push({ requestId: `${instance}-${seq}`, instance, seq } as StoredAuditRecord);
  }
  async chainPage(instance: string, afterSeq: number, limit: number): Promise<StoredAuditRecord[]> {
    this.reads++;
    return this.rows
      .filter((r) => r.instance === instance && (r.seq ?? 0) > afterSeq)
      .sort((x, y) => (x.seq ?? 0) - (y.seq ?? 0))
      .slice(0, limit);
  }
}

class FakeLocalFeed implements AuditFeed {
  listeners = new Set<(record: ChainedAuditRecord) => void>();
  subscribe(listener: (record: ChainedAuditRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

const notice = (instance: string, from: number, to: number): string => JSON.stringify({ instance, from, to });
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('ReplicaAuditFeed', () => {
  let chains: FakeChains;
  let local: FakeLocalFeed;
  let feed: ReplicaAuditFeed;
  let seen: string[];

  beforeEach(() => {
    chains = new FakeChains();
    local = new FakeLocalFeed();
    feed = new ReplicaAuditFeed({
      local,
      instance: 'gw-a',
      store: chains,
      logger: pino({ level: 'silent' }),
    });
    seen = [];
  });

  it('delivers its own records from the writer and the other instances’ from the table, each once', async () => {
    feed.subscribe((r) => seen.push(r.requestId));
    for (const listener of local.listeners) listener({ requestId: 'gw-a-1' } as ChainedAuditRecord);
    chains.add('gw-b', 1);
    chains.add('gw-b', 2);
    feed.heard(notice('gw-b', 1, 2));
    // Its own notices are skipped: the writer already delivered them.
    feed.heard(notice('gw-a', 1, 1));
    await settle();
    expect(seen).toEqual(['gw-a-1', 'gw-b-1', 'gw-b-2']);
  });

  it('fills a gap left by a lost notice from its cursor, not from the notice', async () => {
    feed.subscribe((r) => seen.push(r.requestId));
    chains.add('gw-b', 5);
    feed.heard(notice('gw-b', 5, 5));
    await settle();
    chains.add('gw-b', 6);
    chains.add('gw-b', 7);
    // The notice for 6 was lost (listener reconnecting): the one for 7 brings both.
    feed.heard(notice('gw-b', 7, 7));
    await settle();
    expect(seen).toEqual(['gw-b-5', 'gw-b-6', 'gw-b-7']);
  });

  it('reads every followed instance up to date when its listener is back', async () => {
    feed.subscribe((r) => seen.push(r.requestId));
    chains.add('gw-b', 1);
    feed.heard(notice('gw-b', 1, 1));
    await settle();
    feed.setListening(false);
    chains.add('gw-b', 2);
    feed.setListening(true);
    await settle();
    expect(seen).toEqual(['gw-b-1', 'gw-b-2']);
  });

  it('reads nothing while nobody tails, and forgets its cursors when the last tail closes', async () => {
    chains.add('gw-b', 1);
    feed.heard(notice('gw-b', 1, 1));
    await settle();
    expect(chains.reads).toBe(0);
    const stop = feed.subscribe((r) => seen.push(r.requestId));
    expect(local.listeners.size).toBe(1);
    stop();
    expect(local.listeners.size).toBe(0);
    chains.add('gw-b', 2);
    feed.subscribe((r) => seen.push(r.requestId));
    chains.add('gw-b', 3);
    feed.heard(notice('gw-b', 3, 3));
    await settle();
    // A new tail starts from what is new when it opened.
    expect(seen).toEqual(['gw-b-3']);
  });

  it.each([
    ['not JSON', 'gw-b 1 2'],
    ['no instance', JSON.stringify({ from: 1, to: 2 })],
    ['an empty instance', notice('', 1, 2)],
    ['positions that are not integers', JSON.stringify({ instance: 'gw-b', from: '1', to: 2 })],
    ['a range that runs backwards', notice('gw-b', 3, 2)],
    ['a position before the chain starts', notice('gw-b', 0, 2)],
    ['JSON that is not an object', '[1,2]'],
  ])('ignores a notice with %s (a hint only: what is shown comes from the table)', async (_what, payload) => {
    expect(parseAuditNotice(payload)).toBeUndefined();
    feed.subscribe((r) => seen.push(r.requestId));
    feed.heard(payload);
    await settle();
    expect(chains.reads).toBe(0);
  });
});
