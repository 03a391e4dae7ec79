import { ArgumentsHost, Catch, HttpException, Logger, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppError, codeForStatus, ERROR_STATUS, isUnavailableError, type ErrorBody } from './errors';
import type { MetricsService } from '../observability/metrics.service';
import { requestIdFor } from './request-id';

/** What a thrown value becomes on the wire; never a stack trace, never SQL. */
export function toErrorBody(err: unknown, requestId: string): { body: ErrorBody; retryAfterS?: number } {
  if (err instanceof AppError) {
    const body: ErrorBody = { statusCode: err.status, code: err.code, message: err.message, requestId };
    if (err.details?.length) body.details = err.details;
    return { body, retryAfterS: err.retryAfterS };
  }
  if (err instanceof HttpException) {
    const code = codeForStatus(err.getStatus());
    // The status is the code's (CONTRACT §0): e.g. a body-parser 415 answers 400 VALIDATION_FAILED.
    return { body: { statusCode: ERROR_STATUS[code], code, message: httpMessage(err, code), requestId } };
  }
  if (isUnavailableError(err)) {
    return {
      body: {
        statusCode: 503,
        code: 'SERVICE_UNAVAILABLE',
        message: 'A dependency is unavailable, retry later',
        requestId,
      },
      retryAfterS: 1,
    };
  }
  return { body: { statusCode: 500, code: 'INTERNAL', message: 'Internal error', requestId } };
}

function httpMessage(err: HttpException, code: string): string {
  switch (code) {
    case 'NOT_FOUND':
      return 'Route not found';
    case 'PAYLOAD_TOO_LARGE':
      return 'Request body too large';
    case 'VALIDATION_FAILED':
      // Body-parser failures arrive as a BadRequestException; their text is safe but terse.
      return err.message.includes('JSON') ? 'Request body is not valid JSON' : err.message;
    case 'RATE_LIMITED':
      return 'Too many requests';
    default:
      return err.message;
  }
}

/** Logs what a 500 was without leaking SQL parameters (which may hold message text). */
function describeInternal(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { thrown: typeof err };
  const e = err as Error & { code?: string; query?: string };
  return {
    name: e.name,
    code: e.code,
    message: e.query ? 'database query failed' : e.message,
    stack: e.stack,
  };
}

@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Http');

  constructor(private readonly metrics?: MetricsService) {}

  catch(err: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw err;
    const req = host.switchToHttp().getRequest<Request & { id?: string }>();
    const res = host.switchToHttp().getResponse<Response>();
    const requestId = req.id ?? requestIdFor(req.headers['x-request-id']);
    const { body, retryAfterS } = toErrorBody(err, requestId);
    this.metrics?.errors.inc({ transport: 'http', code: body.code });
    if (body.code === 'INTERNAL') this.logger.error({ err: describeInternal(err) }, 'unhandled error');
    else if (body.code === 'SERVICE_UNAVAILABLE')
      this.logger.warn({ err: describeInternal(err) }, 'dependency unavailable');
    if (res.headersSent) return;
    res.setHeader('x-request-id', requestId);
    if (retryAfterS !== undefined) res.setHeader('Retry-After', String(retryAfterS));
    res.status(body.statusCode).json(body);
  }
}
