// Every request gets our own id: a client-sent X-Request-Id is hostile input (log injection,
// correlation spoofing), so it is never reused.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

const REQUEST_ID = Symbol('kgw.requestId');

type WithId = IncomingMessage & { [REQUEST_ID]?: string };

export function assignRequestId(req: IncomingMessage, res?: ServerResponse): string {
  const id = randomUUID();
  (req as WithId)[REQUEST_ID] = id;
  res?.setHeader('X-Request-Id', id);
  return id;
}

export function requestIdOf(req: IncomingMessage): string {
  return (req as WithId)[REQUEST_ID] ?? 'unknown';
}
