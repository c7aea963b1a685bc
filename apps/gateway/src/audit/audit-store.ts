// The audit table, behind one repository: batch inserts for the writer, filtered pages for the
// query routes, chain walks for verify and batched deletes for retention. Plain SQL on a pg
// Pool rather than Prisma here: a batch of thousands of rows goes in as one statement
// (column arrays unnested into rows) and replays rely on ON CONFLICT (request_id) DO NOTHING, which Prisma's
// createMany only offers as skipDuplicates without telling which rows were new.
import type { Pool } from 'pg';
import type { AuditRecord, ChainedAuditRecord } from './audit-record';
import type { AuditKind } from './audit-event';

/** Postgres channel on which every insert announces its rows (see INSERT_SQL). */
export const AUDIT_CHANNEL = 'kgw_audit_inserted';

/** A record read back from Postgres: its row id (the cursor) and chain position. */
export interface StoredAuditRecord extends AuditRecord {
  id: string;
  seq: number | null;
  prevHash: string | null;
  hash: string | null;
}

/** Filters of /kgw/v1/audit and /kgw/v1/audit/stream, already validated. */
export interface AuditFilter {
  /** Matches the authenticated user or the Kubernetes user. */
  user?: string;
  /** Only records whose authenticated user is this one (non-admin callers see their own). */
  ownerAuthUser?: string;
  namespace?: string;
  verb?: string;
  resource?: string;
  subresource?: string;
  /** Inclusive range: `403` is 403..403, `5xx` is 500..599. */
  code?: { min: number; max: number };
  decision?: string;
  kind?: AuditKind;
  since?: Date;
  until?: Date;
}

/** A batch in the INSERT's wire form (see AuditStore.encodeBatch). */
export interface EncodedAuditBatch {
  readonly size: number;
  readonly columns: readonly string[];
}

interface Column {
  name: string;
  sqlType: string;
  value: (r: ChainedAuditRecord) => string | number | null;
}

/** Insert columns in one list: the JSON keys, the recordset definition and the INSERT agree. */
const INSERT_COLUMNS: Column[] = [
  { name: 'time', sqlType: 'timestamptz', value: (r) => r.time.toISOString() },
  { name: 'request_id', sqlType: 'text', value: (r) => r.requestId },
  { name: 'instance', sqlType: 'text', value: (r) => r.instance },
  { name: 'kind', sqlType: 'text', value: (r) => r.kind },
  { name: 'auth_user', sqlType: 'text', value: (r) => r.authUser },
  { name: 'auth_method', sqlType: 'text', value: (r) => r.authMethod },
  { name: 'token_id', sqlType: 'text', value: (r) => r.tokenId },
  { name: 'kube_user', sqlType: 'text', value: (r) => r.kubeUser },
  // An array literal (text), cast to text[] per row in INSERT_SQL.
  { name: 'kube_groups', sqlType: 'text', value: (r) => groupsLiteral(r.kubeGroups) },
  { name: 'service_account', sqlType: 'text', value: (r) => r.serviceAccount },
  { name: 'client_address', sqlType: 'text', value: (r) => r.clientAddress },
  { name: 'user_agent', sqlType: 'text', value: (r) => r.userAgent },
  { name: 'verb', sqlType: 'text', value: (r) => r.verb },
  { name: 'api_group', sqlType: 'text', value: (r) => r.apiGroup },
  { name: 'api_version', sqlType: 'text', value: (r) => r.apiVersion },
  { name: 'resource', sqlType: 'text', value: (r) => r.resource },
  { name: 'subresource', sqlType: 'text', value: (r) => r.subresource },
  { name: 'namespace', sqlType: 'text', value: (r) => r.namespace },
  { name: 'name', sqlType: 'text', value: (r) => r.name },
  { name: 'path', sqlType: 'text', value: (r) => r.path },
  { name: 'query', sqlType: 'text', value: (r) => r.query },
  { name: 'code', sqlType: 'integer', value: (r) => r.code },
  { name: 'decision', sqlType: 'text', value: (r) => r.decision },
  { name: 'reason', sqlType: 'text', value: (r) => r.reason },
  { name: 'latency_ms', sqlType: 'double precision', value: (r) => r.latencyMs },
  { name: 'bytes_in', sqlType: 'bigint', value: (r) => r.bytesIn },
  { name: 'bytes_out', sqlType: 'bigint', value: (r) => r.bytesOut },
  { name: 'stream_ms', sqlType: 'double precision', value: (r) => r.streamMs },
  { name: 'transport', sqlType: 'text', value: (r) => r.transport },
  { name: 'seq', sqlType: 'bigint', value: (r) => r.seq },
  { name: 'prev_hash', sqlType: 'text', value: (r) => r.prevHash },
  { name: 'hash', sqlType: 'text', value: (r) => r.hash },
];

// One array parameter per column, unnested into rows: Postgres parses 32 flat text arrays far
// faster than one jsonb document per batch (jsonb_to_recordset spent most of the statement's
// time building and tearing apart jsonb values, even for a replay whose rows all conflict).
// kube_groups is a text[] per row and arrays of arrays must be rectangular, so each row's groups
// travel as one array literal (see groupsLiteral) and are cast back per row.
//
// The same statement tells the other replicas what it added (replica-audit-feed.ts): one NOTIFY
// per instance with the range of chain positions inserted, sent by Postgres at commit, so a
// notice never names rows that are not visible yet and a rolled-back insert sends none. Rows
// a replay finds already stored are not announced again.
const INSERT_SQL = `WITH inserted AS (
INSERT INTO audit_event (${INSERT_COLUMNS.map((c) => `"${c.name}"`).join(', ')})
SELECT ${INSERT_COLUMNS.map((c) => (c.name === 'kube_groups' ? 'r."kube_groups"::text[]' : `r."${c.name}"`)).join(', ')}
FROM unnest(${INSERT_COLUMNS.map((c, i) => `$${i + 1}::${c.sqlType}[]`).join(', ')})
  AS r(${INSERT_COLUMNS.map((c) => `"${c.name}"`).join(', ')})
ON CONFLICT (request_id) DO NOTHING
RETURNING instance, seq),
noticed AS (
SELECT pg_notify('${AUDIT_CHANNEL}', json_build_object('instance', instance, 'from', min(seq), 'to', max(seq))::text)
FROM inserted WHERE seq IS NOT NULL GROUP BY instance)
SELECT (SELECT count(*) FROM inserted)::int AS inserted, (SELECT count(*) FROM noticed)::int AS notices`;

/** Characters that force quoting-with-escapes inside an array literal element. */
const NEEDS_ESCAPE = /["\\]/;

/**
 * Appends a batch's values of one column to the inside of a Postgres array literal
 * (`"a",NULL,"b"`). Built here rather than by pg's generic array serializer, which ran two
 * regex replaces per element and was the largest Node-side cost of an insert; plain
 * concatenation (V8 ropes) beats collecting parts and joining them. Every string element is
 * quoted, so no value is read as NULL or split at a comma; backslashes and double quotes are
 * escaped. Numbers need no quotes.
 */
function appendElements(
  literal: string,
  records: readonly ChainedAuditRecord[],
  value: (r: ChainedAuditRecord) => string | number | null,
): string {
  for (let i = 0; i < records.length; i++) {
    if (literal.length > 0) literal += ',';
    const v = value(records[i]);
    if (v === null) literal += 'NULL';
    else if (typeof v === 'number') literal += String(v);
    else if (NEEDS_ESCAPE.test(v)) literal += '"' + v.replace(/["\\]/g, '\\$&') + '"';
    else literal += '"' + v + '"';
  }
  return literal;
}

/** Encodes a batch for the INSERT a slice at a time (the writer yields between slices). */
export class AuditBatchEncoder {
  private readonly columns = INSERT_COLUMNS.map(() => '');
  private size = 0;

  add(records: readonly ChainedAuditRecord[]): void {
    for (let c = 0; c < INSERT_COLUMNS.length; c++)
      this.columns[c] = appendElements(this.columns[c], records, INSERT_COLUMNS[c].value);
    this.size += records.length;
  }

  finish(): EncodedAuditBatch {
    // Column-major: one array literal per column, in INSERT_COLUMNS order.
    return { size: this.size, columns: this.columns.map((inside) => `{${inside}}`) };
  }
}

/** A Postgres array literal of the groups, every element quoted (so NULL or `a,b` stay text). */
function groupsLiteral(groups: readonly string[]): string {
  return `{${groups.map((g) => `"${g.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
}

const SELECT_COLUMNS = `id::text AS id, time, request_id, instance, kind, auth_user, auth_method, token_id,
  kube_user, kube_groups, service_account, client_address, user_agent, verb, api_group, api_version,
  resource, subresource, namespace, name, path, query, code, decision, reason, latency_ms,
  bytes_in::text AS bytes_in, bytes_out::text AS bytes_out, stream_ms, transport, seq::text AS seq,
  prev_hash, hash`;

interface AuditRow {
  id: string;
  time: Date;
  request_id: string;
  instance: string;
  kind: string;
  auth_user: string | null;
  auth_method: string | null;
  token_id: string | null;
  kube_user: string | null;
  kube_groups: string[] | null;
  service_account: string | null;
  client_address: string | null;
  user_agent: string | null;
  verb: string | null;
  api_group: string | null;
  api_version: string | null;
  resource: string | null;
  subresource: string | null;
  namespace: string | null;
  name: string | null;
  path: string;
  query: string | null;
  code: number;
  decision: string;
  reason: string | null;
  latency_ms: number;
  bytes_in: string;
  bytes_out: string;
  stream_ms: number | null;
  transport: string | null;
  seq: string | null;
  prev_hash: string | null;
  hash: string | null;
}

function fromRow(row: AuditRow): StoredAuditRecord {
  return {
    id: row.id,
    time: row.time,
    requestId: row.request_id,
    instance: row.instance,
    kind: row.kind as AuditKind,
    authUser: row.auth_user,
    authMethod: row.auth_method,
    tokenId: row.token_id,
    kubeUser: row.kube_user,
    kubeGroups: row.kube_groups ?? [],
    serviceAccount: row.service_account,
    clientAddress: row.client_address,
    userAgent: row.user_agent,
    verb: row.verb,
    apiGroup: row.api_group,
    apiVersion: row.api_version,
    resource: row.resource,
    subresource: row.subresource,
    namespace: row.namespace,
    name: row.name,
    path: row.path,
    query: row.query,
    code: row.code,
    decision: row.decision,
    reason: row.reason,
    latencyMs: row.latency_ms,
    bytesIn: Number(row.bytes_in),
    bytesOut: Number(row.bytes_out),
    streamMs: row.stream_ms,
    transport: row.transport,
    seq: row.seq === null ? null : Number(row.seq),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** WHERE clause and parameters for a filter; parameters are numbered from `first`. */
function whereOf(filter: AuditFilter, params: unknown[]): string[] {
  const clauses: string[] = [];
  const add = (sql: (p: string) => string, value: unknown): void => {
    params.push(value);
    clauses.push(sql(`$${params.length}`));
  };
  if (filter.ownerAuthUser !== undefined) add((p) => `auth_user = ${p}`, filter.ownerAuthUser);
  if (filter.user !== undefined) add((p) => `(auth_user = ${p} OR kube_user = ${p})`, filter.user);
  if (filter.namespace !== undefined) add((p) => `namespace = ${p}`, filter.namespace);
  if (filter.verb !== undefined) add((p) => `verb = ${p}`, filter.verb);
  if (filter.resource !== undefined) add((p) => `resource = ${p}`, filter.resource);
  if (filter.subresource !== undefined) add((p) => `subresource = ${p}`, filter.subresource);
  if (filter.code !== undefined) {
    add((p) => `code >= ${p}`, filter.code.min);
    add((p) => `code <= ${p}`, filter.code.max);
  }
  if (filter.decision !== undefined) add((p) => `decision = ${p}`, filter.decision);
  if (filter.kind !== undefined) add((p) => `kind = ${p}`, filter.kind);
  if (filter.since !== undefined) add((p) => `time >= ${p}`, filter.since);
  if (filter.until !== undefined) add((p) => `time < ${p}`, filter.until);
  return clauses;
}

export class AuditStore {
  constructor(private readonly pool: Pool) {}

  /** Inserts a batch in one statement; rows whose request id is already stored are skipped. */
  async insertBatch(records: readonly ChainedAuditRecord[]): Promise<number> {
    return this.insertEncoded(this.encodeBatch(records));
  }

  /** An encoder for the next batch (built ahead, while Postgres inserts the current one). */
  batchEncoder(): AuditBatchEncoder {
    return new AuditBatchEncoder();
  }

  encodeBatch(records: readonly ChainedAuditRecord[]): EncodedAuditBatch {
    const encoder = new AuditBatchEncoder();
    encoder.add(records);
    return encoder.finish();
  }

  /** Inserts an encoded batch; returns how many rows were new (replays skip existing ones). */
  async insertEncoded(batch: EncodedAuditBatch): Promise<number> {
    if (batch.size === 0) return 0;
    const result = await this.pool.query<{ inserted: number }>(INSERT_SQL, [...batch.columns]);
    return result.rows[0]?.inserted ?? 0;
  }

  /** The last link of an instance's chain in Postgres. */
  async chainHead(instance: string): Promise<{ seq: number; hash: string } | undefined> {
    const result = await this.pool.query<{ seq: string; hash: string }>(
      'SELECT seq::text AS seq, hash FROM audit_event WHERE instance = $1 AND seq IS NOT NULL ORDER BY audit_event.seq DESC LIMIT 1',
      [instance],
    );
    const row = result.rows[0];
    return row ? { seq: Number(row.seq), hash: row.hash } : undefined;
  }

  /** Newest first; `beforeId` is the cursor (the id of the last row of the previous page). */
  async page(
    filter: AuditFilter,
    options: { beforeId?: string; limit: number },
  ): Promise<StoredAuditRecord[]> {
    const params: unknown[] = [];
    const where = whereOf(filter, params);
    if (options.beforeId !== undefined) {
      params.push(options.beforeId);
      where.push(`id < $${params.length}::bigint`);
    }
    params.push(options.limit);
    const result = await this.pool.query<AuditRow>(
      `SELECT ${SELECT_COLUMNS} FROM audit_event ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY audit_event.id DESC LIMIT $${params.length}`,
      params,
    );
    return result.rows.map(fromRow);
  }

  /** Oldest first after `afterId`: the backlog a live tail starts with. */
  async after(
    filter: AuditFilter,
    options: { afterId?: string; limit: number },
  ): Promise<StoredAuditRecord[]> {
    const params: unknown[] = [];
    const where = whereOf(filter, params);
    if (options.afterId !== undefined) {
      params.push(options.afterId);
      where.push(`id > $${params.length}::bigint`);
    }
    params.push(options.limit);
    const result = await this.pool.query<AuditRow>(
      `SELECT ${SELECT_COLUMNS} FROM audit_event ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY audit_event.id ASC LIMIT $${params.length}`,
      params,
    );
    return result.rows.map(fromRow);
  }

  async instances(): Promise<string[]> {
    const result = await this.pool.query<{ instance: string }>(
      'SELECT DISTINCT instance FROM audit_event ORDER BY instance',
    );
    return result.rows.map((r) => r.instance);
  }

  /** One instance's chain in sequence order, a page at a time. */
  async chainPage(instance: string, afterSeq: number, limit: number): Promise<StoredAuditRecord[]> {
    const result = await this.pool.query<AuditRow>(
      `SELECT ${SELECT_COLUMNS} FROM audit_event WHERE instance = $1 AND seq > $2 ORDER BY audit_event.seq ASC LIMIT $3`,
      [instance, afterSeq, limit],
    );
    return result.rows.map(fromRow);
  }

  /** A record of the instance that is outside the chain (no sequence number), if any. */
  async unchained(instance: string): Promise<StoredAuditRecord | undefined> {
    const result = await this.pool.query<AuditRow>(
      `SELECT ${SELECT_COLUMNS} FROM audit_event WHERE instance = $1 AND seq IS NULL ORDER BY audit_event.id LIMIT 1`,
      [instance],
    );
    return result.rows[0] ? fromRow(result.rows[0]) : undefined;
  }

  /**
   * Deletes up to `limit` expired records of one instance, oldest links first. Only a chain's
   * prefix goes (rows before the first record still inside the retention window), so verify
   * keeps seeing an unbroken chain from its new start: a long watch that began before the
   * cutoff but ended after newer records stays until everything before it is expired too.
   */
  async deleteExpired(instance: string, cutoff: Date, limit: number): Promise<number> {
    const result = await this.pool.query(
      `WITH keep AS (
         SELECT min(seq) AS seq FROM (
           SELECT seq FROM audit_event WHERE instance = $1 AND seq IS NOT NULL AND time >= $2
           ORDER BY seq LIMIT 1) first_kept)
       DELETE FROM audit_event WHERE id IN (
         SELECT id FROM audit_event, keep
         WHERE instance = $1 AND time < $2 AND (seq IS NULL OR keep.seq IS NULL OR seq < keep.seq)
         ORDER BY seq NULLS FIRST LIMIT $3)`,
      [instance, cutoff, limit],
    );
    return result.rowCount ?? 0;
  }

  /** Instances that have records older than the cutoff. */
  async instancesWithExpired(cutoff: Date): Promise<string[]> {
    const result = await this.pool.query<{ instance: string }>(
      'SELECT DISTINCT instance FROM audit_event WHERE time < $1',
      [cutoff],
    );
    return result.rows.map((r) => r.instance);
  }
}
