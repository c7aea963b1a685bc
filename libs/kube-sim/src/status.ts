// Kubernetes `Status` errors, worded as apimachinery's api/errors package words them, so clients
// (kubectl prints `Error from server (Reason): message`) show exactly what a real server shows.

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** Thrown anywhere in request handling; the server turns it into the Status reply. */
export class StatusError extends Error {
  constructor(readonly status: StatusBody) {
    super(status.message);
  }
  get code(): number {
    return this.status.code;
  }
}

function failure(
  code: number,
  reason: string | undefined,
  message: string,
  details?: StatusDetails,
): StatusError {
  const body: StatusBody = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    code,
  };
  if (reason) body.reason = reason;
  if (details) body.details = details;
  return new StatusError(body);
}

export interface GroupResource {
  group: string;
  resource: string;
}

function grString(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

function detailsFor(gr: GroupResource, name: string): StatusDetails {
  const d: StatusDetails = {};
  if (name) d.name = name;
  if (gr.group) d.group = gr.group;
  if (gr.resource) d.kind = gr.resource;
  return d;
}

export function notFound(gr: GroupResource, name: string): StatusError {
  return failure(404, 'NotFound', `${grString(gr)} "${name}" not found`, detailsFor(gr, name));
}

export function alreadyExists(gr: GroupResource, name: string): StatusError {
  return failure(409, 'AlreadyExists', `${grString(gr)} "${name}" already exists`, detailsFor(gr, name));
}

export function conflict(gr: GroupResource, name: string, cause: string): StatusError {
  return failure(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${grString(gr)} "${name}": ${cause}`,
    detailsFor(gr, name),
  );
}

export const OBJECT_MODIFIED =
  'the object has been modified; please apply your changes to the latest version and try again';

export function forbidden(gr: GroupResource, name: string, cause: string): StatusError {
  let message: string;
  if (!gr.group && !gr.resource) message = `forbidden: ${cause}`;
  else if (!name) message = `${grString(gr)} is forbidden: ${cause}`;
  else message = `${grString(gr)} "${name}" is forbidden: ${cause}`;
  return failure(403, 'Forbidden', message, detailsFor(gr, name));
}

export type FieldErrorType =
  | 'FieldValueRequired'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueForbidden'
  | 'FieldValueDuplicate';

export interface FieldError {
  type: FieldErrorType;
  field: string;
  value?: unknown;
  detail?: string;
}

function quoteValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** field.Error.ErrorBody(). */
export function fieldErrorBody(e: FieldError): string {
  let body: string;
  switch (e.type) {
    case 'FieldValueRequired':
      body = 'Required value';
      break;
    case 'FieldValueForbidden':
      body = 'Forbidden';
      break;
    case 'FieldValueInvalid':
      body = `Invalid value: ${quoteValue(e.value)}`;
      break;
    case 'FieldValueNotSupported':
      body = `Unsupported value: ${quoteValue(e.value)}`;
      break;
    case 'FieldValueDuplicate':
      body = `Duplicate value: ${quoteValue(e.value)}`;
      break;
  }
  return e.detail ? `${body}: ${e.detail}` : body;
}

/** errors.NewInvalid: 422 with one cause per field error. */
export function invalid(
  kind: { group: string; kind: string },
  name: string,
  errors: FieldError[],
): StatusError {
  const qk = kind.group ? `${kind.kind}.${kind.group}` : kind.kind;
  const texts = errors.map((e) => `${e.field}: ${fieldErrorBody(e)}`);
  // utilerrors.Aggregate prints one error bare and several as a bracketed list.
  const aggregate = texts.length === 0 ? '' : texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  const message = aggregate ? `${qk} "${name}" is invalid: ${aggregate}` : `${qk} "${name}" is invalid`;
  const details: StatusDetails = {
    name,
    kind: kind.kind,
    causes: errors.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field })),
  };
  if (kind.group) details.group = kind.group;
  return failure(422, 'Invalid', message, details);
}

export function badRequest(message: string): StatusError {
  return failure(400, 'BadRequest', message);
}

export function unauthorized(): StatusError {
  return failure(401, 'Unauthorized', 'Unauthorized');
}

export function expired(message: string): StatusError {
  return failure(410, 'Expired', message);
}

export function gone(message: string): StatusError {
  return failure(410, 'Gone', message);
}

export function methodNotSupported(gr: GroupResource, action: string): StatusError {
  return failure(
    405,
    'MethodNotAllowed',
    `${action} is not supported on resources of kind "${grString(gr)}"`,
    detailsFor(gr, ''),
  );
}

export function unsupportedMediaType(contentType: string, supported: string[]): StatusError {
  return failure(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${supported.join(', ')}`,
    contentType ? undefined : undefined,
  );
}

export function notAcceptable(): StatusError {
  return failure(
    406,
    'NotAcceptable',
    'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf',
  );
}

export function requestEntityTooLarge(limit: string): StatusError {
  return failure(413, 'RequestEntityTooLarge', `Request entity too large: ${limit}`);
}

export function internalError(cause: string): StatusError {
  return failure(500, 'InternalError', `Internal error occurred: ${cause}`, { causes: [{ message: cause }] });
}

/** A plain 404 for paths no handler serves, as the real server's NotFound handler words it. */
export function pathNotFound(): StatusError {
  return failure(404, 'NotFound', 'the server could not find the requested resource', {});
}

export function genericInvalid(message: string): StatusError {
  return failure(422, 'Invalid', message);
}

export function success(details?: StatusDetails): Record<string, unknown> {
  const body: Record<string, unknown> = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' };
  if (details) body.details = details;
  return body;
}
