import { BadRequestException, NotFoundException } from '@nestjs/common';
import { GATEWAY_ERRORS, GatewayError, toGatewayErrorBody, type GatewayErrorCode } from './gateway-error';

describe('gateway error table', () => {
  it.each(Object.keys(GATEWAY_ERRORS) as GatewayErrorCode[])(
    '%s maps to its status and a public body',
    (code) => {
      const { status, body } = toGatewayErrorBody(new GatewayError(code, 'detail for the caller'), 'req-1');
      expect(status).toBe(GATEWAY_ERRORS[code].status);
      expect(body.error).toBe(code);
      expect(body.requestId).toBe('req-1');
      // 5xx bodies never carry internal detail.
      expect(body.message).toBe(status >= 500 ? GATEWAY_ERRORS[code].message : 'detail for the caller');
    },
  );

  it('maps Nest HTTP exceptions and unknown errors', () => {
    expect(toGatewayErrorBody(new NotFoundException('Cannot GET /kgw/x'), 'r').body).toEqual({
      error: 'not_found',
      message: 'Cannot GET /kgw/x',
      requestId: 'r',
    });
    expect(toGatewayErrorBody(new BadRequestException('bad'), 'r').status).toBe(400);
    const unknown = toGatewayErrorBody(new Error('database password is hunter2'), 'r');
    expect(unknown).toEqual({
      status: 500,
      body: { error: 'internal', message: GATEWAY_ERRORS.internal.message, requestId: 'r' },
    });
  });
});
