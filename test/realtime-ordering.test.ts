// Ordering (CONTRACT §3, §4, §7): a burst from several sockets on two instances into one group reaches
// every socket on both instances as seq 1..N, once each, in order; and a receiver that drops mid-burst
// recovers exactly the rest with GET /conversations/:id/messages?after=<last seq seen> (paged),
// de-duplicating by seq between what it got live and what it fetched, as the README tells clients to.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { connectSocket, emitAck, http, testWorld, token, type TestApp } from './support/app';
import { until } from './support/processes';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('message ordering across two instances (Redis)', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let A: TestApp;
  let B: TestApp;
  let sockets: Socket[] = [];

  before(async () => {
    world = await testWorld({ redis: true });
    [A, B] = await Promise.all([world.start(), world.start()]);
  });
  after(() => world.close());
  afterEach(() => {
    for (const s of sockets) s.close();
    sockets = [];
  });

  async function connect(app: TestApp, userId: string): Promise<Socket> {
    const s = await connectSocket(app.url, await token(userId));
    sockets.push(s);
    return s;
  }
  /** Records the seqs of `message:new` for one conversation, as they arrive. */
  function record(s: Socket, conversationId: string): number[] {
    const seqs: number[] = [];
    s.on('message:new', (m: any) => {
      if (m.conversationId === conversationId) seqs.push(m.seq);
    });
    return seqs;
  }
  async function group(owner: string, others: string[]): Promise<string> {
    const res = await http(A.url, 'POST', '/conversations', {
      token: await token(owner),
      body: { type: 'group', title: 'burst', participantIds: others },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id;
  }
  const send = (s: Socket, conversationId: string, text: string) =>
    emitAck(s, 'message:send', { conversationId, clientMessageId: randomUUID(), content: { text } }, 20_000);

  it('a burst of 200 from four sockets on two instances reaches every socket as 1..200, once each, in order', async () => {
    const tag = randomBytes(3).toString('hex');
    const [u1, u2, u3, u4, u5, u6] = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].map((n) => `${n}.${tag}`);
    const conv = await group(u1!, [u2!, u3!, u4!, u5!, u6!]);
    // Senders on both instances (u1 on both); pure receivers on both instances.
    const senders = await Promise.all([connect(A, u1!), connect(B, u2!), connect(A, u3!), connect(B, u1!)]);
    const receivers = await Promise.all([
      connect(A, u5!),
      connect(B, u5!),
      connect(A, u6!),
      connect(B, u6!),
      connect(B, u4!),
    ]);
    const views = [...senders, ...receivers].map((s) => record(s, conv));

    const N = 200;
    // Each sender keeps 5 sends in flight (20 at once in all, on two instances): a burst that interleaves
    // senders and instances, without queueing hundreds of transactions behind a 10-connection pool.
    let next = 0;
    const acks: any[] = [];
    await Promise.all(
      senders.flatMap((s) =>
        range(1, 5).map(async () => {
          for (let i = ++next; i <= N; i = ++next) acks.push(await send(s, conv, `m${i}`));
        }),
      ),
    );
    const failed = acks.find((x) => !x.ok);
    const errors = [...A.logs.lines, ...B.logs.lines].filter((l) => Number(l.level) >= 50);
    assert.equal(failed, undefined, `${JSON.stringify(failed)} ${JSON.stringify(errors.slice(0, 3))}`);
    assert.deepEqual(
      acks.map((x) => x.data.seq).sort((x, y) => x - y),
      range(1, N),
      'the server gave out 1..N',
    );

    await until(() => views.every((v) => v.length >= N), 'every socket to receive all messages');
    views.forEach((v, i) => assert.deepEqual(v, range(1, N), `socket ${i}: exactly 1..${N}, in order`));
  });

  it('a receiver that drops mid-burst and reconnects on the other instance recovers exactly the rest via ?after=', async () => {
    const tag = randomBytes(3).toString('hex');
    const [s1, s2, r] = ['s1', 's2', 'r'].map((n) => `${n}.${tag}`);
    const conv = await group(s1!, [s2!, r!]);
    const senders = await Promise.all([connect(A, s1!), connect(B, s2!), connect(A, s1!)]);
    const N = 100;
    let sent = 0;
    /** Three lanes of one-at-a-time sends (so the burst takes a while), up to `upTo` messages in all. */
    const burst = (upTo: number) =>
      Promise.all(
        senders.map(async (s) => {
          while (sent < upTo) {
            const i = ++sent;
            const ack = await send(s, conv, `m${i}`);
            assert.equal(ack.ok, true, JSON.stringify(ack));
          }
        }),
      );

    // The receiver's first connection (on B) drops after 15 messages, while the burst goes on.
    const first = await connect(B, r!);
    const live1: number[] = [];
    first.on('message:new', (m: any) => {
      if (m.conversationId !== conv || !first.connected) return;
      live1.push(m.seq);
      if (live1.length === 15) first.disconnect();
    });
    await burst(45);
    await until(() => !first.connected, 'the receiver to drop');

    // Reconnect (on A) while the burst goes on, then catch up from the last seq seen, page by page.
    const lastSeen = live1[live1.length - 1]!;
    const second = connect(A, r!).then((s) => {
      const live2 = record(s, conv);
      return { s, live2 };
    });
    const middle = burst(70);
    const { live2 } = await second;
    const fetched: number[] = [];
    let pages = 0;
    for (let cursor: string | null = String(lastSeen); cursor !== null; pages++) {
      const res = await http(B.url, 'GET', `/conversations/${conv}/messages?after=${cursor}&limit=10`, {
        token: await token(r!),
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const seqs: number[] = res.body.items.map((m: any) => m.seq);
      assert.deepEqual(
        seqs,
        range(Number(cursor) + 1, Number(cursor) + seqs.length),
        'each page is the next seqs, oldest first',
      );
      fetched.push(...seqs);
      cursor = res.body.nextCursor;
    }
    await middle;
    await burst(N);
    await until(() => live2.includes(N), 'the reconnected receiver to get the last message live');

    // What it saw: a clean prefix before the drop, a clean run after the reconnect ending at N.
    assert.deepEqual(live1, range(1, lastSeen), 'before the drop: 1..k, in order');
    assert.ok(live2.length > 0);
    assert.deepEqual(live2, range(live2[0]!, N), 'after the reconnect: a contiguous run up to N, in order');
    assert.ok(pages >= 2, `paged (${pages} pages)`);
    // Fetched and live overlap at most where the catch-up raced live delivery; de-duplicated by seq, the
    // client has every message exactly once.
    const view = new Map<number, true>();
    for (const seq of [...live1, ...fetched, ...live2]) view.set(seq, true);
    assert.deepEqual(
      [...view.keys()].sort((x, y) => x - y),
      range(1, N),
      'no gap, no duplicate',
    );
    assert.equal(fetched[0], lastSeen + 1, 'the catch-up starts right after the last seq seen');
    assert.ok(
      fetched[fetched.length - 1]! + 1 >= live2[0]!,
      `no hole between the catch-up (…${fetched[fetched.length - 1]}) and live (${live2[0]}…)`,
    );
  });
});
