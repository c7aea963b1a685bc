// The audit record as it is stored, hashed and exported, and its canonical form for the hash
// chain. Every instance links its records in the order it writes them: record n carries
// hash(canonical content of n, including the hash of n-1), so changing, deleting or inserting
// a row anywhere but the retention-trimmed start of a chain breaks a link `verify` can name.
import { hash as digest } from 'node:crypto';
import type { AuditEvent, AuditKind } from './audit-event';

/** The hash a chain's first record points back to. */
export const GENESIS_HASH = '0'.repeat(64);

/** One stored audit record: every optional field is null when absent, never undefined. */
export interface AuditRecord {
  time: Date;
  requestId: string;
  instance: string;
  kind: AuditKind;
  authUser: string | null;
  authMethod: string | null;
  tokenId: string | null;
  kubeUser: string | null;
  kubeGroups: string[];
  serviceAccount: string | null;
  clientAddress: string | null;
  userAgent: string | null;
  verb: string | null;
  apiGroup: string | null;
  apiVersion: string | null;
  resource: string | null;
  subresource: string | null;
  namespace: string | null;
  name: string | null;
  path: string;
  query: string | null;
  code: number;
  decision: string;
  reason: string | null;
  latencyMs: number;
  bytesIn: number;
  bytesOut: number;
  streamMs: number | null;
  transport: string | null;
}

/** A record with its place in its instance's chain. */
export interface ChainedAuditRecord extends AuditRecord {
  seq: number;
  prevHash: string;
  hash: string;
}

/**
 * Normalizes an event from the proxy chain (or a login, token change, tunnel) into a record.
 * Strings are made storable exactly as hashed: Postgres text refuses NUL and invalid UTF-8,
 * and a value stored differently from how it was hashed would look like tampering.
 */
export function auditRecordOf(event: AuditEvent): AuditRecord {
  return {
    time: new Date(event.time.getTime()),
    requestId: storable(event.requestId),
    instance: storable(event.instance),
    kind: event.kind ?? kindOf(event),
    authUser: optional(event.authUser),
    authMethod: optional(event.authMethod),
    tokenId: optional(event.tokenId),
    kubeUser: optional(event.kubeUser),
    kubeGroups: event.kubeGroups.map(storable),
    serviceAccount: optional(event.serviceAccount),
    clientAddress: optional(event.clientAddress),
    userAgent: optional(event.userAgent),
    verb: optional(event.verb),
    apiGroup: optional(event.apiGroup),
    apiVersion: optional(event.apiVersion),
    resource: optional(event.resource),
    subresource: optional(event.subresource),
    namespace: optional(event.namespace),
    name: optional(event.name),
    path: storable(event.path),
    query: optional(event.query),
    code: Math.trunc(event.code),
    decision: event.decision,
    reason: optional(event.reason),
    latencyMs: finite(event.latencyMs),
    bytesIn: Math.max(0, Math.trunc(finite(event.bytesIn))),
    bytesOut: Math.max(0, Math.trunc(finite(event.bytesOut))),
    streamMs: event.streamMs === undefined ? null : finite(event.streamMs),
    transport: optional(event.transport),
  };
}

/** Streams are what stay open: upgrades (exec, attach, port-forward), watches and followed logs. */
function kindOf(event: AuditEvent): AuditKind {
  if (event.transport || event.streamMs !== undefined) return 'stream';
  return 'request';
}

function optional(value: string | undefined | null): string | null {
  return value === undefined || value === null ? null : storable(value);
}

/** NUL or a UTF-16 surrogate: the only characters that need the slow path below. */
const NEEDS_REPAIR = /[\0\uD800-\uDFFF]/;

function storable(value: string): string {
  if (!NEEDS_REPAIR.test(value)) return value;
  // The UTF-8 round trip replaces lone surrogates, as Postgres would have refused them.
  return Buffer.from(value, 'utf8').toString('utf8').replace(/\0/g, '\uFFFD');
}

function finite(n: number): number {
  return Number.isFinite(n) ? n : 0;
}

/**
 * The canonical content a record's hash covers: a JSON array in a fixed field order, so the
 * same record always hashes the same, whatever order a driver returns columns in. Adding a
 * field means a new version tag, never a silent change of meaning.
 */
export function canonicalAuditContent(record: AuditRecord, seq: number, prevHash: string): string {
  return JSON.stringify([
    'kgw-audit-v1',
    record.instance,
    seq,
    record.time.toISOString(),
    record.requestId,
    record.kind,
    record.authUser,
    record.authMethod,
    record.tokenId,
    record.kubeUser,
    record.kubeGroups,
    record.serviceAccount,
    record.clientAddress,
    record.userAgent,
    record.verb,
    record.apiGroup,
    record.apiVersion,
    record.resource,
    record.subresource,
    record.namespace,
    record.name,
    record.path,
    record.query,
    record.code,
    record.decision,
    record.reason,
    record.latencyMs,
    record.bytesIn,
    record.bytesOut,
    record.streamMs,
    record.transport,
    prevHash,
  ]);
}

export function auditRecordHash(record: AuditRecord, seq: number, prevHash: string): string {
  // One-shot crypto.hash: about twice as fast as createHash().update().digest() for inputs this
  // small, and the writer hashes every record on the event loop.
  return digest('sha256', canonicalAuditContent(record, seq, prevHash), 'hex');
}

/** One instance's chain head: links records in the order they are handed over. */
export class AuditChain {
  constructor(
    private seq: number,
    private head: string,
  ) {}

  static start(): AuditChain {
    return new AuditChain(0, GENESIS_HASH);
  }

  get last(): { seq: number; hash: string } {
    return { seq: this.seq, hash: this.head };
  }

  /**
   * Takes ownership of `record` (made by auditRecordOf for this call) and returns it chained.
   * It is extended in place rather than copied: spreading 30 fields into a new object cost more
   * than the canonical JSON and the SHA-256 together, on the writer's busiest path.
   */
  link(record: AuditRecord): ChainedAuditRecord {
    const seq = this.seq + 1;
    const hash = auditRecordHash(record, seq, this.head);
    const chained = record as ChainedAuditRecord;
    chained.seq = seq;
    chained.prevHash = this.head;
    chained.hash = hash;
    this.seq = seq;
    this.head = hash;
    return chained;
  }
}

/** What verify found wrong with a link. */
export type ChainProblem =
  | 'hash mismatch: the record was changed after it was written'
  | 'previous-hash mismatch: a record before it was changed, removed or inserted'
  | 'sequence gap: records are missing'
  | 'not chained: the record has no hash';

export interface BrokenLink {
  instance: string;
  seq: number | null;
  id: string;
  requestId: string;
  problem: ChainProblem;
}

/**
 * Walks one instance's records in sequence order and reports the first broken link. The first
 * record walked is trusted as the anchor for its previous hash, since retention may have
 * deleted what came before it.
 */
export class ChainVerifier {
  private previous: { seq: number; hash: string } | undefined;
  records = 0;
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  broken: BrokenLink | undefined;

  constructor(readonly instance: string) {}

  /** Feeds the next record (by seq); returns false once a broken link is found. */
  check(row: ChainedAuditRecord & { id: string }): boolean {
    if (this.broken) return false;
    this.records++;
    this.firstSeq ??= row.seq;
    this.lastSeq = row.seq;
    const fail = (problem: ChainProblem): boolean => {
      this.broken = { instance: this.instance, seq: row.seq, id: row.id, requestId: row.requestId, problem };
      return false;
    };
    if (!row.hash || !row.prevHash) return fail('not chained: the record has no hash');
    if (auditRecordHash(row, row.seq, row.prevHash) !== row.hash)
      return fail('hash mismatch: the record was changed after it was written');
    if (this.previous) {
      if (row.seq !== this.previous.seq + 1) return fail('sequence gap: records are missing');
      if (row.prevHash !== this.previous.hash)
        return fail('previous-hash mismatch: a record before it was changed, removed or inserted');
    }
    this.previous = { seq: row.seq, hash: row.hash };
    return true;
  }
}
