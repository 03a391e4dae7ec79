// The real-time behaviours of CONTRACT §4 with two instances sharing PostgreSQL and Redis (§7): the
// sender's and the recipients' connections are on DIFFERENT instances. Fan-out to every device,
// idempotency, deletes, participant changes, read sync, typing (with one auto-stop, whichever
// instance runs it) and presence with the heartbeat rule. (Rate limits across instances:
// test/rate-limit.test.ts; ordering under load: test/realtime-ordering.test.ts.)
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import Redis from 'ioredis';
import type { Socket } from 'socket.io-client';
import { Db } from '../src/database/db';
import { PresenceService } from '../src/presence/presence.service';
import { OrderedChannel } from '../src/state/ordered-channel';
import {
  connectSocket,
  emitAck,
  http,
  testWorld,
  token,
  TEST_REDIS_URL,
  type TestApp,
  users,
} from './support/app';
import { until } from './support/processes';

type Seen = { event: string; payload: any };
interface Device {
  name: string;
  userId: string;
  socket: Socket;
  seen: Seen[];
  drops: string[];
  stopBeating(): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const got = (d: Device, event: string, filter: (p: any) => boolean = () => true) =>
  d.seen.filter((s) => s.event === event && filter(s.payload)).map((s) => s.payload);
async function waitEvent(
  d: Device,
  event: string,
  filter: (p: any) => boolean = () => true,
  timeoutMs = 10_000,
) {
  await until(() => got(d, event, filter).length > 0, `${event} on ${d.name}`, timeoutMs);
  return got(d, event, filter)[0];
}

describe('realtime across two instances (Redis)', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let A: TestApp;
  let B: TestApp;
  let redis: Redis;
  let devices: Device[] = [];

  before(async () => {
    world = await testWorld({ redis: true });
    const env = { TYPING_TTL_S: '1', PRESENCE_TTL_S: '2' };
    [A, B] = await Promise.all([world.start(env), world.start(env)]);
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 2 });
  });
  after(async () => {
    await redis.quit().catch(() => redis.disconnect());
    await world.close();
  });
  afterEach(() => {
    const dropped = devices.filter((d) => d.drops.length).map((d) => `${d.name}: ${d.drops.join(',')}`);
    for (const d of devices) {
      d.stopBeating();
      d.socket.close();
    }
    devices = [];
    assert.deepEqual(dropped, [], 'no connection was dropped during the test');
  });

  /** A device on instance `app`; it heartbeats (PRESENCE_TTL_S=2) unless told not to. */
  async function device(app: TestApp, userId: string, opts: { beat?: boolean } = {}): Promise<Device> {
    const socket = await connectSocket(app.url, await token(userId));
    const name = `${userId}@${app === A ? 'A' : 'B'}`;
    const d: Device = { name, userId, socket, seen: [], drops: [], stopBeating: () => undefined };
    socket.onAny((event: string, payload: unknown) => d.seen.push({ event, payload }));
    socket.on('disconnect', (reason) => d.drops.push(reason));
    if (opts.beat !== false) {
      const timer = setInterval(() => socket.emit('presence:heartbeat', {}), 300);
      d.stopBeating = () => clearInterval(timer);
    }
    devices.push(d);
    return d;
  }
  /** Closes a device on purpose (not counted as a drop). */
  function close(d: Device): void {
    d.stopBeating();
    d.socket.off('disconnect');
    d.socket.close();
  }
  async function rest(app: TestApp, userId: string, method: string, path: string, body?: unknown) {
    return http(app.url, method, path, { token: await token(userId), body });
  }
  async function direct(app: TestApp, a: string, b: string): Promise<string> {
    const res = await rest(app, a, 'POST', '/conversations', { type: 'direct', participantIds: [b] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id;
  }
  const send = (d: Device, conversationId: string, text: string, clientMessageId: string = randomUUID()) =>
    emitAck(d.socket, 'message:send', { conversationId, clientMessageId, content: { text } });

  it('message:new reaches every device on both instances, the sender’s other device included', async () => {
    const [alice, bob, carol] = users('alice', 'bob', 'carol');
    const conv = await direct(A, alice!, bob!);
    const [a1, a2, b1, b2, c1] = await Promise.all([
      device(A, alice!),
      device(B, alice!),
      device(A, bob!),
      device(B, bob!),
      device(B, carol!),
    ]);
    const first = await send(a1, conv, 'from A');
    assert.equal(first.ok, true, JSON.stringify(first));
    for (const d of [a1, a2, b1, b2]) assert.deepEqual(await waitEvent(d, 'message:new'), first.data, d.name);
    const second = await send(b2, conv, 'from B');
    assert.equal(second.data.seq, 2);
    for (const d of [a1, a2, b1, b2]) {
      assert.deepEqual(await waitEvent(d, 'message:new', (p) => p.seq === 2), second.data, d.name);
      assert.deepEqual(
        got(d, 'message:new').map((p) => p.seq),
        [1, 2],
        `${d.name}: once each, in order`,
      );
    }
    // A non-participant on either instance gets none of it. Barrier: her own conversation's message.
    const own = await direct(B, carol!, alice!);
    const c = await send(c1, own, 'barrier');
    await waitEvent(c1, 'message:new', (p) => p.id === c.data.id);
    assert.deepEqual(
      got(c1, 'message:new').map((p) => p.id),
      [c.data.id],
    );
  });

  it('the first message after an idle hour is not held: the send tells the ordered channel how long the conversation was quiet', async () => {
    // An idle hour is what the position's expiry and an hour-old previous message make; the channel
    // publishes at once a message whose position is unknown and whose predecessor is that old
    // (test/state-redis.test.ts), instead of holding it for the 2 s gap wait.
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(A, alice!, bob!);
    const [a, b] = await Promise.all([device(A, alice!), device(B, bob!)]);
    const channel = A.app.get(OrderedChannel);
    const told = new Map<number, number | undefined>();
    const published = new Map<number, Promise<void>>();
    const publish = channel.publish.bind(channel);
    channel.publish = (stream, seq, payload, quietMs) => {
      const done = publish(stream, seq, payload, quietMs);
      if (stream === conv) {
        told.set(seq, quietMs);
        published.set(seq, done);
      }
      return done;
    };
    try {
      assert.equal((await send(a, conv, 'hi')).data.seq, 1);
      assert.equal((await send(a, conv, 'still there')).data.seq, 2);
      await waitEvent(b, 'message:new', (p) => p.conversationId === conv && p.seq === 2);
      assert.equal(told.get(1), undefined, 'the first message has no predecessor');
      assert.ok((told.get(2) ?? Infinity) < 60_000, `a busy conversation: ${told.get(2)} ms`);

      await A.app
        .get(Db)
        .query(`UPDATE messages SET created_at = created_at - interval '1 hour' WHERE conversation_id = $1`, [
          conv,
        ]);
      await redis.del(`${world.redisPrefix}ord:{${conv}}:last`);
      assert.equal((await send(a, conv, 'are you there?')).data.seq, 3);
      await until(() => published.has(3), 'the publish of message 3');
      await published.get(3);
      // Gone out at once: the position is set, nothing waits for the 2 s gap skip.
      assert.equal(await redis.get(`${world.redisPrefix}ord:{${conv}}:last`), '3');
      assert.equal(await redis.exists(`${world.redisPrefix}ord:{${conv}}:wait`), 0, 'nothing waits');
      const quiet = told.get(3);
      assert.ok(quiet !== undefined && quiet >= 3_600_000 && quiet < 3_660_000, `quiet for ${quiet} ms`);
      await waitEvent(b, 'message:new', (p) => p.conversationId === conv && p.seq === 3);
    } finally {
      channel.publish = publish;
    }
  });

  it('a retry of the same clientMessageId on the other instance gets the original; one message:new per device', async () => {
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(B, alice!, bob!);
    const [a1, a2, b1, b2] = await Promise.all([
      device(A, alice!),
      device(B, alice!),
      device(A, bob!),
      device(B, bob!),
    ]);
    const cmid = randomUUID();
    const acks = await Promise.all([send(a1, conv, 'once', cmid), send(a2, conv, 'once', cmid)]);
    assert.equal(acks[0].ok, true, JSON.stringify(acks[0]));
    assert.deepEqual(acks[1], acks[0]);
    assert.deepEqual(await send(a2, conv, 'once', cmid), acks[0]);
    const next = await send(a1, conv, 'next');
    assert.equal(next.data.seq, 2);
    for (const d of [a1, a2, b1, b2]) {
      await waitEvent(d, 'message:new', (p) => p.seq === 2);
      assert.deepEqual(
        got(d, 'message:new').map((p) => p.clientMessageId),
        [cmid, next.data.clientMessageId],
        d.name,
      );
    }
  });

  it('read sync: a read on A clears the badge on B; receipts and deletes cross instances', async () => {
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(A, alice!, bob!);
    const [a1, a2, b1, b2] = await Promise.all([
      device(A, alice!),
      device(B, alice!),
      device(A, bob!),
      device(B, bob!),
    ]);
    for (const text of ['1', '2', '3']) assert.equal((await send(a2, conv, text)).ok, true);
    await until(() => got(b1, 'message:new').length === 3, 'three messages on bob@A');

    const read = await emitAck(b1.socket, 'conversation:read', { conversationId: conv, seq: 3 });
    assert.deepEqual(read, { ok: true, data: { lastReadSeq: 3, unreadCount: 0 } });
    for (const d of [b1, b2])
      assert.deepEqual(await waitEvent(d, 'unread:updated'), {
        conversationId: conv,
        unreadCount: 0,
        lastReadSeq: 3,
      });
    for (const d of [a1, a2])
      assert.deepEqual(await waitEvent(d, 'receipt:read'), { conversationId: conv, userId: bob, seq: 3 });

    // A REST read on B reaches the socket on A as well.
    await send(a1, conv, '4');
    const restRead = await rest(B, bob!, 'POST', `/conversations/${conv}/read`, { seq: 4 });
    assert.equal(restRead.status, 200, JSON.stringify(restRead.body));
    assert.deepEqual(await waitEvent(b1, 'unread:updated', (p) => p.lastReadSeq === 4), {
      conversationId: conv,
      unreadCount: 0,
      lastReadSeq: 4,
    });

    const doomed = got(b2, 'message:new').find((m) => m.seq === 2);
    assert.equal(
      (await rest(B, alice!, 'DELETE', `/conversations/${conv}/messages/${doomed.id}`)).status,
      204,
    );
    for (const d of [a1, a2, b1, b2])
      assert.deepEqual(await waitEvent(d, 'message:deleted'), {
        conversationId: conv,
        messageId: doomed.id,
        seq: 2,
      });
  });

  it('conversation:updated crosses instances, for the removed user too', async () => {
    const [alice, bob, carol] = users('alice', 'bob', 'carol');
    const [b2, c1] = await Promise.all([device(B, bob!), device(A, carol!)]);
    const created = await rest(A, alice!, 'POST', '/conversations', {
      type: 'group',
      title: 'Across',
      participantIds: [bob, carol],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    await waitEvent(b2, 'conversation:updated', (p) => p.id === id);
    await waitEvent(c1, 'conversation:updated', (p) => p.id === id);
    assert.equal((await rest(B, alice!, 'DELETE', `/conversations/${id}/participants/${carol}`)).status, 204);
    const hasCarol = (p: any) => p.participants.some((x: any) => x.userId === carol);
    const removed = await waitEvent(c1, 'conversation:updated', (p) => p.id === id && !hasCarol(p));
    assert.equal(removed.type, 'group');
    await waitEvent(b2, 'conversation:updated', (p) => p.id === id && !hasCarol(p));
  });

  it('typing crosses instances; a start renewed from the other instance ends once, by itself', async () => {
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(A, alice!, bob!);
    const [a1, a2, b1, b2] = await Promise.all([
      device(A, alice!),
      device(B, alice!),
      device(A, bob!),
      device(B, bob!),
    ]);
    const alices = (d: Device) => got(d, 'typing', (p) => p.userId === alice).map((p) => p.isTyping);
    await emitAck(a1.socket, 'typing:start', { conversationId: conv });
    for (const d of [b1, b2]) await waitEvent(d, 'typing', (p) => p.isTyping);
    await emitAck(a2.socket, 'typing:stop', { conversationId: conv }); // stopped from her other device, on B
    for (const d of [b1, b2])
      assert.deepEqual(await waitEvent(d, 'typing', (p) => !p.isTyping), {
        conversationId: conv,
        userId: alice,
        isTyping: false,
      });

    // Start on A, renew on B (no second "true"), then silence: exactly one "false", whichever instance sends it.
    await emitAck(a1.socket, 'typing:start', { conversationId: conv });
    await emitAck(a2.socket, 'typing:start', { conversationId: conv });
    for (const d of [b1, b2]) await until(() => alices(d).length >= 4, `the auto-stop on ${d.name}`);
    await sleep(500); // a duplicate "false" would come from the other instance's timer, at the same moment
    await emitAck(b2.socket, 'typing:start', { conversationId: conv }); // barrier on alice's sockets
    await waitEvent(a1, 'typing', (p) => p.userId === bob);
    for (const d of [b1, b2]) assert.deepEqual(alices(d), [true, false, true, false], d.name);
    assert.deepEqual(
      got(a1, 'typing', (p) => p.userId === alice),
      [],
      'not to self',
    );
    assert.deepEqual(
      got(a2, 'typing', (p) => p.userId === alice),
      [],
      'not to self',
    );
  });

  it('presence crosses instances: online on connect, offline only when the last connection (on either instance) is gone', async () => {
    const [alice, bob] = users('alice', 'bob');
    await direct(A, alice!, bob!);
    const b1 = await device(B, bob!);
    const a1 = await device(A, alice!);
    const statuses = () => got(b1, 'presence', (p) => p.userId === alice).map((p) => p.status);
    await until(() => statuses().length === 1, 'alice online');
    assert.deepEqual(statuses(), ['online']);
    const online = got(b1, 'presence')[0];
    assert.match(online.lastSeenAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    // The presence query on B knows alice, connected to A only.
    const snapshot = () => emitAck(b1.socket, 'presence:query', { userIds: [alice] });
    assert.deepEqual(await snapshot(), {
      ok: true,
      data: { users: [{ userId: alice, status: 'online', lastSeenAt: online.lastSeenAt }] },
    });

    // A second connection, on B, that never heartbeats: B's lapse check drops it, but alice, alive on A,
    // stays online.
    const a2 = await device(B, alice!, { beat: false });
    const setKey = `${world.redisPrefix}set:presence:${alice}`;
    await until(async () => (await redis.zcard(setKey)) === 2, 'two connections in the shared set');
    await until(async () => (await redis.zcard(setKey)) === 1, 'the lapsed connection to be purged', 15_000);
    await sleep(500);
    assert.deepEqual(statuses(), ['online'], 'a lapsed connection while another is alive is not offline');

    close(a1);
    await until(() => statuses().length === 2, 'alice offline', 15_000);
    assert.deepEqual(statuses(), ['online', 'offline']);
    // The lapsed connection on B heartbeats again: online again; then it closes: offline.
    assert.deepEqual(await emitAck(a2.socket, 'presence:heartbeat', {}), { ok: true, data: {} });
    await until(() => statuses().length === 3, 'alice online again');
    close(a2);
    await until(() => statuses().length === 4, 'alice offline again');
    assert.deepEqual(statuses(), ['online', 'offline', 'online', 'offline']);
    const last = got(b1, 'presence', (p) => p.userId === alice)[3];
    assert.deepEqual((await snapshot()).data.users, [
      { userId: alice, status: 'offline', lastSeenAt: last.lastSeenAt },
    ]);
  });

  it('an instance that shuts down announces offline the users whose only connection it held, before its database closes', async () => {
    // The shutdown removes those connections from the shared set: no other instance would find them
    // to announce, so the stopping instance must (its fan-out needs the database for the contacts).
    const C = await world.start({ TYPING_TTL_S: '1', PRESENCE_TTL_S: '2' });
    const [alice, bob] = users('alice', 'bob');
    await direct(B, alice!, bob!);
    const b = await device(B, bob!);
    const a = await device(C, alice!);
    devices.splice(devices.indexOf(a), 1); // its instance closes it: not a drop to report
    try {
      await waitEvent(b, 'presence', (p) => p.userId === alice && p.status === 'online');
      await C.close();
      await waitEvent(b, 'presence', (p) => p.userId === alice && p.status === 'offline');
      const snapshot = await rest(B, bob!, 'GET', `/presence?userIds=${alice}`);
      assert.equal(snapshot.body.users[0]?.status, 'offline', JSON.stringify(snapshot.body));
    } finally {
      a.stopBeating();
      a.socket.close();
    }
  });

  it('a typing:start on an instance that then shuts down still ends by itself, announced by another instance', async () => {
    const C = await world.start({ TYPING_TTL_S: '1', PRESENCE_TTL_S: '2' });
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(B, alice!, bob!);
    const b = await device(B, bob!);
    const a = await device(C, alice!);
    devices.splice(devices.indexOf(a), 1); // its instance closes it: not a drop to report
    try {
      assert.equal((await emitAck(a.socket, 'typing:start', { conversationId: conv })).ok, true);
      await waitEvent(b, 'typing', (p) => p.userId === alice && p.isTyping === true);
      await C.close(); // before the deadline: its timer goes with it
      // The others leave a flag 5 s past its deadline to its own instance (clock skew), then end it.
      await waitEvent(b, 'typing', (p) => p.userId === alice && p.isTyping === false, 20_000);
      assert.equal(got(b, 'typing', (p) => p.userId === alice && p.isTyping === false).length, 1);
    } finally {
      a.stopBeating();
      a.socket.close();
    }
  });

  it('a user whose connections were on a dead instance is announced offline by another instance', async () => {
    const [ghost, bob] = users('ghost', 'bob');
    await direct(A, ghost!, bob!);
    const b1 = await device(B, bob!);
    // A connection that A registered and then never heartbeated, closed or lapse-checked: as if A had died.
    await A.app.get(PresenceService).beat(ghost!, 'connection-of-a-dead-instance');
    const statuses = () => got(b1, 'presence', (p) => p.userId === ghost).map((p) => p.status);
    await until(() => statuses().length === 1, 'ghost online');
    // TTL 2 s, then 5 s of allowed clock skew, then the next sweep (every 1 s) of either instance.
    await until(() => statuses().length === 2, 'ghost offline, announced by a sweep', 20_000);
    await sleep(1_500); // more sweeps, by both instances: still announced once
    assert.deepEqual(statuses(), ['online', 'offline']);
    // The index of expiries no longer holds it.
    assert.equal(await redis.zscore(`${world.redisPrefix}set:expiries`, `presence:${ghost}`), null);
  });
});
