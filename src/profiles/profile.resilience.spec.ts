import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CircuitState } from 'cockatiel';
import { ResilientProfileSource, TaskCancelledError, callBudgetMs } from './profile.resilience';
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

/** A profile service that never answers (a black-holed host): each call ends only when aborted. */
const deadService = {
  calls: 0,
  fetchBatch(_ids: string[], signal?: AbortSignal): Promise<ProfileRecord[]> {
    this.calls++;
    return new Promise((_resolve, reject) =>
      signal?.addEventListener('abort', () => reject(signal.reason ?? new Error('aborted')), { once: true }),
    );
  },
};

describe('ResilientProfileSource', () => {
  it('a call gives up when its budget is spent, its wait in the queue included', async () => {
    const inner = slowSource(150);
    // One call at a time: ten calls queue behind each other, the last answered after 1.5 s without a
    // budget (each call alone is well within its 400 ms timeout).
    const source = new ResilientProfileSource(inner, {
      timeoutMs: 400,
      attempts: 1,
      concurrency: 1,
      queue: 20,
    });
    assert.equal(callBudgetMs({ timeoutMs: 400, attempts: 1 }), 500);
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
      if (o.status === 'rejected') assert.ok(o.reason instanceof TaskCancelledError, String(o.reason));
    // The service never failed: the budget's cuts are not held against it.
    assert.equal(source.breaker.state, CircuitState.Closed);
    // Nobody waited for the queue ahead of them: 500 ms each, with a wide margin for a slow machine.
    assert.ok(
      Math.max(...settledAfter) < 1000,
      `settled after ${settledAfter.map(Math.round).join(', ')} ms`,
    );
  });

  it('the budget covers every attempt and the pauses between them', () => {
    assert.equal(callBudgetMs({ timeoutMs: 1000 }), 2 * 1000 + 500 + 100);
    assert.equal(callBudgetMs({ timeoutMs: 1000, attempts: 3 }), 3 * 1000 + 2 * 500 + 100);
  });

  it('calls cut by their budget while the service answers them do not open the breaker', async () => {
    const SERVICE_MS = 750;
    const durations: number[] = [];
    let onCall: (() => void) | undefined;
    const inner = {
      async fetchBatch(ids: string[], signal?: AbortSignal): Promise<ProfileRecord[]> {
        const started = performance.now();
        onCall?.();
        try {
          await sleep(SERVICE_MS, undefined, { signal });
        } finally {
          durations.push(performance.now() - started);
        }
        return ids.map((id) => ({ id, kind: 'user', displayName: id, avatarUrl: null }));
      },
    };
    // Budget = 1 × 1000 ms + 100 ms. One call slot.
    const source = new ResilientProfileSource(inner, {
      timeoutMs: 1000,
      attempts: 1,
      concurrency: 1,
      queue: 10,
      failuresToOpen: 3,
      halfOpenAfterMs: 60_000,
    });

    // A: runs at once, answered at 750 ms. Then each next call is made when the one before starts
    // (a list opened while another's profiles are being fetched): each waits 450–700 ms in the
    // queue, has 400–650 ms of budget left for a 750 ms answer, and is cut by the budget while the
    // service is answering it (well within its own 1000 ms timeout).
    const calls: Promise<unknown>[] = [];
    let made = 0;
    const next = () => {
      if (made >= 4) return;
      made++;
      calls.push(source.fetchBatch([`b${made}`]).catch((e: unknown) => e));
    };
    calls.push(source.fetchBatch(['a']));
    await sleep(100);
    onCall = next;
    next();
    await until(() => calls.length === 5);
    const outcomes = await Promise.all(calls);
    onCall = undefined;
    assert.ok(!(outcomes[0] instanceof Error), 'the first call is answered');
    for (const o of outcomes.slice(1)) assert.ok(o instanceof TaskCancelledError, String(o));
    // The service never took longer than an attempt may take, and never failed by itself.
    assert.ok(
      durations.every((d) => d < 1000),
      `service times ${durations.map(Math.round).join(', ')}`,
    );

    // The queue is empty now and the service is healthy: the next call should reach it.
    assert.equal(
      source.breaker.state,
      CircuitState.Closed,
      'the breaker opened on the budget’s own cuts, though the service never failed',
    );
    const after = await source.fetchBatch(['later']).catch((e: unknown) => e);
    assert.ok(!(after instanceof Error), `a call on an idle, healthy service failed: ${String(after)}`);
  });

  it('with one attempt, a service that never answers opens the breaker after failuresToOpen calls', async () => {
    const source = new ResilientProfileSource(deadService, {
      timeoutMs: 50,
      attempts: 1, // ResilienceOptions: "1 = no retry"
      concurrency: 1,
      queue: 10,
      failuresToOpen: 3,
      halfOpenAfterMs: 60_000,
    });
    const errors: string[] = [];
    // One at a time: no queue wait at all, each call gets its whole budget for its one attempt.
    for (let i = 0; i < 6; i++) await source.fetchBatch([`u${i}`]).catch((e: Error) => errors.push(e.name));
    assert.equal(errors.length, 6);
    assert.equal(
      source.breaker.state,
      CircuitState.Open,
      `6 consecutive timeouts of a dead service, breaker still ${CircuitState[source.breaker.state]}; calls made: ${deadService.calls}; errors: ${errors.join(', ')}`,
    );
  });
});

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}
