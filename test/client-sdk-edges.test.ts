// The client SDK (client/src) against the real service, at its edges: what an app sees when a delete
// happens while it is away, a send or a chat-list move races the first sync, an instance restarts
// with in-process presence, and under stress (two instances, reconnects, lost acks, Redis stalls).
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ChatClient, type ChatClientOptions, type Conversation, type Message } from '../client/src';
import { createApp } from '../src/app';
import { loadConfig } from '../src/config/env';
import { http, LogCapture, testWorld, token, type TestApp } from './support/app';
import { freePort, RedisServer, sleep, until } from './support/processes';

type World = Awaited<ReturnType<typeof testWorld>>;

interface Device {
  client: ChatClient;
  messages: Message[];
  deleted: { conversationId: string; messageId: string; seq: number }[];
  presence: { userId: string; status: string; lastSeenAt: string | null }[];
  synced: number;
  /** The chat list of each `synced`. */
  lists: Conversation[][];
  statuses: string[];
}

const allDevices: Device[] = [];

async function device(
  baseUrl: string,
  userId: string,
  opts: Partial<ChatClientOptions> = {},
  wait = true,
): Promise<Device> {
  const client = new ChatClient({
    baseUrl,
    token: await token(userId),
    retryMs: 50,
    socket: { reconnectionDelay: 50, reconnectionDelayMax: 200 },
    ...opts,
  });
  const d: Device = { client, messages: [], deleted: [], presence: [], synced: 0, lists: [], statuses: [] };
  client.on('message', (m) => d.messages.push(m));
  client.on('message:deleted', (p) => d.deleted.push(p));
  client.on('presence', (p) => d.presence.push(p));
  client.on('synced', (list) => {
    d.synced++;
    d.lists.push(list);
  });
  client.on('status', (s) => d.statuses.push(s));
  allDevices.push(d);
  const synced = new Promise((resolve) => client.on('synced', resolve));
  client.connect();
  if (wait) await synced;
  return d;
}

const seqsOf = (d: Device, conversationId: string) =>
  d.messages.filter((m) => m.conversationId === conversationId).map((m) => m.seq);

/** Cuts the device's connection (as a lost network) and keeps it away until `back()`. */
async function goAway(d: Device): Promise<() => Promise<void>> {
  const manager = d.client.socket.io;
  manager.reconnection(false);
  manager.engine.close();
  await until(() => !d.client.socket.connected, 'disconnected');
  return async () => {
    const before = d.synced;
    manager.reconnection(true);
    d.client.socket.connect();
    await until(() => d.synced > before, 'synced again');
  };
}

/**
 * The check `reportMissedDeletes` makes: the conversation's last DELETE_CHECK_PAGE (50) delivered
 * messages, through the `after=` listing (the catch-up asks for 100).
 */
const isDeleteCheck = (request: Request, conv: string) => {
  const url = new URL(request.url);
  return (
    request.method === 'GET' &&
    url.pathname === `/conversations/${conv}/messages` &&
    url.searchParams.has('after') &&
    url.searchParams.get('limit') === '50'
  );
};

after(() => {
  for (const d of allDevices) d.client.close();
});

describe('client SDK edges: deletes while away, races with the first sync', () => {
  let world: World;
  let app: TestApp;

  before(async () => {
    world = await testWorld({ redis: true });
    app = await world.start();
  });
  after(async () => {
    await world.close();
  });

  it('a message deleted while the recipient was disconnected reaches the app as deleted after the reconnect', async () => {
    const alice = await device(app.url, 'deloff-alice');
    const bob = await device(app.url, 'deloff-bob');
    const conv = await alice.client.direct('deloff-bob');
    const secret = await alice.client.send(conv.id, 'wrong chat: my password is hunter2').sent;
    await until(() => seqsOf(bob, conv.id).length === 1, 'bob has the message');

    const back = await goAway(bob);
    await alice.client.deleteMessage(conv.id, secret.id);
    const stored = await http(app.url, 'GET', `/conversations/${conv.id}/messages`, {
      token: await token('deloff-bob'),
    });
    assert.equal(stored.body.items[0].deletedAt !== null, true, 'the server has the tombstone');
    await back();
    await sleep(500);

    const told =
      bob.deleted.some((p) => p.messageId === secret.id) ||
      bob.messages.some((m) => m.id === secret.id && m.deletedAt !== null);
    assert.ok(
      told,
      `bob's app was never told the message is deleted: it still shows "${bob.messages[0]!.content?.text}"`,
    );
    assert.deepEqual(bob.deleted, [{ conversationId: conv.id, messageId: secret.id, seq: secret.seq }]);

    // Told once: not again at the next reconnect, nor for a delete told live.
    const second = await alice.client.send(conv.id, 'second').sent;
    await until(() => seqsOf(bob, conv.id).length === 2, 'bob has the second');
    await alice.client.deleteMessage(conv.id, second.id);
    await until(() => bob.deleted.length === 2, 'the live delete');
    const backAgain = await goAway(bob);
    await backAgain();
    await sleep(300);
    assert.deepEqual(
      bob.deleted.map((p) => p.messageId),
      [secret.id, second.id],
    );
  });

  it('a delete made while the reconnect check runs is told once, not by the check and again by its live event', async () => {
    const tag = crypto.randomUUID().slice(0, 6);
    const [aliceId, bobId] = [`rl-dup-alice.${tag}`, `rl-dup-bob.${tag}`];
    let conv = '';
    // Filled in below; bob's fetch (made before them) reads them.
    const later: { alice?: Device; second?: Message } = {};
    let armed = false;
    // bob's network: while his reconnect check's request is on its way, alice deletes `second`
    // (committed before the check reads, so the check's page shows its tombstone).
    const bobFetch = async (request: Request) => {
      if (armed && isDeleteCheck(request, conv)) {
        armed = false;
        await later.alice!.client.deleteMessage(conv, later.second!.id);
      }
      return fetch(request);
    };
    const alice = await device(app.url, aliceId, { presenceSnapshot: false });
    later.alice = alice;
    const bob = await device(app.url, bobId, { fetch: bobFetch, presenceSnapshot: false });
    conv = (await alice.client.direct(bobId)).id;
    const first = await alice.client.send(conv, 'first').sent;
    const second = await alice.client.send(conv, 'second').sent;
    later.second = second;
    await until(() => bob.messages.length === 2, 'bob has both');

    const back = await goAway(bob);
    await alice.client.deleteMessage(conv, first.id); // while bob is away: lastDeletedAt moves
    // The live `message:deleted` of the delete made during the check reaches bob a little after the
    // check's REST answer (the fan-out is a separate path: another instance, Redis, a busy event loop;
    // nothing orders a socket event after a REST answer).
    const socket = bob.client.socket as unknown as { onevent(packet: { data: unknown[] }): void };
    const onevent = socket.onevent.bind(socket);
    socket.onevent = (packet) => {
      if (packet.data?.[0] === 'message:deleted') setTimeout(() => onevent(packet), 300);
      else onevent(packet);
    };
    armed = true;
    await back();
    await sleep(800);

    assert.equal(armed, false, 'the check ran');
    const told = bob.deleted.map((p) => p.messageId);
    assert.equal(told.filter((id) => id === first.id).length, 1, 'the delete made while away is told');
    assert.equal(
      told.filter((id) => id === second.id).length,
      1,
      `message:deleted for one message told ${told.filter((id) => id === second.id).length} times (client/README.md: "It does not tell again a deletion already told")`,
    );
  });

  it('a delete made before the first connect (and the activity after it) is history: not told after a reconnect', async () => {
    const alice = await device(app.url, 'delold-alice');
    const conv = await alice.client.direct('delold-bob');
    const old = await alice.client.send(conv.id, 'old').sent;
    await alice.client.deleteMessage(conv.id, old.id);
    await alice.client.send(conv.id, 'later').sent;
    const bob = await device(app.url, 'delold-bob');
    const back = await goAway(bob);
    await back();
    await sleep(300);
    assert.deepEqual(bob.deleted, []);
  });

  it('a message sent right at the first connect (before the chat list is read) fires `message` for the sender', async () => {
    const res = await http(app.url, 'POST', '/conversations', {
      token: await token('early-send-alice'),
      body: { type: 'direct', participantIds: ['early-send-bob'] },
    });
    assert.equal(res.status, 201);
    const conv = res.body.id as string;
    // A slow network: the chat list takes a moment to come (the socket's ack is faster).
    const slowList = async (request: Request) => {
      if (request.method === 'GET' && new URL(request.url).pathname === '/conversations') await sleep(400);
      return fetch(request);
    };
    const alice = await device(app.url, 'early-send-alice', { fetch: slowList }, false);
    // e.g. an outbox restored from storage, sent as the app starts.
    const out = alice.client.send(conv, 'sent at start');
    const stored = await out.sent;
    await until(() => alice.synced > 0, 'synced');
    await sleep(300);
    assert.deepEqual(
      seqsOf(alice, conv),
      [stored.seq],
      '`message` fires for your own messages too, once (client/README.md)',
    );
  });

  it('a message received while the chat list is read at the first connect fires `message`', async () => {
    const res = await http(app.url, 'POST', '/conversations', {
      token: await token('early-recv-alice'),
      body: { type: 'direct', participantIds: ['early-recv-bob'] },
    });
    assert.equal(res.status, 201);
    const conv = res.body.id as string;
    let sent: Message | undefined;
    // bob writes once alice's socket is connected, while her chat list is on its way.
    const slowList = async (request: Request) => {
      if (request.method === 'GET' && new URL(request.url).pathname === '/conversations') {
        const r = await http(app.url, 'POST', `/conversations/${conv}/messages`, {
          token: await token('early-recv-bob'),
          body: { clientMessageId: crypto.randomUUID(), content: { text: 'while you connect' } },
        });
        assert.equal(r.status, 201);
        sent = r.body as Message;
        await sleep(300);
      }
      return fetch(request);
    };
    const alice = await device(app.url, 'early-recv-alice', { fetch: slowList });
    await sleep(300);
    assert.deepEqual(seqsOf(alice, conv), [sent!.seq]);
  });

  it('at the first connect, a conversation whose activity moves it during the chat-list paging is not replayed from seq 1', async () => {
    // alice has 101 conversations: the chat list comes in two pages of 100.
    const aliceToken = await token('page-alice');
    const peers = Array.from({ length: 101 }, (_, i) => `page-peer${i}`);
    const ids: string[] = [];
    for (const peer of peers) {
      const res = await http(app.url, 'POST', '/conversations', {
        token: aliceToken,
        body: { type: 'direct', participantIds: [peer] },
      });
      assert.equal(res.status, 201);
      ids.push(res.body.id as string);
    }
    // The oldest one (the last of page 2) has history: 2 messages.
    const oldest = ids[0]!;
    const peerToken = await token(peers[0]!);
    for (const text of ['old 1', 'old 2']) {
      const r = await http(app.url, 'POST', `/conversations/${oldest}/messages`, {
        token: peerToken,
        body: { clientMessageId: crypto.randomUUID(), content: { text } },
      });
      assert.equal(r.status, 201);
    }
    // Now every other conversation gets activity, so `oldest` is on page 2.
    for (const id of ids.slice(1)) {
      const r = await http(app.url, 'POST', `/conversations/${id}/messages`, {
        token: aliceToken,
        body: { clientMessageId: crypto.randomUUID(), content: { text: 'hi' } },
      });
      assert.equal(r.status, 201);
    }
    // While alice's client reads page 1, the peer writes in `oldest`: it moves to the top.
    let moved = false;
    const racing = async (request: Request) => {
      const url = new URL(request.url);
      if (!moved && url.pathname === '/conversations' && url.searchParams.get('cursor')) {
        moved = true;
        const r = await http(app.url, 'POST', `/conversations/${oldest}/messages`, {
          token: peerToken,
          body: { clientMessageId: crypto.randomUUID(), content: { text: 'new 3' } },
        });
        assert.equal(r.status, 201);
      }
      return fetch(request);
    };
    const alice = await device(app.url, 'page-alice', { fetch: racing });
    await until(() => seqsOf(alice, oldest).length > 0, 'the new message');
    await sleep(300);
    assert.ok(moved);
    assert.deepEqual(
      seqsOf(alice, oldest),
      [3],
      'only the message after the first connect (older ones are history, client/README.md)',
    );
  });

  it('at the first connect, a conversation the chat list misses altogether gets its start from GET /conversations/:id', async () => {
    const res = await http(app.url, 'POST', '/conversations', {
      token: await token('miss-alice'),
      body: { type: 'direct', participantIds: ['miss-bob'] },
    });
    assert.equal(res.status, 201);
    const conv = res.body.id as string;
    const bobToken = await token('miss-bob');
    const post = async (text: string) => {
      const r = await http(app.url, 'POST', `/conversations/${conv}/messages`, {
        token: bobToken,
        body: { clientMessageId: crypto.randomUUID(), content: { text } },
      });
      assert.equal(r.status, 201);
    };
    await post('old 1');
    await post('old 2');
    await device(app.url, 'miss-bob'); // online before alice comes: only her snapshot can tell
    // Every read of the chat list misses it (as if more than a page of conversations moved past it),
    // and it gets a message while the list is read.
    let posted = false;
    const missing = async (request: Request) => {
      const response = await fetch(request);
      if (request.method !== 'GET' || new URL(request.url).pathname !== '/conversations') return response;
      if (!posted) {
        posted = true;
        await post('new 3');
        await sleep(200);
      }
      const body = (await response.json()) as { items: { id: string }[] };
      body.items = body.items.filter((c) => c.id !== conv);
      return new Response(JSON.stringify(body), { status: response.status, headers: response.headers });
    };
    const alice = await device(app.url, 'miss-alice', { fetch: missing });
    await until(() => seqsOf(alice, conv).length > 0, 'the new message');
    await sleep(300);
    assert.deepEqual(seqsOf(alice, conv), [3], 'only the message after the first connect');
    assert.ok(
      alice.lists[0]!.some((c) => c.id === conv),
      'in the chat list `synced` gives',
    );
    await until(() => alice.presence.some((p) => p.userId === 'miss-bob'), 'bob in the presence snapshot');
    assert.equal(alice.presence.find((p) => p.userId === 'miss-bob')!.status, 'online');
  });
});

/** The app on a fixed port (an instance restarted behind the same address), in-process state. */
async function startAt(databaseUrl: string, port: number): Promise<TestApp> {
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    MIGRATIONS_RUN: 'false',
    REST_RATE_LIMIT: '100000',
    MESSAGE_RATE_LIMIT: '100000',
  });
  const logs = new LogCapture();
  const app = await createApp({ config, databaseUrl, logStream: logs });
  await app.listen(port, '127.0.0.1');
  const { port: actual } = app.getHttpServer().address() as AddressInfo;
  return { app, config, url: `http://127.0.0.1:${actual}`, logs, close: () => app.close() };
}

describe('client SDK edges: presence across a restart of a single instance (in-process state)', () => {
  let world: World;
  const running: TestApp[] = [];

  before(async () => {
    world = await testWorld();
  });
  after(async () => {
    for (const a of running) await a.close().catch(() => undefined);
    await world.close();
  });

  it('presence after reconnecting to a restarted instance: a contact shown online who left meanwhile is told offline', async () => {
    const port = await freePort();
    const first = await startAt(world.db.url, port);
    running.push(first);
    const res = await http(first.url, 'POST', '/conversations', {
      token: await token('rs-alice'),
      body: { type: 'direct', participantIds: ['rs-bob'] },
    });
    assert.equal(res.status, 201);
    const bob = await device(first.url, 'rs-bob');
    const alice = await device(first.url, 'rs-alice');
    const bobs = () => alice.presence.filter((p) => p.userId === 'rs-bob').map((p) => p.status);
    await until(() => bobs().length > 0, 'bob online, from the snapshot');
    assert.deepEqual(bobs(), ['online']);

    // The instance restarts (deploy); bob's phone goes away meanwhile and does not come back.
    const syncedBefore = alice.synced;
    await first.close();
    running.splice(running.indexOf(first), 1);
    bob.client.close();
    const second = await startAt(world.db.url, port);
    running.push(second);
    await until(() => alice.synced > syncedBefore, 'alice reconnected and synced', 20_000);

    const now = await http(second.url, 'GET', '/presence?userIds=rs-bob', { token: await token('rs-alice') });
    assert.equal(now.body.users[0].status, 'offline', 'the service says bob is offline');
    await sleep(500);
    assert.equal(
      bobs().at(-1),
      'offline',
      `alice's app still shows bob ${bobs().at(-1)} (${JSON.stringify(now.body)})`,
    );
    // The service no longer knows since when: the SDK says so (null), and tells it once.
    assert.equal(alice.presence.filter((p) => p.userId === 'rs-bob').at(-1)!.lastSeenAt, null);
    assert.deepEqual(bobs(), ['online', 'offline']);
  });
});

describe('client SDK edges: stress, two instances behind Redis', () => {
  let world: World;
  let a: TestApp;
  let b: TestApp;

  before(async () => {
    world = await testWorld({ redis: true });
    a = await world.start();
    b = await world.start();
  });
  after(async () => {
    await world.close();
  });

  it('two senders on two instances, a reconnecting receiver, lost acks and an expiring token: every device gets 1..N once, in order', async () => {
    const alice = await device(a.url, 'st-alice');
    const g = await alice.client.group('stress', ['st-bob', 'st-carol']);
    const reasons: string[] = [];
    const carol = await device(b.url, 'st-carol', {
      token: await token('st-carol', { ttlS: 2 }),
      refreshToken: async (reason) => {
        reasons.push(reason);
        await sleep(100);
        return token('st-carol');
      },
    });
    const bob = await device(b.url, 'st-bob');
    const bob2 = await device(a.url, 'st-bob');

    // alice loses her first two acks: one by a dropped line, one by a timeout.
    const acks = alice.client.socket as unknown as { onack(packet: unknown): void };
    const onack = acks.onack.bind(acks);
    let lost = 0;
    acks.onack = (packet) => {
      lost++;
      if (lost === 3) return alice.client.socket.io.engine.close();
      if (lost === 10) return;
      onack(packet);
    };

    const N = 80;
    const sends: Promise<Message>[] = [];
    const burst = (async () => {
      for (let i = 0; i < N; i++) {
        sends.push(alice.client.send(g.id, `a${i}`).sent);
        sends.push(carol.client.send(g.id, `c${i}`).sent);
        await sleep(30);
      }
    })();
    await until(() => seqsOf(bob, g.id).length >= 20, '20');
    bob.client.socket.io.engine.close();
    await until(() => seqsOf(bob, g.id).length >= 60, '60');
    bob2.client.socket.io.engine.close();
    await burst;
    const sent = await Promise.all(sends);
    assert.equal(new Set(sent.map((m) => m.seq)).size, 2 * N, 'each send stored once');
    const all = Array.from({ length: 2 * N }, (_, i) => i + 1);
    for (const [name, d] of [
      ['alice', alice],
      ['carol', carol],
      ['bob', bob],
      ['bob2', bob2],
    ] as const) {
      await until(() => seqsOf(d, g.id).length >= 2 * N, `${name} has all`, 20_000);
    }
    await sleep(500);
    for (const [name, d] of [
      ['alice', alice],
      ['carol', carol],
      ['bob', bob],
      ['bob2', bob2],
    ] as const)
      assert.deepEqual(seqsOf(d, g.id), all, `${name}: each once, in order`);
    assert.deepEqual(reasons, ['token_expired']);
    // Per sender, the order given.
    const texts = bob.messages.filter((m) => m.conversationId === g.id).map((m) => m.content?.text ?? '');
    assert.deepEqual(
      texts.filter((t) => t.startsWith('a')),
      Array.from({ length: N }, (_, i) => `a${i}`),
    );
    assert.deepEqual(
      texts.filter((t) => t.startsWith('c')),
      Array.from({ length: N }, (_, i) => `c${i}`),
    );
  });
});

describe('client SDK edges: stress, Redis stalls under two instances', () => {
  it('Redis frozen for 3 s in the middle of a burst: the receiver on the other instance still gets 1..N once, in order', async () => {
    const world = await testWorld({ redis: true });
    const redis = await RedisServer.start();
    try {
      const env = { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '300' };
      const A = await world.start(env);
      const B = await world.start(env);
      const alice = await device(A.url, 'fz-alice', { ackTimeoutMs: 1500 });
      const bob = await device(B.url, 'fz-bob');
      const conv = await alice.client.direct('fz-bob');
      const N = 60;
      const sends: Promise<Message>[] = [];
      for (let i = 0; i < N; i++) {
        sends.push(alice.client.send(conv.id, `m${i}`).sent);
        if (i === 15) {
          await until(() => seqsOf(bob, conv.id).length >= 5, 'a few');
          redis.pause();
          setTimeout(() => redis.resume(), 3000);
        }
        await sleep(60);
      }
      const sent = await Promise.all(sends);
      const all = Array.from({ length: N }, (_, i) => i + 1);
      assert.deepEqual(
        sent.map((m) => m.seq),
        all,
      );
      await until(() => seqsOf(bob, conv.id).length >= N, 'bob has all', 30_000);
      await until(() => seqsOf(alice, conv.id).length >= N, 'alice has all', 30_000);
      await sleep(2500);
      assert.deepEqual(seqsOf(bob, conv.id), all);
      assert.deepEqual(seqsOf(alice, conv.id), all);
    } finally {
      redis.resume();
      await world.close();
      await redis.stop();
    }
  });
});
