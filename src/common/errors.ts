/** The error codes of CONTRACT §0, with the HTTP status each one answers with. */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  LIMIT_EXCEEDED: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  SERVICE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

/** The code a bare HTTP status maps to, for errors thrown by the framework itself. */
export function codeForStatus(status: number): ErrorCode {
  const found = ERROR_CODES.find((code) => ERROR_STATUS[code] === status);
  if (found) return found;
  if (status === 405) return 'NOT_FOUND';
  if (status >= 500) return 'INTERNAL';
  return 'VALIDATION_FAILED';
}

/**
 * A failure the caller can act on. Services throw it; the REST filter and the socket acks
 * turn it into the contract's error shape.
 */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown[],
    /** Seconds, for RATE_LIMITED (the `Retry-After` header). */
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'AppError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/** RATE_LIMITED, telling the client to retry in whole seconds (at least 1). */
export function rateLimited(message: string, retryAfterMs: number): AppError {
  return new AppError('RATE_LIMITED', message, undefined, Math.max(1, Math.ceil(retryAfterMs / 1000)));
}

export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} not found`);
export const forbidden = (message: string) => new AppError('FORBIDDEN', message);
export const validationFailed = (message: string, details?: unknown[]) =>
  new AppError('VALIDATION_FAILED', message, details);

/** The body of every REST error (CONTRACT §0) and the `error` of a failed socket ack. */
export interface ErrorBody {
  statusCode: number;
  code: ErrorCode;
  message: string;
  requestId: string;
  details?: unknown[];
}

const UNAVAILABLE_PG_CODES = new Set([
  // query_canceled: statement_timeout (DATABASE_STATEMENT_TIMEOUT_MS) or an operator's cancel.
  '57014',
  // lock_not_available: lock_timeout.
  '55P03',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08006',
]);
const UNAVAILABLE_NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND']);

/** True for errors that mean a dependency (PostgreSQL, Redis) is down, not that the request is wrong. */
export function isUnavailableError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; message?: unknown; driverError?: unknown };
  if (typeof e.code === 'string' && (UNAVAILABLE_PG_CODES.has(e.code) || UNAVAILABLE_NET_CODES.has(e.code)))
    return true;
  if (
    typeof e.message === 'string' &&
    /Connection terminated|connection timeout|Client has encountered a connection error|Connection is closed|timeout exceeded when trying to connect|is not currently accepting connections|the database system is (starting up|shutting down|in recovery mode)/i.test(
      e.message,
    )
  )
    return true;
  // TypeORM releases a transaction's query runner when its connection dies between two statements.
  if ((err as { name?: unknown }).name === 'QueryRunnerAlreadyReleasedError') return true;
  return e.driverError !== undefined && e.driverError !== err && isUnavailableError(e.driverError);
}
