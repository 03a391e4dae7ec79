import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Redis from 'ioredis';
import { RedisService } from '../src/state/redis.service';
import {
  connectSocket,
  directPair,
  emitAck,
  http,
  nextEvent,
  TEST_REDIS_URL,
  testWorld,
  token,
  type TestApp,
} from './support/app';

describe('realtime smoke (two instances, Redis)', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let a: TestApp;
  let b: TestApp;
  before(async () => {
    world = await testWorld({ redis: true });
    a = await world.start({ TYPING_TTL_S: '1' });
    b = await world.start({ TYPING_TTL_S: '1' });
  });
  after(() => world.close());

  it('delivers message:new across instances in order, acks the sender', async () => {
    const ta = await token('alice');
    const tb = await token('bob');
    const conv = await http(a.url, 'POST', '/conversations', {
      token: ta,
      body: { type: 'direct', participantIds: ['bob'] },
    });
    const sa = await connectSocket(a.url, ta);
    const sb = await connectSocket(b.url, tb);
    const seen: number[] = [];
    sb.on('message:new', (m: any) => seen.push(m.seq));
    const acks = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        emitAck(sa, 'message:send', {
          conversationId: conv.body.id,
          clientMessageId: randomUUID(),
          content: { text: `hi ${i}` },
        }),
      ),
    );
    assert.ok(
      acks.every((x) => x.ok),
      JSON.stringify(acks.find((x) => !x.ok)),
    );
    const deadline = Date.now() + 15_000;
    while (seen.length < 50 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      seen,
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    const unread = nextEvent(sb, 'unread:updated');
    const receipt = nextEvent(sa, 'receipt:read');
    const read = await emitAck(sb, 'conversation:read', { conversationId: conv.body.id, seq: 50 });
    assert.deepEqual(read, { ok: true, data: { lastReadSeq: 50, unreadCount: 0 } });
    assert.equal((await unread).unreadCount, 0);
    assert.equal((await receipt).seq, 50);
    const typing = nextEvent(sb, 'typing', 5000, (t: any) => t.isTyping === false);
    assert.deepEqual(await emitAck(sa, 'typing:start', { conversationId: conv.body.id }), {
      ok: true,
      data: {},
    });
    assert.equal((await typing).userId, 'alice');
    const bad = await emitAck(sa, 'message:send', { conversationId: 'nope' });
    assert.equal(bad.ok, false);
    assert.equal(bad.error.code, 'VALIDATION_FAILED');
    const unknown = await emitAck(sa, 'what:ever', {});
    assert.equal(unknown.error.code, 'VALIDATION_FAILED');
    sa.close();
    sb.close();
  });

  it('an instance listens only once its Redis connections are up and subscribed', async () => {
    // Before, one boot in a few answered while its main connection was still connecting: its sends
    // fell back to in-process fan-out and never reached the other instances (CI: 0 of 50 crossed).
    const { alice, bob, conv } = await directPair(a.url);
    const listener = await connectSocket(b.url, await token(bob));
    const sender = await token(alice);
    const redis = new Redis(TEST_REDIS_URL);
    // What Redis holds when a delivery is missing: which instances listen, where the stream stands.
    const state = async () => {
      const p = world.redisPrefix!;
      const [, ordered] = (await redis.pubsub('NUMSUB', `${p}ordered`)) as [string, number];
      const last = await redis.get(`${p}ord:{${conv}}:last`);
      const waiting = await redis.hkeys(`${p}ord:{${conv}}:wait`);
      return `ordered subscribers ${ordered}, stream at ${last}, waiting [${waiting.join(',')}]`;
    };
    try {
      for (let i = 0; i < 6; i++) {
        const app = await world.start();
        assert.equal(app.app.get(RedisService).ready(), true, `boot ${i}: main connection not ready`);
        const [, io, , ordered] = (await redis.pubsub(
          'NUMSUB',
          `${world.redisPrefix}socket.io-request#/#`,
          `${world.redisPrefix}ordered`,
        )) as [string, number, string, number];
        assert.equal(io, i + 3, `boot ${i}: not every instance subscribed to the adapter's channel`);
        // One boot in a few dozen under load subscribed during its connection's handshake and lost
        // the subscription (redis/ioredis#2037): src/state/redis-subscribe.ts.
        assert.equal(ordered, i + 3, `boot ${i}: not every instance subscribed to the ordered channel`);
        // The new instance's first send reaches a socket on another instance.
        const delivered = nextEvent(listener, 'message:new', 3000, (m: any) => m.seq === 2 * i + 1);
        const sent = await http(app.url, 'POST', `/conversations/${conv}/messages`, {
          token: sender,
          body: { clientMessageId: randomUUID(), content: { text: `boot ${i}` } },
        });
        assert.equal(sent.status, 201, JSON.stringify(sent.body));
        await delivered.catch(async (err: Error) => {
          throw new Error(
            `boot ${i}: its send did not reach the other instance (${err.message}; ${await state()})`,
          );
        });
        // And the new instance receives what another instance publishes (its own subscription).
        const device = await connectSocket(app.url, await token(bob));
        try {
          const received = nextEvent(
            device,
            'message:new',
            3000,
            (m: any) => m.content?.text === `to boot ${i}`,
          );
          const back = await http(a.url, 'POST', `/conversations/${conv}/messages`, {
            token: sender,
            body: { clientMessageId: randomUUID(), content: { text: `to boot ${i}` } },
          });
          assert.equal(back.status, 201, JSON.stringify(back.body));
          await received.catch(async (err: Error) => {
            throw new Error(
              `boot ${i}: did not receive another instance's send (${err.message}; ${await state()})`,
            );
          });
        } finally {
          device.close();
        }
      }
    } finally {
      listener.close();
      redis.disconnect();
    }
  });
});
