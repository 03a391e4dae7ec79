import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logLimit } from './log-limit';

describe('logLimit', () => {
  it('writes at most max lines a window; the next line written is told how many were left out', () => {
    let t = 0;
    const limit = logLimit(1, 10_000, () => t);
    const lines: number[] = [];
    const call = () => limit((leftOut) => lines.push(leftOut));
    call();
    call();
    call();
    assert.deepEqual(lines, [0], 'one line in the first window');
    t = 9_999;
    call();
    assert.deepEqual(lines, [0]);
    t = 10_000;
    call();
    assert.deepEqual(lines, [0, 3], 'the next window: the three left out');
    t = 30_000;
    call();
    assert.deepEqual(lines, [0, 3, 0]);
  });

  it('max lines, then none until the window ends', () => {
    let t = 0;
    const limit = logLimit(3, 60_000, () => t);
    const lines: number[] = [];
    for (let i = 0; i < 10; i++) limit((leftOut) => lines.push(leftOut));
    assert.deepEqual(lines, [0, 0, 0]);
    t = 60_000;
    limit((leftOut) => lines.push(leftOut));
    assert.deepEqual(lines, [0, 0, 0, 7]);
  });
});
