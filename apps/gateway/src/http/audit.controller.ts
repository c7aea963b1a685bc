// /kgw/v1/audit: read the trail (admins everything, everyone else their own records), export
// it as NDJSON or CSV, follow it live over Server-Sent Events, and verify its hash chains.
import { Controller, Get, Inject, Optional, Query, Req, Res, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AuthServices } from '../auth/auth-services';
import type { AuthenticatedRequest } from '../identity/caller';
import { Caller, KgwAuthGuard } from './kgw-auth.guard';
import { GatewayError } from '../errors/gateway-error';
import type { ChainedAuditRecord } from '../audit/audit-record';
import {
  auditFilterOf,
  auditRecordView,
  csvHeader,
  csvRow,
  decodeCursor,
  encodeCursor,
  formatOf,
  limitOf,
  matchesAuditFilter,
  type AuditQuery,
} from '../audit/audit-query';
import { AuditStore, type StoredAuditRecord } from '../audit/audit-store';
import { verifyAuditTrail, type AuditVerifyReport } from '../audit/audit-verify';
import type { AuditFeed } from '../audit/postgres-audit-writer';

/** Nest token for the live feed (absent when the audit sink is not the Postgres trail). */
export const AUDIT_FEED = Symbol('AUDIT_FEED');

/** `tail`: how many stored records a live tail starts with (0: none), at most one page. */
function tailOf(query: AuditQuery): number {
  const value = query.tail;
  if (value === undefined) return 0;
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) > EXPORT_PAGE)
    throw new GatewayError('bad_request', `tail: an integer from 0 to ${EXPORT_PAGE}`);
  return Number(value);
}

/** Rows fetched per query while exporting or replaying a tail's backlog. */
const EXPORT_PAGE = 1000;
const SSE_KEEPALIVE_MS = 15_000;

@Controller('kgw/v1/audit')
@UseGuards(KgwAuthGuard)
export class AuditController {
  constructor(
    private readonly store: AuditStore,
    @Inject(AUDIT_FEED) private readonly feed: AuditFeed | null,
    /** Absent without a database for auth; then no credential can be revoked or logged out. */
    @Optional() private readonly authn?: AuthServices,
  ) {}

  /** A page as JSON (newest first, with nextCursor), or every matching record as NDJSON or CSV. */
  @Get()
  async list(
    @Caller() caller: AuthenticatedRequest,
    @Query() query: AuditQuery,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const filter = auditFilterOf(query, caller);
    const format = formatOf(query, req.headers.accept);
    const beforeId = decodeCursor(query);
    res.setHeader('Cache-Control', 'no-store');
    if (format === 'json') {
      const limit = limitOf(query);
      const rows = await this.store.page(filter, { beforeId, limit });
      const last = rows.at(-1);
      res.json({
        items: rows.map(auditRecordView),
        ...(rows.length === limit && last ? { nextCursor: encodeCursor(last.id) } : {}),
      });
      return;
    }
    res.status(200);
    res.setHeader('Content-Type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
    res.setHeader(
      'Content-Disposition',
      `attachment; filename="kgw-audit.${format === 'csv' ? 'csv' : 'ndjson'}"`,
    );
    if (format === 'csv') res.write(csvHeader());
    let cursor = beforeId;
    let closed = false;
    req.on('close', () => (closed = true));
    for (;;) {
      const rows: StoredAuditRecord[] = await this.store.page(filter, {
        beforeId: cursor,
        limit: EXPORT_PAGE,
      });
      const text = rows
        .map((row) =>
          format === 'csv' ? csvRow(auditRecordView(row)) : `${JSON.stringify(auditRecordView(row))}\n`,
        )
        .join('');
      if (text && !res.write(text)) await new Promise((r) => res.once('drain', r));
      if (closed || rows.length < EXPORT_PAGE) break;
      cursor = rows[rows.length - 1].id;
    }
    res.end();
  }

  /**
   * Live tail: every record written from now on that passes the filters — by this gateway and
   * by every other one on the same database (replicas, workers: replica-audit-feed.ts) — as SSE
   * `audit` events. Stored records come first (oldest first): the last `tail` matching ones, or
   * with `since` all matching ones since then (the last `tail` of them when both are given), and
   * then one `caught-up` event, so a client can tell history from what happens next.
   */
  @Get('stream')
  async stream(
    @Caller() caller: AuthenticatedRequest,
    @Query() query: AuditQuery,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const filter = auditFilterOf(query, caller);
    const tail = tailOf(query);
    if (!this.feed) throw new GatewayError('not_ready', 'the audit trail has no live feed');
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      // Proxies in front of the gateway must pass events through as they come.
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.write(': kgw audit stream\n\n');
    // The tail ends with the credential that opened it (revoked, logged out, expired).
    this.authn?.openStreams.track(caller.caller, res);

    const send = (record: ChainedAuditRecord | StoredAuditRecord): void => {
      res.write(
        `id: ${record.requestId}\nevent: audit\ndata: ${JSON.stringify(auditRecordView(record))}\n\n`,
      );
    };
    // Subscribe before reading the backlog so nothing falls between the two; records seen in
    // both are sent once.
    let held: ChainedAuditRecord[] | undefined = filter.since || tail ? [] : undefined;
    const unsubscribe = this.feed.subscribe((record) => {
      if (!matchesAuditFilter(record, filter)) return;
      if (held) held.push(record);
      else send(record);
    });
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), SSE_KEEPALIVE_MS);
    req.on('close', () => {
      clearInterval(keepalive);
      unsubscribe();
    });
    if (held) {
      const sent = new Set<string>();
      const sendStored = (rows: StoredAuditRecord[]): void => {
        for (const row of rows) {
          sent.add(row.requestId);
          send(row);
        }
      };
      try {
        if (tail) {
          // The newest `tail`, printed oldest first like tail(1).
          sendStored((await this.store.page(filter, { limit: tail })).reverse());
        } else {
          let afterId: string | undefined;
          for (;;) {
            const rows = await this.store.after(filter, { afterId, limit: EXPORT_PAGE });
            sendStored(rows);
            if (rows.length < EXPORT_PAGE) break;
            afterId = rows[rows.length - 1].id;
          }
        }
      } catch {
        res.write('event: error\ndata: {"message":"could not read stored records"}\n\n');
      }
      const live = held;
      held = undefined;
      for (const record of live) if (!sent.has(record.requestId)) send(record);
    }
    res.write('event: caught-up\ndata: {}\n\n');
  }

  /** Admins only: walks every chain and names the first broken link. */
  @Get('verify')
  async verify(
    @Caller() caller: AuthenticatedRequest,
    @Query() query: AuditQuery,
  ): Promise<AuditVerifyReport> {
    if (!caller.admin) throw new GatewayError('forbidden', 'only gateway admins may verify the audit trail');
    const instance = query.instance;
    if (instance !== undefined && (typeof instance !== 'string' || instance === ''))
      throw new GatewayError('bad_request', 'instance: give it once, as a non-empty value');
    return verifyAuditTrail(this.store, { instance });
  }
}
