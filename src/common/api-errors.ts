import { applyDecorators } from '@nestjs/common';
import {
  ApiParam,
  ApiResponse,
  getSchemaPath,
  type HeaderObject,
  type ParameterObject,
} from '@nestjs/swagger';
import { ERROR_STATUS, type ErrorCode } from './errors';
import { EXTERNAL_ID } from './validators';

/**
 * The headers the OpenAPI document declares once (`components.headers`, installed by
 * src/openapi.ts) and references from its responses.
 */
export const RESPONSE_HEADERS = {
  RequestId: {
    description:
      "Every response carries it (CONTRACT §0): the request's `x-request-id` when it sent a valid one " +
      '(1–128 characters from `[A-Za-z0-9._:-]`), else a new one. The same id as an error body’s `requestId` ' +
      'and in every log line of the request.',
    required: true,
    schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
  },
  RetryAfter: {
    description: 'Seconds to wait before retrying (a whole number, at least 1).',
    required: true,
    schema: { type: 'integer', minimum: 1 },
  },
} satisfies Record<string, HeaderObject>;

/** The optional request header every operation takes (`components.parameters.RequestId`). */
export const REQUEST_ID_PARAMETER: ParameterObject = {
  name: 'x-request-id',
  in: 'header',
  required: false,
  description:
    'Optional: an id for the request, 1–128 characters from `[A-Za-z0-9._:-]`; the response echoes it ' +
    '(an invalid one is replaced by a new one).',
  schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
};

const headerRef = (name: keyof typeof RESPONSE_HEADERS) => ({ $ref: `#/components/headers/${name}` });

/** What each code means on a route unless the route says more. */
const DEFAULT_DESCRIPTIONS: Record<ErrorCode, string> = {
  VALIDATION_FAILED:
    'VALIDATION_FAILED: a malformed parameter or body (unknown body fields included); `details` names the fields',
  UNAUTHENTICATED: 'UNAUTHENTICATED: no bearer token, or an invalid or expired one',
  FORBIDDEN: 'FORBIDDEN: the caller may not do this',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE: the request body is over the size limit (BODY_LIMIT_BYTES)',
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  RATE_LIMITED:
    'RATE_LIMITED: over REST_RATE_LIMIT requests per REST_RATE_WINDOW_S for this user; retry after `Retry-After` seconds',
  INTERNAL: 'INTERNAL: an unexpected failure (no stack trace or SQL in the message)',
  SERVICE_UNAVAILABLE:
    'SERVICE_UNAVAILABLE: a dependency (PostgreSQL) is unavailable; retry after `Retry-After` seconds',
};

/** Codes whose answers carry `Retry-After` (the error filter sets it for both). */
const RETRY_AFTER: ReadonlySet<ErrorCode> = new Set(['RATE_LIMITED', 'SERVICE_UNAVAILABLE']);

/** An error code, or one with what it means on this route. */
export type ApiErrorSpec = ErrorCode | { code: ErrorCode; description: string };

/**
 * Documents the error answers of an endpoint, all in the contract's error shape: UNAUTHENTICATED and
 * RATE_LIMITED (every guarded route) and the codes given. 429 and 503 declare `Retry-After`; every
 * response's `x-request-id` is added by src/openapi.ts.
 */
export function ApiErrors(...specs: ApiErrorSpec[]) {
  const described = new Map<ErrorCode, string>();
  for (const spec of ['UNAUTHENTICATED', 'RATE_LIMITED', ...specs] as ApiErrorSpec[]) {
    const { code, description } =
      typeof spec === 'string' ? { code: spec, description: DEFAULT_DESCRIPTIONS[spec] } : spec;
    described.set(code, description);
  }
  return applyDecorators(
    ...[...described].map(([code, description]) =>
      ApiResponse({
        status: ERROR_STATUS[code],
        description,
        ...(RETRY_AFTER.has(code) ? { headers: { 'Retry-After': headerRef('RetryAfter') } } : {}),
        content: { 'application/json': { schema: { $ref: getSchemaPath('Error') } } },
      }),
    ),
  );
}

/** A path parameter that must be a UUID (conversation and message ids); anything else is a 400. */
export const ApiUuidParam = (name: string, description?: string) =>
  ApiParam({ name, description, schema: { type: 'string', format: 'uuid' } });

/** A path parameter holding a user or business id: 1–64 characters from `[A-Za-z0-9._:-]` (else a 400). */
export const ApiExternalIdParam = (name: string, description?: string, example?: string) =>
  ApiParam({ name, description, example, schema: { type: 'string', pattern: EXTERNAL_ID.source } });
