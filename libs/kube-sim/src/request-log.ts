// What the simulator received, for tests that assert what reached "the API server". Token values
// are never recorded: only whether an Authorization header was present.
import type { SimUserInfo } from './contract';
import type { ImpersonationHeaders } from './impersonation';

export interface RequestLogEntry {
  /** Sequence number, from 1. */
  seq: number;
  time: string;
  method: string;
  path: string;
  /** The raw query string without `?` ('' when none). */
  query: string;
  /** Whether an Authorization header was sent (its value is never kept). */
  authorizationHeader: boolean;
  /** How the caller authenticated, when it did. */
  authMethod?: 'token' | 'serviceaccount' | 'certificate';
  /** The authenticated caller, before impersonation. */
  authenticatedUser?: SimUserInfo;
  /** The Impersonate-* headers as received (keys of extras unescaped and lowercased). */
  impersonation?: ImpersonationHeaders;
  /** The user the request acted as (after impersonation); undefined when authentication failed. */
  user?: SimUserInfo;
  /** The RequestInfo verb, e.g. `list`, `watch`, `create`. */
  verb?: string;
  /** The HTTP status sent (101 for upgrades handed to the streams module). */
  status?: number;
  userAgent?: string;
  /** The ID of the request's audit event: the `Audit-ID` header received, or one made up. */
  auditId: string;
  /** `2.0` when the request came over HTTP/2, `1.1` over HTTP/1.1. */
  httpVersion?: string;
}

export class RequestLog {
  private readonly items: RequestLogEntry[] = [];
  private seq = 0;
  private readonly waiters = new Set<{
    predicate: (e: RequestLogEntry) => boolean;
    resolve: (e: RequestLogEntry) => void;
  }>();

  constructor(private readonly capacity = 20000) {}

  /** A snapshot of the entries, oldest first. */
  get entries(): readonly RequestLogEntry[] {
    return [...this.items];
  }

  record(entry: Omit<RequestLogEntry, 'seq' | 'time'>): RequestLogEntry {
    const full: RequestLogEntry = { seq: ++this.seq, time: new Date().toISOString(), ...entry };
    this.items.push(full);
    if (this.items.length > this.capacity) this.items.shift();
    return full;
  }

  /** Called when a response has finished, so waiters see the final status. */
  completed(entry: RequestLogEntry): void {
    for (const w of [...this.waiters]) {
      if (w.predicate(entry)) {
        this.waiters.delete(w);
        w.resolve(entry);
      }
    }
  }

  clear(): void {
    this.items.length = 0;
  }

  find(predicate: (e: RequestLogEntry) => boolean): RequestLogEntry[] {
    return this.items.filter(predicate);
  }

  /** Resolves with the first completed entry (already logged or future) that matches. */
  waitFor(predicate: (e: RequestLogEntry) => boolean): Promise<RequestLogEntry> {
    const existing = this.items.find((e) => e.status !== undefined && predicate(e));
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve) => this.waiters.add({ predicate, resolve }));
  }
}
