// Kubernetes `Status` bodies, worded as the API server and kubelet word them, so kubectl prints
// its usual messages.
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface KubeStatus {
  kind?: 'Status';
  apiVersion?: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; causes?: StatusCause[] };
  code?: number;
}

const REASON_BY_CODE: Record<number, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  422: 'Invalid',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

export class KubeStatusError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details?: KubeStatus['details'],
    readonly reason: string = REASON_BY_CODE[code] ?? 'Unknown',
  ) {
    super(message);
  }

  toStatus(): KubeStatus {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

export function notFound(resource: 'pods' | 'services' | 'endpoints', name: string): KubeStatusError {
  return new KubeStatusError(404, `${resource} "${name}" not found`, { name, kind: resource });
}

export function badRequest(message: string): KubeStatusError {
  return new KubeStatusError(400, message);
}

export function serviceUnavailable(message: string): KubeStatusError {
  return new KubeStatusError(503, message);
}

export function internalError(message: string): KubeStatusError {
  return new KubeStatusError(500, `Internal error occurred: ${message}`, { causes: [{ message }] });
}

export function asStatusError(error: unknown): KubeStatusError {
  if (error instanceof KubeStatusError) return error;
  return internalError(error instanceof Error ? error.message : String(error));
}

export function writeStatus(res: ServerResponse, error: KubeStatusError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(error.toStatus());
  res.writeHead(error.code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Answers an upgrade request that we refuse, on the raw socket, with a Status body. */
export function writeStatusToSocket(
  socket: Duplex,
  error: KubeStatusError,
  extraHeaders: Record<string, string> = {},
): void {
  const body = JSON.stringify(error.toStatus());
  const lines = [
    `HTTP/1.1 ${error.code} ${STATUS_CODES[error.code] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...Object.entries(extraHeaders).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/** The exec/attach result the kubelet writes on the error stream (v4+) or status channel. */
export function exitStatus(exitCode: number, command: string[]): KubeStatus {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}
