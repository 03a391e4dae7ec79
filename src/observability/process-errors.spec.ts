import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rejectionHandler } from './process-errors';

describe('unhandled rejections: rejectionHandler', () => {
  function setup() {
    const lines: Record<string, unknown>[] = [];
    let counted = 0;
    let clock = 1_000_000;
    const handle = rejectionHandler(
      { error: (fields) => lines.push(fields) },
      () => counted++,
      () => clock,
    );
    return {
      handle,
      lines,
      counted: () => counted,
      advance: (ms: number) => (clock += ms),
    };
  }

  it('counts every rejection and logs the first ten of a minute with their error', () => {
    const s = setup();
    for (let i = 0; i < 25; i++) s.handle(new Error(`bug ${i}`));
    assert.equal(s.counted(), 25);
    assert.equal(s.lines.length, 10);
    assert.equal((s.lines[0]!.err as Error).message, 'bug 0');
    assert.equal((s.lines[9]!.err as Error).message, 'bug 9');
  });

  it('a minute later it logs again and says how many it left out', () => {
    const s = setup();
    for (let i = 0; i < 25; i++) s.handle(new Error(`bug ${i}`));
    s.advance(59_999);
    s.handle(new Error('still the first minute'));
    assert.equal(s.lines.length, 10);
    s.advance(1);
    s.handle(new Error('next minute'));
    assert.equal(s.lines.length, 11);
    assert.equal((s.lines[10]!.err as Error).message, 'next minute');
    assert.equal(s.lines[10]!.suppressedBefore, 16);
    s.handle(new Error('after that'));
    assert.equal(s.lines[11]!.suppressedBefore, undefined);
    assert.equal(s.counted(), 28);
  });

  it('a rejection that is not an Error is logged as one that names it', () => {
    const s = setup();
    s.handle('a string');
    s.handle(undefined);
    assert.deepEqual(
      s.lines.map((l) => (l.err as Error).message),
      ['non-Error rejection: a string', 'non-Error rejection: undefined'],
    );
  });
});
