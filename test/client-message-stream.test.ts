// The SDK's per-conversation seq tracking (client/src/message-stream.ts) against a scripted server:
// exactly once and in order whatever order the socket and the after= listings bring messages in.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageStream, type Message } from '../client/src';
import { until } from './support/processes';

const C = 'c1';
const msg = (seq: number, conversationId = C): Message => ({
  id: `m${seq}`,
  conversationId,
  seq,
  senderId: 'u1',
  clientMessageId: `k${seq}`,
  type: 'text',
  content: { text: `t${seq}` },
  createdAt: new Date(0).toISOString(),
  editedAt: null,
  deletedAt: null,
});

/** A fake `after=` endpoint over `stored` (seqs), paged by `pageSize`, recording each call. */
function harness(stored: () => number[], opts: { pageSize?: number; fail?: () => boolean } = {}) {
  const delivered: number[] = [];
  const calls: number[] = [];
  const errors: unknown[] = [];
  const stream = new MessageStream({
    retryMs: 5,
    deliver: (m) => delivered.push(m.seq),
    onError: (err) => errors.push(err),
    fetchAfter: async (_id, after) => {
      calls.push(after);
      await new Promise((r) => setTimeout(r, 1));
      if (opts.fail?.()) throw new Error('503');
      const size = opts.pageSize ?? 100;
      const rest = stored().filter((s) => s > after);
      const items = rest.slice(0, size).map((s) => msg(s));
      return { items, nextCursor: rest.length > size ? String(items.at(-1)!.seq) : null };
    },
  });
  return { stream, delivered, calls, errors };
}

const settle = (ms = 60) => new Promise((r) => setTimeout(r, ms));

describe('MessageStream', () => {
  it('a patient message (an ack) that opens a gap waits: filled by the socket, nothing is fetched; still open, it is caught up', async () => {
    const h = harness(() => [1, 2, 3, 4, 5]);
    h.stream.track(C, 1);
    h.stream.receive(msg(3), { patient: true });
    assert.deepEqual(h.delivered, []);
    h.stream.receive(msg(2));
    assert.deepEqual(h.delivered, [2, 3]);
    await settle();
    assert.deepEqual(h.calls, [], 'the gap closed by itself: no fetch');

    h.stream.receive(msg(5), { patient: true });
    assert.deepEqual(h.calls, [], 'not at once');
    await until(() => h.delivered.length === 4, 'the catch-up');
    assert.deepEqual(h.delivered, [2, 3, 4, 5]);
    assert.deepEqual(h.calls, [3]);
  });

  it('delivers in-order socket messages at once, without fetching, and drops repeats', async () => {
    const h = harness(() => []);
    h.stream.track(C, 0);
    for (const s of [1, 2, 2, 3, 1, 4]) h.stream.receive(msg(s));
    assert.deepEqual(h.delivered, [1, 2, 3, 4]);
    await settle();
    assert.deepEqual(h.calls, []);
  });

  it('holds a message that jumps ahead, fetches the gap with after=, then delivers in order', async () => {
    const h = harness(() => [1, 2, 3, 4, 5, 6]);
    h.stream.track(C, 1);
    h.stream.receive(msg(4));
    h.stream.receive(msg(6));
    assert.deepEqual(h.delivered, [], 'nothing before the gap is filled');
    await h.stream.catchUp(C);
    assert.deepEqual(h.delivered, [2, 3, 4, 5, 6]);
    assert.equal(h.calls[0], 1);
    h.stream.receive(msg(5));
    h.stream.receive(msg(7));
    assert.deepEqual(h.delivered, [2, 3, 4, 5, 6, 7]);
  });

  it('pages through a long catch-up (nextCursor) and joins concurrent requests into one', async () => {
    const h = harness(() => Array.from({ length: 250 }, (_, i) => i + 1), { pageSize: 100 });
    h.stream.track(C, 0);
    await Promise.all([h.stream.catchUp(C), h.stream.catchUp(C), h.stream.catchUp(C)]);
    assert.deepEqual(
      h.delivered,
      Array.from({ length: 250 }, (_, i) => i + 1),
    );
    // One catch-up of three pages, then once more for the calls that came while it ran.
    assert.deepEqual(h.calls, [0, 100, 200, 250]);
  });

  it('a seq the listing skips no longer exists (retention): what follows is delivered', async () => {
    const h = harness(() => [1, 2, 5, 6]);
    h.stream.track(C, 1);
    h.stream.receive(msg(6));
    await h.stream.catchUp(C);
    assert.deepEqual(h.delivered, [2, 5, 6]);
  });

  it('a listing that does not reach a held message yet (a lagging replica) is tried again', async () => {
    let stored = [1, 2, 3];
    const h = harness(() => stored);
    h.stream.track(C, 1);
    h.stream.receive(msg(5));
    await until(() => h.calls.length >= 1 && h.delivered.length >= 2, 'the first catch-up');
    assert.deepEqual(h.delivered, [2, 3], 'what the listing had');
    stored = [1, 2, 3, 4, 5];
    await until(() => h.delivered.length >= 4, 'the retry');
    assert.deepEqual(h.delivered, [2, 3, 4, 5]);
    assert.ok(h.calls.length >= 2);
  });

  it('a failed catch-up is reported and retried until it works', async () => {
    let failures = 2;
    const h = harness(() => [1, 2, 3], { fail: () => failures-- > 0 });
    h.stream.track(C, 1);
    h.stream.receive(msg(3));
    await until(() => h.delivered.length >= 2, 'the catch-up to succeed');
    assert.deepEqual(h.delivered, [2, 3]);
    assert.equal(h.errors.length, 2);
  });

  it('track() sets where delivery starts and never moves it back; conversations are independent', async () => {
    const h = harness(() => []);
    h.stream.track(C, 10);
    h.stream.track(C, 4);
    assert.equal(h.stream.lastSeq(C), 10);
    h.stream.receive(msg(9));
    h.stream.receive(msg(11));
    h.stream.receive(msg(1, 'c2')); // an unknown conversation starts from 0
    assert.deepEqual(h.delivered, [11, 1]);
    assert.equal(h.stream.lastSeq('c2'), 1);
  });

  it('close() stops deliveries and retries', async () => {
    const h = harness(() => [1, 2, 3], { fail: () => true });
    h.stream.track(C, 1);
    h.stream.receive(msg(3));
    h.stream.close();
    const calls = h.calls.length;
    await settle(80);
    h.stream.receive(msg(2));
    assert.deepEqual(h.delivered, []);
    assert.ok(h.calls.length <= calls + 1, 'no retry loop after close');
  });
});
