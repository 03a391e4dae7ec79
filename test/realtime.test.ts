// Every real-time event of CONTRACT §4 on one instance (in-process state), with socket.io-client
// against the real app: acks, fan-out to every device, idempotency, deletes, participant changes,
// read sync, receipts, typing (with the auto-stop) and events sent without an ack callback.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { ConversationService } from '../src/conversations/conversation.service';
import { connectSocket, emitAck, http, testWorld, token, type TestApp, users } from './support/app';
import { sleep, until } from './support/processes';

type Seen = { event: string; payload: any };

/** A connected device of a user that records every event it receives. */
interface Device {
  userId: string;
  socket: Socket;
  seen: Seen[];
  disconnects: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const got = (d: Device, event: string, filter: (p: any) => boolean = () => true) =>
  d.seen.filter((s) => s.event === event && filter(s.payload)).map((s) => s.payload);

/** Waits until the device has received a matching event (already received ones count) and returns it. */
async function waitEvent(
  d: Device,
  event: string,
  filter: (p: any) => boolean = () => true,
  timeoutMs = 10_000,
) {
  await until(() => got(d, event, filter).length > 0, `${event} on ${d.userId}`, timeoutMs);
  return got(d, event, filter)[0];
}

describe('realtime events (one instance)', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  const tokens = new Map<string, string>();
  let devices: Device[] = [];

  before(async () => {
    world = await testWorld();
    app = await world.start({ TYPING_TTL_S: '1' });
  });
  after(() => world.close());
  afterEach(() => {
    const dropped = devices.filter((d) => d.disconnects.length);
    for (const d of devices) d.socket.close();
    devices = [];
    assert.deepEqual(
      dropped.map((d) => `${d.userId}: ${d.disconnects.join(',')}`),
      [],
      'no connection was dropped during the test',
    );
  });

  /** Fresh user ids per test, so that no test sees another's events. */
  async function tokenFor(userId: string): Promise<string> {
    if (!tokens.has(userId)) tokens.set(userId, await token(userId));
    return tokens.get(userId)!;
  }
  async function device(userId: string, auth: Record<string, unknown> = {}): Promise<Device> {
    const socket = await connectSocket(app.url, await tokenFor(userId), {
      auth: { token: await tokenFor(userId), ...auth },
    });
    const d: Device = { userId, socket, seen: [], disconnects: [] };
    socket.onAny((event: string, payload: unknown) => d.seen.push({ event, payload }));
    socket.on('disconnect', (reason) => d.disconnects.push(reason));
    devices.push(d);
    return d;
  }
  async function rest(userId: string, method: string, path: string, body?: unknown) {
    return http(app.url, method, path, { token: await tokenFor(userId), body });
  }
  async function direct(a: string, b: string): Promise<string> {
    const res = await rest(a, 'POST', '/conversations', { type: 'direct', participantIds: [b] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id;
  }
  const send = (d: Device, conversationId: string, text: string, clientMessageId: string = randomUUID()) =>
    emitAck(d.socket, 'message:send', { conversationId, clientMessageId, content: { text } });

  it('message:send acks {ok:true,data:Message}; message:new reaches every device of every participant, the sender’s included', async () => {
    const [alice, bob, carol, dave] = users('alice', 'bob', 'carol', 'dave');
    const conv = await direct(alice!, bob!);
    const other = await direct(carol!, dave!);
    const [a1, a2, b1, b2, c1] = await Promise.all([
      device(alice!),
      device(alice!),
      device(bob!),
      device(bob!),
      device(carol!),
    ]);
    const clientMessageId = randomUUID();
    const ack = await send(a1, conv, '  hello bob  ', clientMessageId);
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.deepEqual(Object.keys(ack).sort(), ['data', 'ok']);
    const m = ack.data;
    assert.deepEqual(Object.keys(m).sort(), [
      'clientMessageId',
      'content',
      'conversationId',
      'createdAt',
      'deletedAt',
      'editedAt',
      'id',
      'senderId',
      'seq',
      'type',
    ]);
    assert.match(m.id, UUID);
    assert.equal(m.conversationId, conv);
    assert.equal(m.seq, 1);
    assert.equal(m.senderId, alice);
    assert.equal(m.clientMessageId, clientMessageId);
    assert.equal(m.type, 'text');
    assert.deepEqual(m.content, { text: 'hello bob' });
    assert.match(m.createdAt, ISO);
    assert.equal(m.editedAt, null);
    assert.equal(m.deletedAt, null);

    for (const d of [a1, a2, b1, b2]) assert.deepEqual(await waitEvent(d, 'message:new'), m, d.userId);
    // A barrier: carol's own conversation. Had she been sent alice's message, it would have come first.
    const c = await send(c1, other, 'hi dave');
    await waitEvent(c1, 'message:new', (p) => p.id === c.data.id);
    assert.deepEqual(
      got(c1, 'message:new').map((p) => p.id),
      [c.data.id],
      'a non-participant gets nothing',
    );
    const second = await send(b2, conv, 'hi alice');
    assert.equal(second.data.seq, 2);
    for (const d of [a1, a2, b1, b2]) {
      await waitEvent(d, 'message:new', (p) => p.seq === 2);
      assert.deepEqual(
        got(d, 'message:new').map((p) => p.seq),
        [1, 2],
        `${d.userId}: each message exactly once, in order`,
      );
    }
  });

  it('messages one socket emits back to back (without waiting for acks) get seqs in the order emitted', async () => {
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(alice!, bob!);
    const a = await device(alice!);
    // Texts of very different sizes, so that validating them takes different times.
    const texts = Array.from(
      { length: 40 },
      (_, i) => `${i}:` + (i % 3 === 0 ? '🙂'.repeat(3000) : 'x'.repeat(i)),
    );
    const acks = await Promise.all(texts.map((t) => send(a, conv, t)));
    for (const ack of acks) assert.equal(ack.ok, true, JSON.stringify(ack).slice(0, 200));
    assert.deepEqual(
      acks.map((x) => x.data.seq),
      texts.map((_, i) => i + 1),
    );
  });

  it('with auth.echo false, a connection gets its own acked messages in the ack only; its other devices get them, and it gets what it sends without an ack', async () => {
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(alice!, bob!);
    const [quiet, a2, b1] = await Promise.all([
      device(alice!, { echo: false }),
      device(alice!),
      device(bob!),
    ]);
    const first = await send(quiet, conv, 'acked');
    assert.equal(first.ok, true, JSON.stringify(first));
    for (const d of [a2, b1]) assert.deepEqual(await waitEvent(d, 'message:new'), first.data, d.userId);
    quiet.socket.emit('message:send', {
      conversationId: conv,
      clientMessageId: randomUUID(),
      content: { text: 'no ack' },
    });
    const third = await send(b1, conv, 'from bob');
    assert.equal(third.data.seq, 3);
    // Seq 3 comes after seq 1 or 2 would have on each connection: the lists are final.
    for (const d of [quiet, a2, b1]) await waitEvent(d, 'message:new', (p) => p.seq === 3);
    const seqs = (d: Device) => got(d, 'message:new').map((p) => p.seq);
    assert.deepEqual(seqs(quiet), [2, 3], 'its own acked message only in the ack');
    assert.deepEqual(seqs(a2), [1, 2, 3], 'the same user’s other connection gets everything');
    assert.deepEqual(seqs(b1), [1, 2, 3], 'a connection with the default echo gets its own too');
  });

  it('a handshake with a non-boolean auth.echo is refused with VALIDATION_FAILED', async () => {
    const [alice] = users('alice');
    await assert.rejects(
      connectSocket(app.url, undefined, { auth: { token: await tokenFor(alice!), echo: 'no' } }),
      (err: Error & { data?: { code?: string } }) => err.data?.code === 'VALIDATION_FAILED',
    );
  });

  it('message:send is idempotent over sockets: a retry (from any device, even racing) gets the original, and each device one message:new', async () => {
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(alice!, bob!);
    const [a1, a2, b1, b2] = await Promise.all([device(alice!), device(alice!), device(bob!), device(bob!)]);
    const cmid = randomUUID();
    const first = await send(a1, conv, 'once', cmid);
    assert.equal(first.ok, true, JSON.stringify(first));
    const retries = await Promise.all([send(a1, conv, 'once', cmid), send(a2, conv, 'once', cmid)]);
    for (const r of retries) assert.deepEqual(r, first);
    // Racing duplicates of a new id meet in one message too.
    const racing = randomUUID();
    const raced = await Promise.all([send(a1, conv, 'race', racing), send(a2, conv, 'race', racing)]);
    assert.equal(raced[0].ok, true, JSON.stringify(raced[0]));
    assert.deepEqual(raced[1], raced[0]);
    assert.equal(raced[0].data.seq, 2, 'a duplicate takes no seq');

    const barrier = await send(a2, conv, 'after');
    assert.equal(barrier.data.seq, 3, 'no seq was burnt by the duplicates');
    for (const d of [a1, a2, b1, b2]) {
      await waitEvent(d, 'message:new', (p) => p.seq === 3);
      assert.deepEqual(
        got(d, 'message:new').map((p) => p.clientMessageId),
        [cmid, racing, barrier.data.clientMessageId],
        `${d.userId}: one message:new per message`,
      );
    }
    const history = await rest(bob!, 'GET', `/conversations/${conv}/messages?after=0`);
    assert.deepEqual(
      history.body.items.map((m: any) => m.seq),
      [1, 2, 3],
    );
  });

  it('message:deleted reaches every device of every participant after a REST DELETE', async () => {
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(alice!, bob!);
    const [a1, a2, b1, b2] = await Promise.all([device(alice!), device(alice!), device(bob!), device(bob!)]);
    await send(a1, conv, 'keep');
    const doomed = await send(a1, conv, 'delete me');
    const res = await rest(alice!, 'DELETE', `/conversations/${conv}/messages/${doomed.data.id}`);
    assert.equal(res.status, 204, JSON.stringify(res.body));
    for (const d of [a1, a2, b1, b2])
      assert.deepEqual(await waitEvent(d, 'message:deleted'), {
        conversationId: conv,
        messageId: doomed.data.id,
        seq: 2,
      });
    // Deleting it again changes nothing and announces nothing; the next event is the barrier.
    assert.equal(
      (await rest(alice!, 'DELETE', `/conversations/${conv}/messages/${doomed.data.id}`)).status,
      204,
    );
    await send(a1, conv, 'barrier');
    for (const d of [a1, a2, b1, b2]) {
      await waitEvent(d, 'message:new', (p) => p.seq === 3);
      assert.equal(got(d, 'message:deleted').length, 1, d.userId);
    }
    // Bob had it unread: his badge went down on both devices, with the delete; alice's never moved.
    for (const d of [b1, b2])
      assert.deepEqual(got(d, 'unread:updated'), [{ conversationId: conv, unreadCount: 1, lastReadSeq: 0 }]);
    for (const d of [a1, a2]) assert.deepEqual(got(d, 'unread:updated'), [], 'the sender had nothing unread');
    assert.deepEqual(got(a1, 'receipt:read'), [], 'nobody read anything');
    assert.equal((await rest(bob!, 'GET', `/conversations/${conv}`)).body.unreadCount, 2);

    // A message already read: deleting it changes nobody's count and announces none.
    await emitAck(b1.socket, 'conversation:read', { conversationId: conv, seq: 3 });
    await waitEvent(b2, 'unread:updated', (p) => p.lastReadSeq === 3);
    const keep = got(a1, 'message:new', (p) => p.seq === 1)[0];
    assert.equal((await rest(alice!, 'DELETE', `/conversations/${conv}/messages/${keep.id}`)).status, 204);
    await send(a1, conv, 'after'); // the barrier: emitted after anything the delete announced
    await waitEvent(b1, 'message:new', (p) => p.seq === 4);
    assert.equal(got(b1, 'message:deleted').length, 2);
    assert.equal(
      got(b1, 'unread:updated').length,
      2,
      'the delete of a read message announced no badge change',
    );
  });

  it('conversation:updated on group create, add and remove; the removed user gets it too', async () => {
    const [alice, bob, carol, dave, erin] = users('alice', 'bob', 'carol', 'dave', 'erin');
    const [a1, b1, c1, d1, e1] = await Promise.all([
      device(alice!),
      device(bob!),
      device(carol!),
      device(dave!),
      device(erin!),
    ]);
    const created = await rest(alice!, 'POST', '/conversations', {
      type: 'group',
      title: 'Trip',
      participantIds: [bob, carol],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    const members = (p: any) => p.participants.map((x: any) => x.userId).sort();
    for (const d of [a1, b1, c1]) {
      const c = await waitEvent(d, 'conversation:updated', (p) => p.id === id);
      assert.equal(c.type, 'group');
      assert.equal(c.title, 'Trip');
      assert.deepEqual(members(c), [alice, bob, carol].sort());
      assert.equal(c.unreadCount, 0);
      assert.equal(c.lastSeq, 0);
    }

    const added = await rest(alice!, 'POST', `/conversations/${id}/participants`, { userId: dave });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    const withDave = [alice, bob, carol, dave].sort();
    for (const d of [a1, b1, c1, d1])
      await waitEvent(d, 'conversation:updated', (p) => p.id === id && members(p).length === 4);
    assert.deepEqual(members(got(d1, 'conversation:updated')[0]), withDave, 'the new member gets it');

    const removed = await rest(alice!, 'DELETE', `/conversations/${id}/participants/${carol}`);
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    const withoutCarol = [alice, bob, dave].sort();
    for (const d of [a1, b1, c1, d1]) {
      const c = await waitEvent(
        d,
        'conversation:updated',
        (p) => p.id === id && !members(p).includes(carol) && members(p).includes(dave),
      );
      assert.deepEqual(members(c), withoutCarol, d.userId);
    }
    assert.equal(got(c1, 'conversation:updated', (p) => p.id === id).length, 3, 'carol: create, add, remove');

    // After leaving, carol gets none of the group's messages; erin, never in it, got nothing at all.
    const sent = await send(a1, id, 'without carol');
    for (const d of [a1, b1, d1]) await waitEvent(d, 'message:new', (p) => p.id === sent.data.id);
    const barrier = await direct(alice!, carol!);
    await waitEvent(c1, 'conversation:updated', (p) => p.id === barrier);
    assert.equal(got(c1, 'message:new').length, 0);
    const erinBarrier = await direct(alice!, erin!);
    await waitEvent(e1, 'conversation:updated', (p) => p.id === erinBarrier);
    assert.deepEqual(
      e1.seen.map((s) => s.event),
      ['conversation:updated'],
      'a user outside the group gets none of its events',
    );
  });

  it('conversation:updated of one conversation arrive in the order of the changes, even when the fan-out of the first reads slowly', async () => {
    const [alice, bob, carol, dave] = users('alice', 'bob', 'carol', 'dave');
    const b1 = await device(bob!);
    // The fan-out of the creation reads bob's view, then is held up (a slow query on a loaded
    // machine) while the next change of the conversation is made and fanned out.
    const conversations = app.app.get(ConversationService);
    const getFor = conversations.getFor.bind(conversations);
    let slowed = false;
    conversations.getFor = async (userId, conversationId) => {
      const view = await getFor(userId, conversationId);
      if (userId === bob && !slowed) {
        slowed = true;
        await sleep(500);
      }
      return view;
    };
    try {
      const created = await rest(alice!, 'POST', '/conversations', {
        type: 'group',
        title: 'Order',
        participantIds: [bob, carol],
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id;
      const added = await rest(alice!, 'POST', `/conversations/${id}/participants`, { userId: dave });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      await until(() => got(b1, 'conversation:updated', (p) => p.id === id).length === 2, 'both updates');
      assert.ok(slowed);
      // The last one a client gets is what it keeps: the conversation as it is now.
      assert.deepEqual(
        got(b1, 'conversation:updated', (p) => p.id === id).map((p) => p.participants.length),
        [3, 4],
      );
    } finally {
      Reflect.deleteProperty(conversations, 'getFor');
    }
  });

  it('a read on one device clears the badge on the user’s other devices (unread:updated) and sends receipt:read to the others', async () => {
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(alice!, bob!);
    const [a1, a2, b1, b2] = await Promise.all([device(alice!), device(alice!), device(bob!), device(bob!)]);
    for (const text of ['one', 'two', 'three']) assert.equal((await send(a1, conv, text)).ok, true);
    await until(() => got(b2, 'message:new').length === 3, 'bob to get three messages');

    const read = await emitAck(b1.socket, 'conversation:read', { conversationId: conv, seq: 2 });
    assert.deepEqual(read, { ok: true, data: { lastReadSeq: 2, unreadCount: 1 } });
    for (const d of [b1, b2])
      assert.deepEqual(await waitEvent(d, 'unread:updated'), {
        conversationId: conv,
        unreadCount: 1,
        lastReadSeq: 2,
      });
    for (const d of [a1, a2])
      assert.deepEqual(await waitEvent(d, 'receipt:read'), { conversationId: conv, userId: bob, seq: 2 });

    // Device 2 reads the rest: device 1's badge goes to 0.
    const rest2 = await emitAck(b2.socket, 'conversation:read', { conversationId: conv, seq: 3 });
    assert.deepEqual(rest2, { ok: true, data: { lastReadSeq: 3, unreadCount: 0 } });
    assert.deepEqual(await waitEvent(b1, 'unread:updated', (p) => p.lastReadSeq === 3), {
      conversationId: conv,
      unreadCount: 0,
      lastReadSeq: 3,
    });
    assert.equal((await rest(bob!, 'GET', `/conversations/${conv}`)).body.unreadCount, 0);
    await waitEvent(a1, 'receipt:read', (p) => p.seq === 3);

    // A read that does not move the pointer (backwards) sends no receipt. Barrier: bob's typing, same path.
    const back = await emitAck(b1.socket, 'conversation:read', { conversationId: conv, seq: 1 });
    assert.deepEqual(back, { ok: true, data: { lastReadSeq: 3, unreadCount: 0 } });
    await emitAck(b1.socket, 'typing:start', { conversationId: conv });
    await waitEvent(a1, 'typing', (p) => p.userId === bob);
    assert.deepEqual(
      got(a1, 'receipt:read').map((p) => p.seq),
      [2, 3],
    );
    // The reader gets no receipt of their own read. Barrier: alice's read of bob's reply reaches bob as a receipt.
    assert.equal((await send(b2, conv, 'reply')).data.seq, 4);
    await waitEvent(a1, 'message:new', (p) => p.seq === 4);
    await emitAck(a1.socket, 'conversation:read', { conversationId: conv, seq: 4 });
    for (const d of [b1, b2]) {
      await waitEvent(d, 'receipt:read', (p) => p.userId === alice);
      assert.deepEqual(
        got(d, 'receipt:read', (p) => p.userId === bob),
        [],
        `${d.userId}: no receipt of own read`,
      );
    }
    assert.deepEqual(
      got(b1, 'unread:updated', (p) => p.lastReadSeq !== 2 && p.lastReadSeq !== 3),
      [],
    );
  });

  it('a send that clears unread messages updates the sender’s other devices (unread:updated), not the sending one; one with nothing unread announces nothing', async () => {
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(alice!, bob!);
    const [a1, b1, b2] = await Promise.all([device(alice!), device(bob!), device(bob!)]);
    for (const text of ['one', 'two']) assert.equal((await send(a1, conv, text)).ok, true);
    await until(() => got(b2, 'message:new').length === 2, 'bob to get two messages');
    assert.equal((await rest(bob!, 'GET', `/conversations/${conv}`)).body.unreadCount, 2);

    // Bob replies from device 1 without reading first: the reply moves his pointer past both.
    assert.equal((await send(b1, conv, 'reply')).data.seq, 3);
    assert.deepEqual(await waitEvent(b2, 'unread:updated'), {
      conversationId: conv,
      unreadCount: 0,
      lastReadSeq: 3,
    });
    assert.equal((await rest(bob!, 'GET', `/conversations/${conv}`)).body.unreadCount, 0);

    // Nothing unread before this one: its message:new says it all. Barrier: bob's typing, same path.
    assert.equal((await send(b1, conv, 'again')).data.seq, 4);
    await waitEvent(b2, 'message:new', (p) => p.seq === 4);
    await emitAck(b1.socket, 'typing:start', { conversationId: conv });
    await waitEvent(a1, 'typing', (p) => p.userId === bob);
    assert.equal(got(b2, 'unread:updated').length, 1);
    assert.deepEqual(got(b1, 'unread:updated'), [], 'the sending connection knows its own pointer moved');
    assert.deepEqual(got(a1, 'receipt:read'), [], 'the reply itself tells alice bob read up to it');
    assert.deepEqual(got(a1, 'unread:updated'), [], 'alice read nothing');
  });

  it('typing:start → typing {isTyping:true} to the others (not to self), typing:stop → false', async () => {
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(alice!, bob!);
    const [a1, a2, b1] = await Promise.all([device(alice!), device(alice!), device(bob!)]);
    assert.deepEqual(await emitAck(a1.socket, 'typing:start', { conversationId: conv }), {
      ok: true,
      data: {},
    });
    assert.deepEqual(await waitEvent(b1, 'typing'), { conversationId: conv, userId: alice, isTyping: true });
    // Barrier: bob types too; had alice's own typing been sent to her, it would have arrived first.
    await emitAck(b1.socket, 'typing:start', { conversationId: conv });
    for (const d of [a1, a2]) {
      assert.deepEqual(await waitEvent(d, 'typing'), { conversationId: conv, userId: bob, isTyping: true });
      assert.deepEqual(
        got(d, 'typing', (p) => p.userId === alice),
        [],
        'not to self',
      );
    }
    assert.deepEqual(await emitAck(a1.socket, 'typing:stop', { conversationId: conv }), {
      ok: true,
      data: {},
    });
    assert.deepEqual(await waitEvent(b1, 'typing', (p) => !p.isTyping), {
      conversationId: conv,
      userId: alice,
      isTyping: false,
    });
    await emitAck(b1.socket, 'typing:stop', { conversationId: conv });
    await waitEvent(a2, 'typing', (p) => !p.isTyping);
    assert.deepEqual(
      got(b1, 'typing').map((p) => p.isTyping),
      [true, false],
    );
  });

  it('a typing:start that is not renewed ends by itself after TYPING_TTL_S (isTyping:false arrives unasked)', async () => {
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(alice!, bob!);
    const [a1, b1] = await Promise.all([device(alice!), device(bob!)]);
    await emitAck(a1.socket, 'typing:start', { conversationId: conv });
    await waitEvent(b1, 'typing', (p) => p.isTyping);
    // TYPING_TTL_S=1: the end comes by itself, without typing:stop.
    assert.deepEqual(await waitEvent(b1, 'typing', (p) => !p.isTyping, 10_000), {
      conversationId: conv,
      userId: alice,
      isTyping: false,
    });
    // A new start after the auto-stop is a new start again.
    await emitAck(a1.socket, 'typing:start', { conversationId: conv });
    await until(() => got(b1, 'typing').length >= 3, 'the second start');
    assert.deepEqual(
      got(b1, 'typing').map((p) => p.isTyping),
      [true, false, true],
    );
    await emitAck(a1.socket, 'typing:stop', { conversationId: conv });
  });

  it('answers NOT_FOUND for typing or reading in a conversation the caller is not in (or that does not exist)', async () => {
    const [alice, bob, mallory] = users('alice', 'bob', 'mallory');
    const [m1, b1] = await Promise.all([device(mallory!), device(bob!)]);
    const conv = await direct(alice!, bob!);
    // The creation's conversation:updated is fanned out after the answer: wait for it, so only
    // what follows is counted.
    await waitEvent(b1, 'conversation:updated', (p) => p.id === conv);
    b1.seen.length = 0;
    const missing = randomUUID();
    for (const conversationId of [conv, missing]) {
      for (const [event, payload] of [
        ['typing:start', { conversationId }],
        ['typing:stop', { conversationId }],
        ['conversation:read', { conversationId, seq: 1 }],
        ['message:send', { conversationId, clientMessageId: randomUUID(), content: { text: 'hi' } }],
      ] as const) {
        const ack = await emitAck(m1.socket, event, payload);
        assert.equal(ack.ok, false, `${event}: ${JSON.stringify(ack)}`);
        assert.equal(ack.error.code, 'NOT_FOUND', `${event}: ${JSON.stringify(ack)}`);
        assert.equal(typeof ack.error.message, 'string');
      }
    }
    // Nothing reached the participants. Barrier: a message from alice.
    await rest(alice!, 'POST', `/conversations/${conv}/messages`, {
      clientMessageId: randomUUID(),
      content: { text: 'barrier' },
    });
    await waitEvent(b1, 'message:new');
    assert.deepEqual(
      b1.seen.map((s) => s.event),
      ['message:new'],
    );
    assert.equal((await rest(bob!, 'GET', `/conversations/${conv}/messages?after=0`)).body.items.length, 1);
  });

  it('events sent without an ack callback still work and break nothing', async () => {
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(alice!, bob!);
    const [a1, b1] = await Promise.all([device(alice!), device(bob!)]);
    const cmid = randomUUID();
    a1.socket.emit('message:send', {
      conversationId: conv,
      clientMessageId: cmid,
      content: { text: 'no ack' },
    });
    const m = await waitEvent(b1, 'message:new');
    assert.equal(m.clientMessageId, cmid);
    assert.deepEqual(m.content, { text: 'no ack' });
    await waitEvent(a1, 'message:new', (p) => p.clientMessageId === cmid);

    b1.socket.emit('conversation:read', { conversationId: conv, seq: 1 });
    assert.equal((await waitEvent(a1, 'receipt:read')).seq, 1);
    a1.socket.emit('typing:start', { conversationId: conv });
    assert.equal((await waitEvent(b1, 'typing')).isTyping, true);
    a1.socket.emit('typing:stop', { conversationId: conv });
    await waitEvent(b1, 'typing', (p) => !p.isTyping);
    a1.socket.emit('presence:heartbeat', {});
    // Failures without an ack: nobody to answer, nothing breaks.
    a1.socket.emit('message:send', { conversationId: 'nope' });
    a1.socket.emit('message:send');
    a1.socket.emit('conversation:read', null);
    a1.socket.emit('typing:start', { conversationId: randomUUID() });
    a1.socket.emit('no:such:event', { x: 1 });

    const after = await send(a1, conv, 'still works');
    assert.equal(after.ok, true, JSON.stringify(after));
    assert.equal(after.data.seq, 2);
    await waitEvent(b1, 'message:new', (p) => p.seq === 2);
    assert.equal(a1.socket.connected, true);
    assert.equal(b1.socket.connected, true);
    const history = await rest(alice!, 'GET', `/conversations/${conv}/messages?after=0`);
    assert.deepEqual(
      history.body.items.map((x: any) => x.content.text),
      ['no ack', 'still works'],
    );
  });
});
