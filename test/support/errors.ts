import assert from 'node:assert/strict';
import type { http } from './app';

export type HttpResult = Awaited<ReturnType<typeof http>>;

const ERROR_KEYS = new Set(['statusCode', 'code', 'message', 'requestId', 'details']);

/**
 * The contract's error shape, exactly (CONTRACT §0): a JSON body with `statusCode` (the status),
 * `code`, a non-empty `message`, the `requestId` the `x-request-id` header carries, optionally
 * `details` (an array), and nothing else. `details`: `required` (a non-empty array must be there) or
 * `absent` (it must not be); either by default.
 */
export function assertError(
  res: HttpResult,
  status: number,
  code: string,
  what = '',
  details?: 'required' | 'absent',
): void {
  const context = `${what ? `${what}: ` : ''}${res.status} ${JSON.stringify(res.body)?.slice(0, 300)}`;
  assert.equal(res.status, status, context);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/, context);
  assert.ok(res.body && typeof res.body === 'object', `${context}: the body is not a JSON object`);
  const body = res.body as Record<string, unknown>;
  for (const key of Object.keys(body)) assert.ok(ERROR_KEYS.has(key), `${context}: unexpected key ${key}`);
  assert.equal(body.statusCode, status, context);
  assert.equal(body.code, code, context);
  assert.ok(typeof body.message === 'string' && body.message.length > 0, `${context}: message`);
  assert.ok(typeof body.requestId === 'string' && body.requestId.length > 0, `${context}: requestId`);
  assert.equal(body.requestId, res.headers.get('x-request-id'), `${context}: requestId and x-request-id`);
  if ('details' in body) assert.ok(Array.isArray(body.details), `${context}: details is not an array`);
  if (details === 'required')
    assert.ok(Array.isArray(body.details) && body.details.length > 0, `${context}: details missing`);
  if (details === 'absent') assert.ok(!('details' in body), `${context}: unexpected details`);
}
