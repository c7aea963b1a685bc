// The query side of /kgw/v1/audit: filters from the query string (validated, with the caller's
// visibility applied — only gateway admins see other people's records), cursors, and the
// export formats (JSON page, NDJSON, CSV).
import { type AuditRecord, type ChainedAuditRecord } from './audit-record';
import { AUDIT_DECISIONS, AUDIT_KINDS, type AuditKind } from './audit-event';
import type { AuditFilter, StoredAuditRecord } from './audit-store';
import { GatewayError } from '../errors/gateway-error';
import type { AuthenticatedRequest } from '../identity/caller';

export type AuditQuery = Record<string, unknown>;

export type AuditFormat = 'json' | 'ndjson' | 'csv';

const FILTER_PARAMETERS = [
  'user',
  'namespace',
  'verb',
  'resource',
  'code',
  'decision',
  'kind',
  'since',
  'until',
] as const;

/** Validated filters; a non-admin caller is limited to records they made themselves. */
export function auditFilterOf(
  query: AuditQuery,
  caller: AuthenticatedRequest,
  now = new Date(),
): AuditFilter {
  const filter: AuditFilter = {};
  const text = (name: string): string | undefined => {
    const value = query[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '' || value.length > 512)
      throw new GatewayError('bad_request', `${name}: give it once, as a non-empty value`);
    return value;
  };
  filter.user = text('user');
  filter.namespace = text('namespace');
  filter.verb = text('verb');
  const resource = text('resource');
  if (resource !== undefined) {
    const [name, subresource, extra] = resource.split('/');
    if (!name || extra !== undefined || subresource === '')
      throw new GatewayError('bad_request', 'resource: expected <resource> or <resource>/<subresource>');
    filter.resource = name;
    filter.subresource = subresource;
  }
  const code = text('code');
  if (code !== undefined) filter.code = codeRange(code);
  const decision = text('decision');
  if (decision !== undefined) {
    if (!(AUDIT_DECISIONS as readonly string[]).includes(decision))
      throw new GatewayError('bad_request', `decision: one of ${AUDIT_DECISIONS.join(', ')}`);
    filter.decision = decision;
  }
  const kind = text('kind');
  if (kind !== undefined) {
    if (!(AUDIT_KINDS as readonly string[]).includes(kind))
      throw new GatewayError('bad_request', `kind: one of ${AUDIT_KINDS.join(', ')}`);
    filter.kind = kind as AuditKind;
  }
  const since = text('since');
  if (since !== undefined) filter.since = instantOf('since', since, now);
  const until = text('until');
  if (until !== undefined) filter.until = instantOf('until', until, now);

  if (!caller.admin) {
    if (filter.user !== undefined && filter.user !== caller.caller.name)
      throw new GatewayError('forbidden', "only gateway admins may read other users' audit records");
    filter.ownerAuthUser = caller.caller.name;
  }
  return filter;
}

export function isFilterParameter(name: string): boolean {
  return (FILTER_PARAMETERS as readonly string[]).includes(name);
}

/** `403`, or a class such as `4xx`. */
function codeRange(value: string): { min: number; max: number } {
  if (/^[1-5]\d\d$/.test(value)) return { min: Number(value), max: Number(value) };
  const cls = /^([1-5])xx$/i.exec(value);
  if (cls) return { min: Number(cls[1]) * 100, max: Number(cls[1]) * 100 + 99 };
  throw new GatewayError('bad_request', 'code: an HTTP status (403) or a class (4xx)');
}

/** An RFC 3339 time, or a duration back from now: 30s, 15m, 2h, 7d. */
function instantOf(name: string, value: string, now: Date): Date {
  const relative = /^(\d+)(s|m|h|d)$/.exec(value);
  if (relative) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(relative[1]) * unit);
  }
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    const parsed = new Date(value);
    if (!Number.isNaN(parsed.getTime())) return parsed;
  }
  throw new GatewayError('bad_request', `${name}: an RFC 3339 time or a duration such as 15m, 2h, 7d`);
}

/** Page size of the JSON listing. */
export function limitOf(query: AuditQuery): number {
  const value = query.limit;
  if (value === undefined) return 100;
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1000)
    throw new GatewayError('bad_request', 'limit: an integer from 1 to 1000');
  return Number(value);
}

/** Cursors are opaque to clients: the last row id of a page, base64url-encoded. */
export function encodeCursor(id: string): string {
  return Buffer.from(`a1:${id}`).toString('base64url');
}

export function decodeCursor(query: AuditQuery): string | undefined {
  const value = query.cursor;
  if (value === undefined) return undefined;
  const decoded =
    typeof value === 'string' ? /^a1:(\d{1,19})$/.exec(Buffer.from(value, 'base64url').toString()) : null;
  if (!decoded) throw new GatewayError('bad_request', 'cursor: not a cursor this gateway issued');
  return decoded[1];
}

/** ?format= wins over Accept; JSON by default. */
export function formatOf(query: AuditQuery, accept: string | undefined): AuditFormat {
  const format = query.format;
  if (format !== undefined) {
    if (format === 'json' || format === 'ndjson' || format === 'csv') return format;
    throw new GatewayError('bad_request', 'format: json, ndjson or csv');
  }
  if (accept?.includes('application/x-ndjson') || accept?.includes('application/jsonl')) return 'ndjson';
  if (accept?.includes('text/csv')) return 'csv';
  return 'json';
}

/** A record as the API shows it: times as RFC 3339, chain position included. */
export type AuditRecordView = Omit<AuditRecord, 'time' | 'kind'> & {
  id?: string;
  time: string;
  kind: string;
  seq: number | null;
  prevHash: string | null;
  hash: string | null;
};

export function auditRecordView(record: StoredAuditRecord | ChainedAuditRecord): AuditRecordView {
  return {
    id: 'id' in record ? record.id : undefined,
    time: record.time.toISOString(),
    requestId: record.requestId,
    instance: record.instance,
    seq: record.seq,
    kind: record.kind,
    authUser: record.authUser,
    authMethod: record.authMethod,
    tokenId: record.tokenId,
    kubeUser: record.kubeUser,
    kubeGroups: record.kubeGroups,
    serviceAccount: record.serviceAccount,
    clientAddress: record.clientAddress,
    userAgent: record.userAgent,
    verb: record.verb,
    apiGroup: record.apiGroup,
    apiVersion: record.apiVersion,
    resource: record.resource,
    subresource: record.subresource,
    namespace: record.namespace,
    name: record.name,
    path: record.path,
    query: record.query,
    code: record.code,
    decision: record.decision,
    reason: record.reason,
    latencyMs: record.latencyMs,
    bytesIn: record.bytesIn,
    bytesOut: record.bytesOut,
    streamMs: record.streamMs,
    transport: record.transport,
    prevHash: record.prevHash,
    hash: record.hash,
  };
}

/** Whether a live record passes a filter (the SSE tail applies the same filters as the query). */
export function matchesAuditFilter(record: ChainedAuditRecord, filter: AuditFilter): boolean {
  if (filter.ownerAuthUser !== undefined && record.authUser !== filter.ownerAuthUser) return false;
  if (filter.user !== undefined && record.authUser !== filter.user && record.kubeUser !== filter.user)
    return false;
  if (filter.namespace !== undefined && record.namespace !== filter.namespace) return false;
  if (filter.verb !== undefined && record.verb !== filter.verb) return false;
  if (filter.resource !== undefined && record.resource !== filter.resource) return false;
  if (filter.subresource !== undefined && record.subresource !== filter.subresource) return false;
  if (filter.code !== undefined && (record.code < filter.code.min || record.code > filter.code.max))
    return false;
  if (filter.decision !== undefined && record.decision !== filter.decision) return false;
  if (filter.kind !== undefined && record.kind !== filter.kind) return false;
  if (filter.since !== undefined && record.time < filter.since) return false;
  if (filter.until !== undefined && record.time >= filter.until) return false;
  return true;
}

export const CSV_COLUMNS: readonly (keyof AuditRecordView)[] = [
  'time',
  'requestId',
  'instance',
  'seq',
  'kind',
  'authUser',
  'authMethod',
  'tokenId',
  'kubeUser',
  'kubeGroups',
  'serviceAccount',
  'clientAddress',
  'userAgent',
  'verb',
  'apiGroup',
  'apiVersion',
  'resource',
  'subresource',
  'namespace',
  'name',
  'path',
  'query',
  'code',
  'decision',
  'reason',
  'latencyMs',
  'bytesIn',
  'bytesOut',
  'streamMs',
  'transport',
  'hash',
];

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

export function csvRow(view: AuditRecordView): string {
  return `${CSV_COLUMNS.map((column) => csvCell(view[column])).join(',')}\r\n`;
}

/**
 * RFC 4180 quoting, and a leading apostrophe for cells a spreadsheet would run as a formula:
 * user agents, paths and names are caller-controlled, and admins open these files.
 */
function csvCell(value: AuditRecordView[keyof AuditRecordView]): string {
  if (value === null || value === undefined) return '';
  let text = Array.isArray(value) ? value.join(';') : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
