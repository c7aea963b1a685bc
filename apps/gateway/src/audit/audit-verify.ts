// Walks every instance's hash chain in Postgres and reports the first broken link of each: the
// record that was changed, or the one after a record that was removed or inserted.
import { ChainVerifier, type BrokenLink, type ChainedAuditRecord } from './audit-record';
import type { AuditStore } from './audit-store';

export interface ChainReport {
  instance: string;
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
  ok: boolean;
  firstBroken?: BrokenLink;
}

export interface AuditVerifyReport {
  ok: boolean;
  records: number;
  chains: ChainReport[];
  /** The first broken link found (chains in instance-name order). */
  firstBroken?: BrokenLink;
}

export async function verifyAuditTrail(
  store: AuditStore,
  options: { instance?: string; pageSize?: number } = {},
): Promise<AuditVerifyReport> {
  const pageSize = options.pageSize ?? 5000;
  const instances = options.instance ? [options.instance] : await store.instances();
  const chains: ChainReport[] = [];
  for (const instance of instances) {
    const verifier = new ChainVerifier(instance);
    let afterSeq = 0;
    for (;;) {
      const page = await store.chainPage(instance, afterSeq, pageSize);
      for (const row of page) {
        if (!verifier.check({ ...(row as ChainedAuditRecord), id: row.id })) break;
      }
      if (verifier.broken || page.length < pageSize) break;
      afterSeq = page[page.length - 1].seq!;
    }
    let broken = verifier.broken;
    if (!broken) {
      // A row slipped in without a chain position is a forgery as much as an edited one.
      const stray = await store.unchained(instance);
      if (stray)
        broken = {
          instance,
          seq: null,
          id: stray.id,
          requestId: stray.requestId,
          problem: 'not chained: the record has no hash',
        };
    }
    chains.push({
      instance,
      records: verifier.records,
      firstSeq: verifier.firstSeq ?? null,
      lastSeq: verifier.lastSeq ?? null,
      ok: !broken,
      ...(broken ? { firstBroken: broken } : {}),
    });
  }
  const firstBroken = chains.find((c) => c.firstBroken)?.firstBroken;
  return {
    ok: !firstBroken,
    records: chains.reduce((n, c) => n + c.records, 0),
    chains,
    ...(firstBroken ? { firstBroken } : {}),
  };
}
