import { applyDecorators } from '@nestjs/common';
import { ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { ERROR_STATUS, type ErrorCode } from './errors';

/** Documents the error answers of an endpoint, all in the contract's error shape. */
export function ApiErrors(...codes: ErrorCode[]) {
  const all: ErrorCode[] = ['UNAUTHENTICATED', 'RATE_LIMITED', ...codes];
  return applyDecorators(
    ...[...new Set(all)].map((code) =>
      ApiResponse({
        status: ERROR_STATUS[code],
        description: code,
        content: { 'application/json': { schema: { $ref: getSchemaPath('Error') } } },
      }),
    ),
  );
}
