import { ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { toGatewayErrorBody } from '../errors/gateway-error';
import { requestIdOf } from '../logging/request-id';

@Catch()
export class GatewayExceptionFilter implements ExceptionFilter {
  constructor(private readonly log: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    const requestId = requestIdOf(req);
    const { status, body } = toGatewayErrorBody(exception, requestId);
    if (status >= 500) this.log.error({ err: exception, requestId, path: req.path }, 'gateway route failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(status).json(body);
  }
}
