// Fault injection: Redis really goes away (a redis-server of this test's own, killed with SIGKILL)
// under two instances that share it, and comes back on the same port, empty. While it is down each
// instance keeps serving on its own view (messages persisted and delivered to its own sockets,
// readiness `degraded`); after, cross-instance fan-out returns by itself. Every acked message is
// checked against the database: seq 1..N without gaps, one row per clientMessageId.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import type { Socket } from 'socket.io-client';
import { connectSocket, directPair, emitAck, http, testWorld, token, type TestApp } from './support/app';
import { RedisServer, sleep, until } from './support/processes';

interface Device {
  name: string;
  socket: Socket;
  seqs: number[];
  drops: string[];
}

describe('fault injection: Redis killed and restarted under two instances', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let redis: RedisServer;
  let A: TestApp;
  let B: TestApp;
  let pg: Client;
  const devices: Device[] = [];
  /** What would crash a real process (the test runner only reports it). */
  const crashes: string[] = [];
  const onCrash = (err: unknown) => crashes.push(err instanceof Error ? err.message : String(err));

  before(async () => {
    process.on('unhandledRejection', onCrash);
    process.on('uncaughtException', onCrash);
    redis = await RedisServer.start();
    world = await testWorld({ redis: true });
    [A, B] = await Promise.all([
      world.start({ REDIS_URL: redis.url }),
      world.start({ REDIS_URL: redis.url }),
    ]);
    pg = new Client({ connectionString: world.db.url });
    await pg.connect();
  });
  after(async () => {
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtException', onCrash);
    for (const d of devices) d.socket.close();
    await pg?.end().catch(() => undefined);
    await world?.close();
    await redis?.stop();
  });

  async function device(app: TestApp, userId: string, conversationId: string): Promise<Device> {
    const socket = await connectSocket(app.url, await token(userId));
    const d: Device = { name: `${userId}@${app === A ? 'A' : 'B'}`, socket, seqs: [], drops: [] };
    socket.on('message:new', (m: { conversationId: string; seq: number }) => {
      if (m.conversationId === conversationId) d.seqs.push(m.seq);
    });
    socket.on('disconnect', (reason) => d.drops.push(reason));
    devices.push(d);
    return d;
  }
  const ready = async (app: TestApp) => (await http(app.url, 'GET', '/health/ready')).body;

  /** Sends `n` messages from `d`, retrying any send that is not acked ok with the same clientMessageId. */
  async function burst(d: Device, conversationId: string, n: number, acked: Map<string, any>) {
    for (let i = 0; i < n; i++) {
      const clientMessageId = randomUUID();
      for (let attempt = 0; ; attempt++) {
        const ack = await emitAck(d.socket, 'message:send', {
          conversationId,
          clientMessageId,
          content: { text: `${d.name} ${i}` },
        }).catch((err: Error) => ({ ok: false, error: { code: 'TIMEOUT', message: err.message } }));
        if (ack.ok) {
          acked.set(clientMessageId, ack.data);
          break;
        }
        assert.ok(attempt < 20, `send kept failing: ${JSON.stringify(ack)}`);
        await sleep(100);
      }
    }
  }

  it('keeps serving on each instance while Redis is down, recovers by itself, and loses or duplicates nothing', async () => {
    const { alice, bob, conv } = await directPair(A.url);
    const aliceA = await device(A, alice, conv);
    const bobA = await device(A, bob, conv);
    const bobB = await device(B, bob, conv);
    const aliceB = await device(B, alice, conv);
    const acked = new Map<string, any>();

    // Healthy: a message from A reaches B.
    assert.equal((await ready(A)).details.redis.status, 'up');
    await burst(aliceA, conv, 5, acked);
    await until(() => bobB.seqs.length === 5, 'cross-instance delivery before the fault');

    let faults = 0;
    for (let round = 0; round < 2; round++) {
      await redis.stop();
      faults++;
      // Readiness: still 200 (the instance serves), Redis reported degraded.
      await until(
        async () => (await ready(A)).details?.redis?.status === 'degraded',
        'readiness degraded on A',
      );
      const r = await http(A.url, 'GET', '/health/ready');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.status, 'degraded');
      assert.equal(r.body.details.database.status, 'up');
      assert.equal(r.body.details.redis.mode, 'in-process fallback');
      assert.equal((await ready(B)).details.redis.status, 'degraded');

      // Sends on both instances are stored and reach the sockets of their own instance.
      const beforeA = bobA.seqs.length;
      const beforeB = aliceB.seqs.length;
      await Promise.all([burst(aliceA, conv, 10, acked), burst(bobB, conv, 10, acked)]);
      await until(() => bobA.seqs.length >= beforeA + 10, 'local delivery on A while Redis is down');
      await until(() => aliceB.seqs.length >= beforeB + 10, 'local delivery on B while Redis is down');
      // REST still works (rate limits fall back to process memory); the history has everything.
      const list = await http(B.url, 'GET', '/conversations', { token: await token(bob) });
      assert.equal(list.status, 200);
      assert.equal(list.body.items[0].lastSeq, acked.size);
      const typing = await emitAck(aliceA.socket, 'typing:start', { conversationId: conv });
      assert.equal(typing.ok, true, JSON.stringify(typing));
      const beat = await emitAck(bobB.socket, 'presence:heartbeat', {});
      assert.equal(beat.ok, true, JSON.stringify(beat));

      await redis.restart();
      await until(
        async () =>
          (await ready(A)).details?.redis?.status === 'up' &&
          (await ready(B)).details?.redis?.status === 'up',
        'readiness up again on both',
      );
      // Cross-instance fan-out is back: a message from A reaches bob's device on B.
      const onB = bobB.seqs.length;
      await until(
        async () => {
          await burst(aliceA, conv, 1, acked);
          await sleep(200);
          return bobB.seqs.length > onB && bobB.seqs.at(-1) === acked.size;
        },
        'cross-instance delivery after Redis returned',
        20_000,
      );
    }
    assert.equal(faults, 2);

    // The database is the truth: every acked message once, seqs 1..N with no gap.
    const { rows } = await pg.query<{ client_message_id: string; seq: string; id: string }>(
      'SELECT client_message_id, seq, id FROM messages WHERE conversation_id = $1 ORDER BY seq',
      [conv],
    );
    assert.deepEqual(
      rows.map((r) => Number(r.seq)),
      Array.from({ length: rows.length }, (_, i) => i + 1),
      'seqs are gap-free',
    );
    assert.equal(rows.length, acked.size, 'one row per acked message, nothing more');
    for (const row of rows) {
      const ack = acked.get(row.client_message_id);
      assert.ok(ack, `row ${row.seq} was never acked`);
      assert.equal(ack.id, row.id);
      assert.equal(ack.seq, Number(row.seq));
    }
    // Each device saw each seq at most once, in increasing order (catch-up with after= fills the rest).
    for (const d of devices) {
      assert.deepEqual(
        d.seqs,
        [...d.seqs].sort((x, y) => x - y),
        `${d.name} in order`,
      );
      assert.equal(new Set(d.seqs).size, d.seqs.length, `${d.name} no duplicates`);
    }
    // No socket was dropped by the outages.
    assert.deepEqual(
      devices.filter((d) => d.drops.length).map((d) => `${d.name}: ${d.drops.join(',')}`),
      [],
    );
    // Catch-up after the outage gives bob on B everything (what fan-out could not carry across).
    const history = await http(B.url, 'GET', `/conversations/${conv}/messages?after=0&limit=100`, {
      token: await token(bob),
    });
    assert.equal(history.status, 200);
    assert.equal(history.body.items.length, acked.size);
    console.log(
      `# Redis killed ${faults} times under two instances: ${rows.length} acked messages checked in the database`,
    );
    assert.deepEqual(crashes, [], 'an error escaped (it would crash the process)');
    // Nothing crashed: both instances still answer.
    assert.equal((await http(A.url, 'GET', '/health/live')).status, 200);
    assert.equal((await http(B.url, 'GET', '/health/live')).status, 200);
  });
});

describe('fault injection: Redis stalls (the connection stays open, nothing is answered)', () => {
  it('REST still answers, on in-process state, each Redis call failing after REDIS_COMMAND_TIMEOUT_MS', async () => {
    const world = await testWorld();
    const redis = await RedisServer.start();
    try {
      const app = await world.start({ REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '300' });
      const [alice, bob] = [`stall-a.${Date.now()}`, `stall-b.${Date.now()}`];
      const created = await http(app.url, 'POST', '/conversations', {
        token: await token(alice),
        body: { type: 'direct', participantIds: [bob] },
      });
      assert.equal(created.status, 201);
      redis.pause();
      // Before: the rate limiter's call never came back, nor did the request.
      const answer = await Promise.race([
        http(app.url, 'GET', '/conversations', { token: await token(alice) }).then((r) => r.status),
        sleep(20_000).then(() => 'no answer'),
      ]);
      assert.equal(answer, 200);
      const sent = await http(app.url, 'POST', `/conversations/${created.body.id}/messages`, {
        token: await token(alice),
        body: { clientMessageId: randomUUID(), content: { text: 'still here' } },
      });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
    } finally {
      redis.resume();
      await world.close();
      await redis.stop();
    }
  });
});

describe('fault injection: instances started while Redis is down', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let redis: RedisServer;
  const crashes: string[] = [];
  const onCrash = (err: unknown) => crashes.push(err instanceof Error ? err.message : String(err));
  const sockets: Socket[] = [];

  before(async () => {
    process.on('unhandledRejection', onCrash);
    process.on('uncaughtException', onCrash);
    redis = await RedisServer.start();
    await redis.stop();
    world = await testWorld({ redis: true });
  });
  after(async () => {
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtException', onCrash);
    for (const s of sockets) s.close();
    await world?.close();
    await redis?.stop();
  });

  it('boot and serve on their own view, then join the shared state by themselves when Redis comes up', async () => {
    const [A, B] = await Promise.all([
      world.start({ REDIS_URL: redis.url }),
      world.start({ REDIS_URL: redis.url }),
    ]);
    for (const app of [A, B]) {
      const r = await http(app.url, 'GET', '/health/ready');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.details.redis.status, 'degraded');
    }
    const { alice, bob, conv } = await directPair(A.url);
    const a = await connectSocket(A.url, await token(alice));
    const b = await connectSocket(B.url, await token(bob));
    sockets.push(a, b);
    const seen: { event: string; payload: any }[] = [];
    b.onAny((event: string, payload: unknown) => seen.push({ event, payload }));
    const local = await emitAck(a, 'message:send', {
      conversationId: conv,
      clientMessageId: randomUUID(),
      content: { text: 'while Redis is down' },
    });
    assert.equal(local.ok, true, JSON.stringify(local));

    await redis.restart();
    await until(
      async () =>
        (await http(A.url, 'GET', '/health/ready')).body.details?.redis?.status === 'up' &&
        (await http(B.url, 'GET', '/health/ready')).body.details?.redis?.status === 'up',
      'readiness up on both',
    );
    // The ordered channel (message:new) and the Socket.IO adapter (typing, deletes) now cross instances.
    await until(
      async () => {
        const sent = await emitAck(a, 'message:send', {
          conversationId: conv,
          clientMessageId: randomUUID(),
          content: { text: 'after' },
        });
        assert.equal(sent.ok, true, JSON.stringify(sent));
        // start then stop: each attempt is a change, announced afresh (a renewal is not announced).
        await emitAck(a, 'typing:start', { conversationId: conv });
        await emitAck(a, 'typing:stop', { conversationId: conv });
        await sleep(200);
        return (
          seen.some((e) => e.event === 'message:new' && e.payload.id === sent.data.id) &&
          seen.some((e) => e.event === 'typing' && e.payload.userId === alice)
        );
      },
      'message:new and typing from A to reach B',
      20_000,
    );
    assert.deepEqual(crashes, [], 'an error escaped (it would crash the process)');
  });
});
