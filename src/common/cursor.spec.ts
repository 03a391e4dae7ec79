import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeCursor, encodeCursor } from './cursor';
import { AppError } from './errors';

const pair = (p: unknown[]): p is [string, number] =>
  p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'number';

function assertMalformed(run: () => unknown, what: string): void {
  assert.throws(
    run,
    (err: unknown) =>
      err instanceof AppError &&
      err.code === 'VALIDATION_FAILED' &&
      err.status === 400 &&
      err.message === 'cursor is malformed',
    what,
  );
}

describe('cursor', () => {
  it('round-trips, as URL-safe text', () => {
    const c = encodeCursor(['1700000000000000', 42]);
    assert.match(c, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeCursor(c, pair), ['1700000000000000', 42]);
  });

  it('round-trips any parts', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.integer())), (parts) => {
        const c = encodeCursor(parts);
        assert.match(c, /^[A-Za-z0-9_-]*$/);
        if (c.length && c.length <= 512)
          assert.deepEqual(
            decodeCursor(c, (p): p is (string | number)[] => Array.isArray(p)),
            parts,
          );
      }),
    );
  });

  it('refuses what does not decode to the expected shape with VALIDATION_FAILED', () => {
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
    const cases: [string, string][] = [
      ['empty', ''],
      ['not base64', 'abc'],
      ['characters outside base64url', 'ab+c/d=='],
      ['SQL', "'; DROP TABLE conversations; --"],
      ['garbage bytes', Buffer.from([0xff, 0x00, 0xfe, 0x80]).toString('base64url')],
      ['text', b64('hello')],
      ['an object', b64('{"a":1}')],
      ['null', b64('null')],
      ['a number', b64('42')],
      ['wrong part types', b64('[1, "x"]')],
      ['too few parts', b64('["x"]')],
      ['too many parts', b64('["x", 1, 2]')],
      ['too long', encodeCursor(['x'.repeat(600), 1])],
    ];
    for (const [what, c] of cases) assertMalformed(() => decodeCursor(c, pair), what);
  });

  it('never throws anything but VALIDATION_FAILED for any input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 600 }), (s) => {
        try {
          decodeCursor(s, pair);
        } catch (err) {
          assert.ok(err instanceof AppError && err.code === 'VALIDATION_FAILED');
        }
      }),
    );
  });
});
