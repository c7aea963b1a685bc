// Audit events for authentication itself: logins, failed logins, logouts, CLI logins, token
// creation and revocation. They go to the same sink as request records (kind `login` or
// `token`), never carrying a credential: token ids, not tokens.
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { AuditSink } from '../audit/audit-sink';
import type { AuditEvent } from '../audit/audit-event';
import { redactQuery } from '../logging/query-redaction';
import { randomUUID } from 'node:crypto';

export interface AuthAuditFields {
  kind: 'login' | 'token';
  decision: AuditEvent['decision'];
  code: number;
  reason: string;
  authUser?: string;
  authMethod?: string;
  tokenId?: string;
  kubeUser?: string;
  kubeGroups?: string[];
}

export class AuthAudit {
  constructor(
    private readonly sink: AuditSink,
    private readonly instance: string,
    private readonly clientAddress: (req: IncomingMessage) => string | undefined,
    private readonly logger: Logger,
  ) {}

  record(req: IncomingMessage, fields: AuthAuditFields): void {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const event: AuditEvent = {
      time: new Date(),
      // Its own id: the HTTP request may have an audit record of its own under the request id.
      requestId: randomUUID(),
      instance: this.instance,
      kind: fields.kind,
      authUser: fields.authUser,
      authMethod: fields.authMethod,
      tokenId: fields.tokenId,
      kubeUser: fields.kubeUser,
      kubeGroups: fields.kubeGroups ?? [],
      clientAddress: this.clientAddress(req),
      userAgent: req.headers['user-agent'],
      verb: (req.method ?? 'GET').toLowerCase(),
      path: q < 0 ? rawUrl : rawUrl.slice(0, q),
      query: q < 0 ? undefined : redactQuery(rawUrl.slice(q + 1)),
      code: fields.code,
      decision: fields.decision,
      reason: fields.reason,
      latencyMs: 0,
      bytesIn: 0,
      bytesOut: 0,
    };
    try {
      this.sink.record(event);
    } catch (err) {
      this.logger.error({ err }, 'audit sink failed');
    }
  }
}
