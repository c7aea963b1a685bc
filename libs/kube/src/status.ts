// Kubernetes `Status` failures, worded and serialized like the API server (apimachinery api/errors,
// apiserver responsewriters) so kubectl prints gateway errors exactly as it prints cluster errors.
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { goJsonEncode, goQuote } from './go-text';

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Expired'
  | 'Invalid'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'UnsupportedMediaType'
  | 'RequestEntityTooLarge'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout';

export interface StatusCause {
  readonly reason?: string;
  readonly message?: string;
  readonly field?: string;
}

export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
  readonly causes?: readonly StatusCause[];
  readonly retryAfterSeconds?: number;
}

/** A metav1.Status with status "Failure". */
export interface KubeStatus {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Failure';
  readonly message: string;
  readonly reason: StatusReason;
  /** Present whenever Go would set a non-nil Details pointer (then `{}` when all fields are empty). */
  readonly details?: StatusDetails;
  readonly code: number;
}

/** A resource qualified by its API group, as in `pods` or `deployments.apps`. */
export interface GroupResource {
  readonly group: string;
  readonly resource: string;
}

/** A Failure Status with any code and reason (the named constructors below are the usual ones). */
export function failure(
  code: number,
  reason: StatusReason,
  message: string,
  details?: StatusDetails,
): KubeStatus {
  const status = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
  } as const;
  return details === undefined
    ? { ...status, code }
    : { ...status, details: goOrderedDetails(details), code };
}

// Go's StatusDetails field order with `omitempty`: empty strings, zero and empty lists vanish.
function goOrderedDetails(details: StatusDetails): StatusDetails {
  const ordered: { -readonly [K in keyof StatusDetails]: StatusDetails[K] } = {};
  if (details.name) ordered.name = details.name;
  if (details.group) ordered.group = details.group;
  if (details.kind) ordered.kind = details.kind;
  if (details.causes && details.causes.length > 0) ordered.causes = details.causes;
  if (details.retryAfterSeconds) ordered.retryAfterSeconds = details.retryAfterSeconds;
  return ordered;
}

/** schema.GroupResource.String(). */
export function qualifiedResourceName(resource: GroupResource): string {
  return resource.group === '' ? resource.resource : `${resource.resource}.${resource.group}`;
}

function detailsFor(resource: GroupResource, name: string): StatusDetails {
  return { name, group: resource.group, kind: resource.resource };
}

/** 404 `pods "x" not found`. */
export function statusNotFound(resource: GroupResource, name: string): KubeStatus {
  return failure(
    404,
    'NotFound',
    `${qualifiedResourceName(resource)} ${goQuote(name)} not found`,
    detailsFor(resource, name),
  );
}

/** 409 `pods "x" already exists`. */
export function alreadyExists(resource: GroupResource, name: string): KubeStatus {
  return failure(
    409,
    'AlreadyExists',
    `${qualifiedResourceName(resource)} ${goQuote(name)} already exists`,
    detailsFor(resource, name),
  );
}

/** 409 `Operation cannot be fulfilled on pods "x": <why>`. */
export function conflict(resource: GroupResource, name: string, why: string): KubeStatus {
  return failure(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResourceName(resource)} ${goQuote(name)}: ${why}`,
    detailsFor(resource, name),
  );
}

/**
 * 403 as NewForbidden words it: `pods "x" is forbidden: <why>`, `pods is forbidden: <why>` without
 * a name, `forbidden: <why>` without a resource (non-resource paths).
 */
export function forbidden(resource: GroupResource, name: string, why: string): KubeStatus {
  const qualified = qualifiedResourceName(resource);
  let message: string;
  if (resource.group === '' && resource.resource === '') message = `forbidden: ${why}`;
  else if (name === '') message = `${qualified} is forbidden: ${why}`;
  else message = `${qualified} ${goQuote(name)} is forbidden: ${why}`;
  return failure(403, 'Forbidden', message, detailsFor(resource, name));
}

/** 401 `Unauthorized`, the API server's answer to a missing or bad credential. */
export function unauthorized(message = 'Unauthorized'): KubeStatus {
  return failure(401, 'Unauthorized', message === '' ? 'not authorized' : message);
}

/** 400 with the given message. */
export function badRequest(message: string): KubeStatus {
  return failure(400, 'BadRequest', message);
}

/** 405 `<action> is not supported on resources of kind "pods"`. */
export function methodNotSupported(resource: GroupResource, action: string): KubeStatus {
  return failure(
    405,
    'MethodNotAllowed',
    `${action} is not supported on resources of kind ${goQuote(qualifiedResourceName(resource))}`,
    {
      group: resource.group,
      kind: resource.resource,
    },
  );
}

/** 410 Expired, e.g. `too old resource version: 1 (5)`. */
export function expired(message: string): KubeStatus {
  return failure(410, 'Expired', message);
}

/** 415 with the given message. */
export function unsupportedMediaType(message: string): KubeStatus {
  return failure(415, 'UnsupportedMediaType', message);
}

/** 413 `Request entity too large: <message>`. */
export function requestEntityTooLarge(message: string): KubeStatus {
  return failure(413, 'RequestEntityTooLarge', `Request entity too large: ${message}`);
}

/** 429 with retryAfterSeconds in details; writeStatus adds the matching Retry-After header. */
export function tooManyRequests(message: string, retryAfterSeconds: number): KubeStatus {
  return failure(429, 'TooManyRequests', message, {
    retryAfterSeconds: Math.max(0, Math.trunc(retryAfterSeconds)),
  });
}

/** 503 with the given message; retryAfterSeconds is optional. */
export function serviceUnavailable(message: string, retryAfterSeconds?: number): KubeStatus {
  return failure(
    503,
    'ServiceUnavailable',
    message,
    retryAfterSeconds === undefined
      ? undefined
      : { retryAfterSeconds: Math.max(0, Math.trunc(retryAfterSeconds)) },
  );
}

/** 504 `Timeout: <message>`. */
export function gatewayTimeout(message: string, retryAfterSeconds = 0): KubeStatus {
  return failure(504, 'Timeout', `Timeout: ${message}`, { retryAfterSeconds });
}

/**
 * 500 that tells the caller nothing about our internals: a generic message and the request id, which
 * the operator finds in the gateway's log next to the real error.
 */
export function internal(requestId: string): KubeStatus {
  return failure(
    500,
    'InternalError',
    `Internal error occurred: the gateway could not complete the request (request id ${requestId})`,
    {
      causes: [{ message: `request id ${requestId}` }],
    },
  );
}

/** The Status as the API server writes it: Go's encoding/json, trailing newline. */
export function encodeStatus(status: KubeStatus): string {
  return goJsonEncode(status);
}

/** Writes a Status as the response; if headers already left, the only honest move is to cut the stream. */
export function writeStatus(res: ServerResponse, status: KubeStatus): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = encodeStatus(status);
  res.statusCode = status.code;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'no-cache, private');
  const retryAfter = status.details?.retryAfterSeconds;
  if (retryAfter !== undefined && (status.code === 429 || status.code === 503 || status.code === 504)) {
    res.setHeader('Retry-After', String(retryAfter));
  }
  res.end(body);
}

/**
 * A Status on a socket that was about to be upgraded (no ServerResponse exists there); always
 * closes the socket afterwards, as the API server does when it refuses an upgrade. The request id
 * goes out as Audit-Id too, as on every answer of the gateway.
 */
export function writeSocketStatus(socket: Duplex, status: KubeStatus, requestId: string): void {
  const body = encodeStatus(status);
  socket.end(
    `HTTP/1.1 ${status.code} ${STATUS_CODES[status.code] ?? ''}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\nAudit-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
}
