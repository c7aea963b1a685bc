// Where audit events go (audit-event.ts): the sink receives each after the response ends; it
// must never block or fail the response path.
import type { AuditTrailStats } from '../metrics/gateway-metrics';
import type { AuditEvent } from './audit-event';

/** Nest injection token for the AuditSink. */
export const AUDIT_SINK = Symbol('AUDIT_SINK');

export interface AuditSink {
  /** The instance whose chain this sink writes; it stamps every record with it. */
  readonly instance: string;
  record(event: AuditEvent): void;
  /** False when records could not be kept (database and spool both failing): serve nothing. */
  accepting(): boolean;
  /** Queue and spool figures for /kgw/metrics (absent for sinks without them). */
  trailStats?(): AuditTrailStats;
  /** Flushes everything recorded so far. */
  close(): Promise<void>;
}
