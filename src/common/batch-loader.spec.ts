import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchLoader } from './batch-loader';

describe('BatchLoader', () => {
  it('loads the keys asked for in one turn with one call, in chunks, each caller getting its value', async () => {
    const calls: string[][] = [];
    const loader = new BatchLoader<string, string[]>(
      async (keys) => {
        calls.push(keys);
        return new Map(keys.filter((k) => k !== 'nobody').map((k) => [k, [`${k}-friend`]]));
      },
      { maxBatch: 2, missing: () => [] },
    );
    const results = await Promise.all(['a', 'b', 'a', 'nobody'].map((k) => loader.load(k)));
    assert.deepEqual(results, [['a-friend'], ['b-friend'], ['a-friend'], []]);
    // 'a' asked twice is loaded once; three distinct keys in chunks of two.
    assert.deepEqual(calls, [['a', 'b'], ['nobody']]);
    // A later turn is a new call.
    assert.deepEqual(await loader.load('c'), ['c-friend']);
    assert.equal(calls.length, 3);
  });

  it('fails every caller of a chunk whose load fails, and only those', async () => {
    const loader = new BatchLoader<number, number>(
      async (keys) => {
        if (keys.includes(1)) throw new Error('db down');
        return new Map(keys.map((k) => [k, k * 10]));
      },
      { maxBatch: 1, missing: () => 0 },
    );
    const [one, two] = await Promise.allSettled([loader.load(1), loader.load(2)]);
    assert.equal(one.status, 'rejected');
    assert.deepEqual(two, { status: 'fulfilled', value: 20 });
  });
});
