// One audit event per request, stream and tunnel, with every field of ARCHITECTURE.md "Audit".
// The sink receives it after the response ends; it must never block or fail the response path.
import type { AuditKind } from './audit-record';

export interface AuditEvent {
  time: Date;
  requestId: string;
  instance: string;
  authUser?: string;
  authMethod?: string;
  tokenId?: string;
  kubeUser?: string;
  kubeGroups: string[];
  serviceAccount?: string;
  clientAddress?: string;
  userAgent?: string;
  verb?: string;
  apiGroup?: string;
  apiVersion?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  path: string;
  /** Query with secret-bearing parameters removed. */
  query?: string;
  code: number;
  decision: 'allow' | 'deny' | 'error' | 'unauthenticated';
  reason?: string;
  latencyMs: number;
  bytesIn: number;
  bytesOut: number;
  /** For watches, logs -f, exec and tunnels: how long the stream stayed open. */
  streamMs?: number;
  /** Which transport an upgrade used (websocket, spdy). */
  transport?: string;
  /** request, stream, tunnel, login or token; when absent, derived (stream if it stayed open). */
  kind?: AuditKind;
}

/** Nest injection token for the AuditSink. */
export const AUDIT_SINK = Symbol('AUDIT_SINK');

export interface AuditSink {
  /** The instance whose chain this sink writes; it stamps every record with it. */
  readonly instance: string;
  record(event: AuditEvent): void;
  /** False when records could not be kept (database and spool both failing): serve nothing. */
  accepting(): boolean;
  /** Flushes everything recorded so far. */
  close(): Promise<void>;
}

const SECRET_QUERY_PARAMETERS =
  /^(access_token|token|id_token|refresh_token|code|state|password|secret|client_secret)$/i;

/** The query string with secret-bearing parameters' values replaced. */
export function redactQuery(rawQuery: string): string {
  if (!rawQuery) return '';
  return rawQuery
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = key;
      try {
        decoded = decodeURIComponent(key);
      } catch {
        // keep the raw key
      }
      return SECRET_QUERY_PARAMETERS.test(decoded) ? `${key}=[redacted]` : pair;
    })
    .join('&');
}
