// One table from the gateway's own error codes to HTTP status and public wording. Routes under
// /kgw/ answer {error, message, requestId}; 5xx bodies stay generic and carry the request id.
import { HttpException } from '@nestjs/common';

export const GATEWAY_ERRORS = {
  bad_request: { status: 400, message: 'The request is malformed.' },
  unauthenticated: { status: 401, message: 'Authentication required.' },
  forbidden: { status: 403, message: 'You are not allowed to do this.' },
  not_found: { status: 404, message: 'No such route.' },
  method_not_allowed: { status: 405, message: 'Method not allowed on this route.' },
  too_many_requests: { status: 429, message: 'Too many requests; retry later.' },
  not_ready: { status: 503, message: 'The gateway is not ready.' },
  internal: { status: 500, message: 'Internal error; quote the request id when reporting it.' },
} as const;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

export class GatewayError extends Error {
  constructor(
    readonly code: GatewayErrorCode,
    message?: string,
  ) {
    super(message ?? GATEWAY_ERRORS[code].message);
  }
  get status(): number {
    return GATEWAY_ERRORS[this.code].status;
  }
}

export interface GatewayErrorBody {
  error: GatewayErrorCode;
  message: string;
  requestId: string;
}

/** Maps anything thrown in a /kgw/ route to its public status and body. */
export function toGatewayErrorBody(
  err: unknown,
  requestId: string,
): { status: number; body: GatewayErrorBody } {
  if (err instanceof GatewayError) {
    const internal = err.status >= 500;
    return {
      status: err.status,
      body: {
        error: err.code,
        message: internal ? GATEWAY_ERRORS[err.code].message : err.message,
        requestId,
      },
    };
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const code = codeForStatus(status);
    return {
      status,
      body: { error: code, message: status >= 500 ? GATEWAY_ERRORS[code].message : err.message, requestId },
    };
  }
  return { status: 500, body: { error: 'internal', message: GATEWAY_ERRORS.internal.message, requestId } };
}

function codeForStatus(status: number): GatewayErrorCode {
  const found = (Object.keys(GATEWAY_ERRORS) as GatewayErrorCode[]).find(
    (code) => GATEWAY_ERRORS[code].status === status,
  );
  return found ?? (status >= 500 ? 'internal' : 'bad_request');
}
