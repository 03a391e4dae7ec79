// The client SDK (client/src) against the real service: whatever happens to the connection, the app
// gets every message exactly once and in seq order; a lost ack is sent again with the same
// clientMessageId and stored once; an expired token is refreshed; heartbeats keep presence.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ChatClient, DEFAULT_HEARTBEAT_MS, type ChatClientOptions, type Message } from '../client/src';
import type { Server } from 'socket.io';
import { ChatGateway } from '../src/realtime/chat.gateway';
import { http, testWorld, token, type TestApp } from './support/app';
import { until } from './support/processes';

type World = Awaited<ReturnType<typeof testWorld>>;

/** A connected SDK client and everything it delivered. */
interface Device {
  client: ChatClient;
  messages: Message[];
  statuses: string[];
  /** `session:end` reasons. */
  ended: string[];
  presence: { userId: string; status: string; lastSeenAt: string | null }[];
}

describe('client SDK against the service', () => {
  let world: World;
  let app: TestApp;
  const devices: Device[] = [];

  before(async () => {
    world = await testWorld({ redis: true });
    app = await world.start();
  });
  after(async () => {
    for (const d of devices) d.client.close();
    await world.close();
  });

  async function device(
    userId: string,
    opts: Partial<ChatClientOptions> = {},
    target = app,
  ): Promise<Device> {
    const client = new ChatClient({
      baseUrl: target.url,
      token: await token(userId),
      retryMs: 50,
      socket: { reconnectionDelay: 50, reconnectionDelayMax: 200 },
      ...opts,
    });
    const d: Device = { client, messages: [], statuses: [], ended: [], presence: [] };
    client.on('presence', (p) => d.presence.push(p));
    client.on('message', (m) => d.messages.push(m));
    client.on('session:end', (p) => d.ended.push(p.reason));
    client.on('status', (s) => d.statuses.push(s));
    devices.push(d);
    const synced = new Promise((resolve) => client.on('synced', resolve));
    client.connect();
    await synced;
    return d;
  }

  function seqsOf(d: Device, conversationId: string): number[] {
    return d.messages.filter((m) => m.conversationId === conversationId).map((m) => m.seq);
  }

  const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  it('reconnects twice in the middle of a burst: every message exactly once, in order', async () => {
    const alice = await device('burst-alice');
    const bob = await device('burst-bob');
    const conv = await alice.client.direct('burst-bob');
    const N = 150;
    const sends = range(N).map((i) => alice.client.send(conv.id, `m${i}`).sent);

    // A network drop (the client's transport dies), then the server closing the connection.
    await until(() => bob.messages.length >= 20, '20 messages');
    bob.client.socket.io.engine.close();
    await until(() => bob.messages.length >= 60, '60 messages');
    const gateway = app.app.get(ChatGateway) as unknown as {
      server: { in(room: string): { disconnectSockets(close: boolean): void } };
    };
    gateway.server.in('user:burst-bob').disconnectSockets(true);

    const sent = await Promise.all(sends);
    assert.deepEqual(
      sent.map((m) => m.seq),
      range(N),
      'the sender’s messages are stored in the order given',
    );
    await until(() => bob.messages.length >= N, 'all messages');
    await new Promise((r) => setTimeout(r, 300)); // anything late would be a duplicate
    assert.deepEqual(seqsOf(bob, conv.id), range(N), 'each seq once, in order');
    assert.deepEqual(
      bob.messages.map((m) => m.content?.text),
      range(N).map((i) => `m${i}`),
    );
    assert.ok(
      bob.statuses.filter((s) => s === 'connected').length >= 3,
      `reconnected twice: ${bob.statuses}`,
    );
    // The sender's own devices get its messages too, once each.
    await until(() => alice.messages.length >= N, 'the sender’s copy');
    assert.deepEqual(seqsOf(alice, conv.id), range(N));
  });

  it('after a reconnect, catches up what was sent while it was away (no later message needed)', async () => {
    const alice = await device('away-alice');
    const bob = await device('away-bob');
    const conv = await alice.client.direct('away-bob');
    await alice.client.send(conv.id, 'a1').sent;
    await until(() => bob.messages.length >= 1, 'the first message');
    const manager = bob.client.socket.io;
    manager.reconnection(false);
    manager.engine.close();
    await until(() => !bob.client.socket.connected, 'bob disconnected');
    for (const text of ['a2', 'a3', 'a4']) await alice.client.send(conv.id, text).sent;
    manager.reconnection(true);
    bob.client.socket.connect();
    await until(() => bob.messages.length >= 4, 'the messages sent meanwhile');
    assert.deepEqual(
      bob.messages.map((m) => m.content?.text),
      ['a1', 'a2', 'a3', 'a4'],
    );
  });

  it('detects a gap (a message:new that never arrived) and fetches it with after=, without reconnecting', async () => {
    const alice = await device('gap-alice');
    const bob = await device('gap-bob');
    const conv = await alice.client.direct('gap-bob');
    const dropped = new Set([3, 6, 7]);
    const dropping = bob.client.socket as unknown as { onevent(packet: { data: unknown[] }): void };
    const onevent = dropping.onevent.bind(dropping);
    dropping.onevent = (packet) => {
      const [event, payload] = packet.data as [string, Message];
      if (event === 'message:new' && payload.conversationId === conv.id && dropped.has(payload.seq)) return;
      onevent(packet);
    };
    const fetched: string[] = [];
    bob.client.rest.use({
      onRequest({ request }) {
        if (request.url.includes('after=')) fetched.push(new URL(request.url).searchParams.get('after')!);
        return request;
      },
    });
    for (const i of range(10)) await alice.client.send(conv.id, `g${i}`).sent;
    await until(() => seqsOf(bob, conv.id).length >= 10, '10 messages');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(seqsOf(bob, conv.id), range(10));
    assert.deepEqual(
      bob.messages.map((m) => m.content?.text),
      range(10).map((i) => `g${i}`),
    );
    assert.equal(fetched[0], '2', `the first catch-up starts after seq 2 (after= ${fetched})`);
    assert.deepEqual(bob.statuses, ['connecting', 'connected'], 'no reconnect was needed');
  });

  it('sends again with the same clientMessageId when the ack is lost (connection dropped): stored and delivered once', async () => {
    const alice = await device('retry-alice');
    const bob = await device('retry-bob');
    const conv = await alice.client.direct('retry-bob');
    const attempts: string[] = [];
    alice.client.socket.onAnyOutgoing((event, payload: { clientMessageId?: string }) => {
      if (event === 'message:send') attempts.push(payload.clientMessageId!);
    });
    // The server stores the message and acks, but the ack never reaches the client: the line drops.
    const acks = alice.client.socket as unknown as { onack(packet: unknown): void };
    const onack = acks.onack.bind(acks);
    let lost = 0;
    acks.onack = (packet) => {
      if (lost++ === 0) {
        alice.client.socket.io.engine.close();
        return;
      }
      onack(packet);
    };
    const out = alice.client.send(conv.id, 'only once');
    const message = await out.sent;
    assert.equal(message.clientMessageId, out.clientMessageId);
    assert.ok(attempts.length >= 2, `sent ${attempts.length} times`);
    assert.ok(
      attempts.every((id) => id === out.clientMessageId),
      'every attempt with the same id',
    );

    const history = await http(app.url, 'GET', `/conversations/${conv.id}/messages`, {
      token: await token('retry-alice'),
    });
    assert.deepEqual(
      history.body.items.map((m: Message) => m.clientMessageId),
      [out.clientMessageId],
      'stored once',
    );
    await until(() => bob.messages.length >= 1, 'bob’s copy');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      bob.messages.map((m) => m.content?.text),
      ['only once'],
    );
  });

  it('sends again with the same clientMessageId when the ack times out on a live connection', async () => {
    // Long enough for every ack that is not swallowed to come in time on a loaded machine: one that
    // came late would be one more attempt.
    const alice = await device('slow-alice', { ackTimeoutMs: 1_000 });
    const conv = await alice.client.direct('slow-bob');
    const attempts: string[] = [];
    alice.client.socket.onAnyOutgoing((event, payload: { clientMessageId?: string }) => {
      if (event === 'message:send') attempts.push(payload.clientMessageId!);
    });
    const acks = alice.client.socket as unknown as { onack(packet: unknown): void };
    const onack = acks.onack.bind(acks);
    let swallowed = 0;
    acks.onack = (packet) => {
      if (swallowed++ < 2) return; // two acks lost: the client times out twice
      onack(packet);
    };
    const first = alice.client.send(conv.id, 'first');
    const second = alice.client.send(conv.id, 'second');
    const [a, b] = await Promise.all([first.sent, second.sent]);
    assert.deepEqual([a.seq, b.seq], [1, 2], 'in the order given, each once');
    assert.deepEqual(attempts, [
      first.clientMessageId,
      first.clientMessageId,
      first.clientMessageId,
      second.clientMessageId,
    ]);
    assert.deepEqual(alice.statuses, ['connecting', 'connected'], 'no reconnect');
  });

  it('refuses a send for good on a final error (NOT_FOUND) and goes on with the next', async () => {
    const alice = await device('final-alice');
    const conv = await alice.client.direct('final-bob');
    const missing = alice.client.send('00000000-0000-7000-8000-000000000000', 'nowhere');
    await assert.rejects(missing.sent, { name: 'ChatError', code: 'NOT_FOUND' });
    const ok = await alice.client.send(conv.id, 'here').sent;
    assert.equal(ok.seq, 1);
    assert.equal(alice.client.pendingCount(), 0);
  });

  it('a delete that overtakes its message (held back for order) makes the message arrive as a tombstone', async () => {
    const alice = await device('early-alice');
    const bob = await device('early-bob');
    const conv = await alice.client.direct('early-bob');
    const first = await alice.client.send(conv.id, 'first').sent;
    await until(() => seqsOf(bob, conv.id).length === 1, 'the first message');
    // A delete of a message already delivered is only passed on (the app updates what it shows).
    const deletes: string[] = [];
    bob.client.on('message:deleted', (p) => deletes.push(p.messageId));
    const res = await http(app.url, 'DELETE', `/conversations/${conv.id}/messages/${first.id}`, {
      token: await token('early-alice'),
    });
    assert.equal(res.status, 204);
    await until(() => deletes.includes(first.id), 'the delete');
    assert.equal(bob.messages[0]!.content?.text, 'first', 'delivered as it was');

    // What bob's connection gets when the server holds message 2 back (a gap in its stream) while
    // its sender deletes it: the delete (Socket.IO adapter), then the message (ordered channel).
    const server = (app.app.get(ChatGateway) as unknown as { server: Server }).server;
    const id = randomUUID();
    const message: Message = {
      id,
      conversationId: conv.id,
      seq: 2,
      senderId: 'early-alice',
      clientMessageId: randomUUID(),
      type: 'text',
      content: { text: 'wrong chat: my password is hunter2' },
      createdAt: new Date().toISOString(),
      editedAt: null,
      deletedAt: null,
    };
    server.to('user:early-bob').emit('message:deleted', { conversationId: conv.id, messageId: id, seq: 2 });
    server.to('user:early-bob').emit('message:new', message);
    await until(() => seqsOf(bob, conv.id).length === 2, 'the held message');
    const tombstone = bob.messages.find((m) => m.id === id)!;
    assert.equal(tombstone.content, null);
    assert.ok(tombstone.deletedAt, 'delivered as deleted');
    assert.deepEqual(deletes, [first.id, id], 'both deletes passed on');
  });

  it('on token_expired calls refreshToken, reconnects with the new token and catches up', async () => {
    const alice = await device('exp-alice');
    const conv = await alice.client.direct('exp-bob');
    const reasons: string[] = [];
    let beforeSent!: () => void;
    const sentBefore = new Promise<void>((resolve) => (beforeSent = resolve));
    const bob = await device('exp-bob', {
      token: await token('exp-bob', { ttlS: 3 }),
      refreshToken: async (reason) => {
        reasons.push(reason);
        // While bob has no connection, alice writes: bob must still get it after the refresh.
        await sentBefore;
        await alice.client.send(conv.id, 'while you were away').sent;
        return token('exp-bob');
      },
    });
    await alice.client.send(conv.id, 'before').sent;
    beforeSent();
    await until(() => reasons.length > 0, 'the refresh');
    await until(() => bob.messages.length >= 2, 'the message sent meanwhile');
    await alice.client.send(conv.id, 'after').sent;
    await until(() => bob.messages.length >= 3, 'the message after');
    assert.deepEqual(reasons, ['token_expired']);
    assert.deepEqual(bob.ended, ['token_expired']);
    assert.deepEqual(
      bob.messages.map((m) => m.content?.text),
      ['before', 'while you were away', 'after'],
    );
    assert.equal(bob.client.status, 'connected');
  });

  it('after each (re)connect, fires presence from a snapshot: a contact online before it came, one gone offline while it was away', async () => {
    const res = await http(app.url, 'POST', '/conversations', {
      token: await token('snap-alice'),
      body: { type: 'direct', participantIds: ['snap-bob'] },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const bob = await device('snap-bob');
    // bob was online before alice came: no event will tell her, the snapshot does.
    const alice = await device('snap-alice');
    const bobs = () => alice.presence.filter((p) => p.userId === 'snap-bob').map((p) => p.status);
    await until(() => bobs().length > 0, 'bob online, from the snapshot');
    assert.deepEqual(bobs(), ['online']);

    alice.client.socket.disconnect();
    bob.client.close();
    const aliceToken = await token('snap-alice');
    for (let i = 0; ; i++) {
      const now = await http(app.url, 'GET', '/presence?userIds=snap-bob', { token: aliceToken });
      if (now.body.users[0].status === 'offline') break;
      assert.ok(i < 500, 'bob goes offline');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(bobs(), ['online'], 'alice was away when bob left');
    alice.client.socket.connect();
    await until(() => bobs().length === 2, 'bob offline, from the snapshot');
    assert.deepEqual(bobs(), ['online', 'offline']);
  });

  it('sends presence:heartbeat on its own (default every 20–25 s): a user stays online past the presence TTL', async () => {
    assert.deepEqual(DEFAULT_HEARTBEAT_MS, { min: 20_000, max: 25_000 });
    // Heartbeats every 200-300 ms keep a TTL of 2 s with room for a loaded machine's pauses.
    const short = await world.start({ PRESENCE_TTL_S: '2' });
    const watcher = await device('hb-watcher', {}, short);
    // Contacts first: presence goes to users who share a conversation.
    await watcher.client.direct('hb-beating');
    await watcher.client.direct('hb-silent');
    const beats: number[] = [];
    const beating = await device('hb-beating', { heartbeatMs: { min: 200, max: 300 } }, short);
    beating.client.socket.onAnyOutgoing((event) => {
      if (event === 'presence:heartbeat') beats.push(Date.now());
    });
    await device('hb-silent', { heartbeatMs: { min: 60_000, max: 60_000 } }, short);
    const offline: string[] = [];
    watcher.client.on('presence', (p) => {
      if (p.status === 'offline') offline.push(p.userId);
    });
    // The silent one lapses after its TTL; the beating one must not in the same time.
    await until(() => offline.includes('hb-silent'), 'the silent user to go offline');
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(beats.length >= 3, `${beats.length} heartbeats`);
    assert.ok(!offline.includes('hb-beating'), 'the heartbeating user stayed online');
  });
});
