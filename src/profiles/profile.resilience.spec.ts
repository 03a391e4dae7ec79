import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BrokenCircuitError,
  ResilientProfileSource,
  TaskCancelledError,
  callBudgetMs,
} from './profile.resilience';
import type { ProfileRecord } from './profile.types';

/** A profile service (the external one, the only thing faked) that answers each call after `ms`. */
function slowSource(ms: number) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    async fetchBatch(ids: string[], signal?: AbortSignal): Promise<ProfileRecord[]> {
      calls++;
      await sleep(ms, undefined, { signal });
      return ids.map((id) => ({ id, kind: 'user', displayName: id, avatarUrl: null }));
    },
  };
}

describe('ResilientProfileSource', () => {
  it('a call gives up when its budget is spent, its wait in the queue included', async () => {
    const inner = slowSource(150);
    // One call at a time: ten calls queue behind each other, the last answered after 1.5 s without a
    // budget (each call alone is well within its 200 ms timeout).
    const source = new ResilientProfileSource(inner, {
      timeoutMs: 200,
      attempts: 1,
      concurrency: 1,
      queue: 20,
    });
    assert.equal(callBudgetMs({ timeoutMs: 200, attempts: 1 }), 200);
    const started = performance.now();
    const settledAfter: number[] = [];
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        source.fetchBatch([`u${i}`]).finally(() => settledAfter.push(performance.now() - started)),
      ),
    );

    const answered = outcomes.filter((o) => o.status === 'fulfilled').length;
    assert.ok(answered >= 1, 'the first call fits in its budget');
    assert.ok(answered < 10, 'the calls queued longest ran out of budget');
    for (const o of outcomes)
      if (o.status === 'rejected')
        // Out of budget; or refused by the breaker, which the cut calls opened.
        assert.ok(
          o.reason instanceof TaskCancelledError || o.reason instanceof BrokenCircuitError,
          String(o.reason),
        );
    // Nobody waited for the queue ahead of them: 200 ms each, with a wide margin for a slow machine.
    assert.ok(
      Math.max(...settledAfter) < 1000,
      `settled after ${settledAfter.map(Math.round).join(', ')} ms`,
    );
  });

  it('the budget covers every attempt and the pauses between them', () => {
    assert.equal(callBudgetMs({ timeoutMs: 1000 }), 2 * 1000 + 500);
    assert.equal(callBudgetMs({ timeoutMs: 1000, attempts: 3 }), 3 * 1000 + 2 * 500);
  });
});
