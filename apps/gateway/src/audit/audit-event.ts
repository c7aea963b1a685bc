// One audit event per request, stream and tunnel, with every field of ARCHITECTURE.md "Audit":
// what the proxy chain, the auth routes and tunnels fill in and hand to the AuditSink.

export const AUDIT_KINDS = ['request', 'stream', 'tunnel', 'login', 'token'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

export const AUDIT_DECISIONS = ['allow', 'deny', 'error', 'unauthenticated'] as const;

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
