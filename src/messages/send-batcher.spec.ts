import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SendBatcher } from './send-batcher';

const overloaded = () => new Error('overloaded');

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('SendBatcher', () => {
  it('runs a lone item at once, and groups what queues while the slots are busy', async () => {
    const batches: number[][] = [];
    const gate = deferred();
    const batcher = new SendBatcher<number, number>(
      async (inputs) => {
        batches.push(inputs);
        if (batches.length === 1) await gate.promise;
        return inputs.map((i) => i * 10);
      },
      { lanes: 1, maxBatch: 100, maxQueue: 1000, maxWaitMs: 10_000, overloaded },
    );
    const first = batcher.submit(1);
    const rest = [2, 3, 4, 5].map((i) => batcher.submit(i));
    assert.deepEqual(batches, [[1]]);
    gate.resolve();
    assert.deepEqual(await Promise.all([first, ...rest]), [10, 20, 30, 40, 50]);
    assert.deepEqual(batches, [[1], [2, 3, 4, 5]]);
  });

  it('answers each item with its own result or error, and a failed batch fails its items only', async () => {
    let call = 0;
    const batcher = new SendBatcher<number, number>(
      async (inputs) => {
        if (++call === 1) throw new Error('db down');
        return inputs.map((i) => (i % 2 ? i : new Error(`even ${i}`)));
      },
      { lanes: 1, maxBatch: 2, maxQueue: 1000, maxWaitMs: 10_000, overloaded },
    );
    const results = await Promise.allSettled([1, 2, 3, 4].map((i) => batcher.submit(i)));
    assert.equal(results[0]!.status, 'rejected');
    assert.deepEqual(
      results.slice(2).map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
      [3, 'even 4'],
    );
  });

  it('refuses new work when the queue is full, and work that waited too long, without running it', async () => {
    let now = 0;
    const ran: number[] = [];
    const gate = deferred();
    const batcher = new SendBatcher<number, number>(
      async (inputs) => {
        ran.push(...inputs);
        await gate.promise;
        return inputs;
      },
      { lanes: 1, maxBatch: 10, maxQueue: 2, maxWaitMs: 100, overloaded, now: () => now },
    );
    const running = batcher.submit(1);
    const waiting = [batcher.submit(2), batcher.submit(3)];
    await assert.rejects(batcher.submit(4), /overloaded/);
    now = 500;
    gate.resolve();
    await running;
    for (const w of waiting) await assert.rejects(w, /overloaded/);
    assert.deepEqual(ran, [1]);
  });

  it('runs one batch per lane at a time: a lane waits for itself, never for another lane', async () => {
    const gates = new Map<number, ReturnType<typeof deferred>>();
    const started: number[][] = [];
    const batcher = new SendBatcher<number, number>(
      async (inputs) => {
        started.push(inputs);
        const gate = deferred();
        gates.set(inputs[0]!, gate);
        await gate.promise;
        return inputs;
      },
      // Lane = the tens digit: 10, 11, 12 share lane 1; 20 is lane 2.
      {
        lanes: 4,
        laneOf: (i) => Math.floor(i / 10),
        maxBatch: 100,
        maxQueue: 1000,
        maxWaitMs: 10_000,
        overloaded,
      },
    );
    const a = batcher.submit(10);
    const b = [batcher.submit(11), batcher.submit(12)];
    const c = batcher.submit(20);
    // 10 and 20 run at once (two lanes); 11 and 12 wait for 10, their lane's batch.
    assert.deepEqual(started, [[10], [20]]);
    assert.equal(batcher.queued, 2);
    gates.get(20)!.resolve();
    assert.equal(await c, 20);
    assert.deepEqual(started, [[10], [20]]);
    gates.get(10)!.resolve();
    assert.equal(await a, 10);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, [[10], [20], [11, 12]]);
    gates.get(11)!.resolve();
    assert.deepEqual(await Promise.all(b), [11, 12]);
  });

  it('refuses new work at once while the oldest waiting item has waited more than half of maxWaitMs', async () => {
    let now = 0;
    const gate = deferred();
    const batcher = new SendBatcher<number, number>(
      async (inputs) => {
        await gate.promise;
        return inputs;
      },
      { lanes: 1, maxBatch: 10, maxQueue: 1000, maxWaitMs: 1000, overloaded, now: () => now },
    );
    const running = batcher.submit(1);
    const early = batcher.submit(2);
    now = 400; // the oldest waiting (2) has waited 400 ms: still accepted
    const second = batcher.submit(3);
    assert.equal(batcher.refusing, false);
    now = 501; // now 501 ms: refused at once, without waiting
    assert.equal(batcher.refusing, true);
    await assert.rejects(batcher.submit(4), /overloaded/);
    gate.resolve();
    assert.deepEqual(await Promise.all([running, early, second]), [1, 2, 3]);
    // The queue is empty again: new work is accepted.
    assert.equal(await batcher.submit(5), 5);
  });
});
