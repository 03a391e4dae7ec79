// Fault injection: PostgreSQL connections really die. (1) The service's backends are terminated
// with pg_terminate_backend again and again during a burst of sends (REST and sockets); (2) the
// database refuses every connection for a while (ALLOW_CONNECTIONS false + terminate), then takes
// them again. Meanwhile: REST 503 SERVICE_UNAVAILABLE, socket acks SERVICE_UNAVAILABLE, readiness
// 503, never a 500 / INTERNAL, no crash, no message text in the logs; after: the pool reconnects by
// itself, and the database holds every acked message exactly once, seqs 1..N without gaps.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import type { Socket } from 'socket.io-client';
import { connectSocket, directPair, emitAck, http, testWorld, token, type TestApp } from './support/app';
import { ADMIN_URL } from './support/db';
import { sleep, until } from './support/processes';

const TEXT_MARK = 'PGFAULT-private-text';

describe('fault injection: PostgreSQL connections terminated and refused', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  let admin: Client;
  let dbName: string;
  /** What would crash a real process (the test runner only reports it). */
  const crashes: string[] = [];
  const onCrash = (err: unknown) => crashes.push(err instanceof Error ? err.message : String(err));

  before(async () => {
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    world = await testWorld();
    dbName = world.db.name;
    app = await world.start({ DATABASE_POOL_SIZE: '6', SEND_QUEUE_WAIT_MS: '2000' });
    admin = new Client({ connectionString: ADMIN_URL });
    await admin.connect();
  });
  after(async () => {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    await admin?.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin?.end().catch(() => undefined);
    await world?.close();
  });

  /** Terminates every backend of the service on the test database; returns how many. */
  async function terminate(): Promise<number> {
    const { rows } = await admin.query<{ killed: boolean }>(
      `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
        WHERE datname = $1 AND application_name = 'chat-service' AND pid <> pg_backend_pid()`,
      [dbName],
    );
    return rows.filter((r) => r.killed).length;
  }

  async function checkDatabase(conv: string, acked: Map<string, { id: string; seq: number }>) {
    const c = new Client({ connectionString: world.db.url });
    await c.connect();
    try {
      const { rows } = await c.query<{ client_message_id: string; seq: number; id: string; content: any }>(
        'SELECT client_message_id, seq, id, content FROM messages WHERE conversation_id = $1 ORDER BY seq',
        [conv],
      );
      assert.deepEqual(
        rows.map((r) => r.seq),
        Array.from({ length: rows.length }, (_, i) => i + 1),
        'seqs are gap-free',
      );
      assert.equal(rows.length, acked.size, 'one row per acked message, nothing half-written or extra');
      for (const row of rows) {
        const ack = acked.get(row.client_message_id);
        assert.ok(ack, `row ${row.seq} was never acked`);
        assert.equal(ack.id, row.id);
        assert.equal(ack.seq, row.seq);
        assert.ok(String(row.content?.text).startsWith(TEXT_MARK));
      }
      const conversation = await c.query<{ last_seq: number }>(
        'SELECT last_seq FROM conversations WHERE id = $1',
        [conv],
      );
      assert.equal(conversation.rows[0]!.last_seq, acked.size, 'last_seq matches the rows');
      return rows.length;
    } finally {
      await c.end();
    }
  }

  async function conversation(): Promise<{ conv: string; alice: string; bob: string; socket: Socket }> {
    const { alice, bob, conv } = await directPair(app.url);
    return { conv, alice, bob, socket: await connectSocket(app.url, await token(alice)) };
  }

  /** One message sent until acked, alternating REST and socket, retried with the same clientMessageId. */
  async function sendUntilAcked(
    ctx: { conv: string; alice: string; socket: Socket },
    i: number,
    acked: Map<string, { id: string; seq: number }>,
    errors: Map<string, number>,
    deadlineMs: number,
  ) {
    const clientMessageId = randomUUID();
    const body = { clientMessageId, content: { text: `${TEXT_MARK} ${i}` } };
    const tok = await token(ctx.alice);
    for (let attempt = 0; ; attempt++) {
      let failure: string;
      if ((i + attempt) % 2 === 0) {
        const res = await http(app.url, 'POST', `/conversations/${ctx.conv}/messages`, { token: tok, body });
        if (res.status === 201 || res.status === 200) {
          acked.set(clientMessageId, { id: res.body.id, seq: res.body.seq });
          return;
        }
        failure = `REST ${res.status} ${res.body?.code}`;
      } else {
        const ack = await emitAck(ctx.socket, 'message:send', { conversationId: ctx.conv, ...body }, 10_000);
        if (ack.ok) {
          acked.set(clientMessageId, { id: ack.data.id, seq: ack.data.seq });
          return;
        }
        failure = `ack ${ack.error.code}`;
      }
      errors.set(failure, (errors.get(failure) ?? 0) + 1);
      if (Date.now() > deadlineMs) assert.fail(`message ${i} never acked; last: ${failure}`);
      await sleep(50 + Math.random() * 100);
    }
  }

  it('backends terminated again and again during a burst: only SERVICE_UNAVAILABLE, then everything acked exactly once', async () => {
    const ctx = await conversation();
    const acked = new Map<string, { id: string; seq: number }>();
    const errors = new Map<string, number>();
    let killed = 0;
    let rounds = 0;
    let stop = false;
    const killer = (async () => {
      while (!stop) {
        await sleep(150 + Math.random() * 250);
        if (stop) break;
        killed += await terminate();
        rounds++;
      }
    })();
    const deadline = Date.now() + 40_000;
    const N = 300;
    // Eight senders in parallel, each sending its share in order.
    try {
      await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (let i = w; i < N; i += 8) await sendUntilAcked(ctx, i, acked, errors, deadline);
        }),
      );
    } finally {
      stop = true;
      await killer;
      ctx.socket.close();
    }
    assert.ok(killed > 0, 'no backend was terminated: the fault was not injected');
    assert.deepEqual(crashes, [], 'an error escaped (it would crash the process)');
    for (const code of errors.keys())
      assert.match(
        code,
        /^(REST 503 SERVICE_UNAVAILABLE|ack SERVICE_UNAVAILABLE)$/,
        `unexpected failure ${code}`,
      );
    assert.equal(await checkDatabase(ctx.conv, acked), N);
    console.log(
      `# pg_terminate_backend: ${rounds} rounds, ${killed} backends killed, ${N} messages, failures: ${JSON.stringify(Object.fromEntries(errors))}`,
    );
  });

  it('a kill storm (every backend terminated every 40 ms for 5 s): no escaped error, only 503 / SERVICE_UNAVAILABLE', async () => {
    const ctx = await conversation();
    const tok = await token(ctx.alice);
    const statuses = new Map<string, number>();
    let stop = false;
    let killed = 0;
    const killer = (async () => {
      while (!stop) {
        await sleep(40);
        killed += await terminate();
      }
    })();
    const end = Date.now() + 5000;
    try {
      await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (let i = 0; Date.now() < end; i++) {
            const body = { clientMessageId: randomUUID(), content: { text: `${TEXT_MARK} storm` } };
            let outcome: string;
            if (w % 2) {
              const res = await http(app.url, 'POST', `/conversations/${ctx.conv}/messages`, {
                token: tok,
                body,
              });
              outcome = `REST ${res.status} ${res.body?.code ?? ''}`.trim();
            } else {
              const ack = await emitAck(
                ctx.socket,
                'message:send',
                { conversationId: ctx.conv, ...body },
                10_000,
              );
              outcome = ack.ok ? 'ack ok' : `ack ${ack.error.code}`;
            }
            statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
          }
        }),
      );
    } finally {
      stop = true;
      await killer;
      ctx.socket.close();
    }
    assert.ok(killed > 0, 'no backend was terminated');
    assert.deepEqual(crashes, [], 'an error escaped (it would crash the process)');
    for (const outcome of statuses.keys())
      assert.match(
        outcome,
        /^(REST 201|ack ok|REST 503 SERVICE_UNAVAILABLE|ack SERVICE_UNAVAILABLE)$/,
        outcome,
      );
    await until(async () => (await http(app.url, 'GET', '/health/ready')).status === 200, 'readiness back');
    console.log(
      `# kill storm: ${killed} backends killed, outcomes ${JSON.stringify(Object.fromEntries(statuses))}`,
    );
  });

  it('a database that refuses connections: 503s and SERVICE_UNAVAILABLE acks, readiness false, then recovery by itself', async () => {
    const ctx = await conversation();
    const acked = new Map<string, { id: string; seq: number }>();
    const errors = new Map<string, number>();
    const tok = await token(ctx.alice);
    const bobSocket = await connectSocket(app.url, await token(ctx.bob));
    const drops: string[] = [];
    for (const s of [ctx.socket, bobSocket]) s.on('disconnect', (r) => drops.push(r));
    // Some messages before the outage.
    for (let i = 0; i < 5; i++) await sendUntilAcked(ctx, i, acked, errors, Date.now() + 10_000);
    assert.equal(errors.size, 0);

    await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS false`);
    await terminate();
    try {
      await until(async () => (await http(app.url, 'GET', '/health/ready')).status === 503, 'readiness 503');
      const ready = await http(app.url, 'GET', '/health/ready');
      assert.equal(ready.body.details.database.status, 'down');
      assert.equal((await http(app.url, 'GET', '/health/live')).status, 200, 'still alive');

      // Every kind of request answers 503 SERVICE_UNAVAILABLE (twice: fresh and with the pool already failing).
      const probes: [string, string, unknown?][] = [
        ['GET', '/conversations'],
        ['GET', `/conversations/${ctx.conv}`],
        ['GET', `/conversations/${ctx.conv}/messages?after=0`],
        [
          'POST',
          `/conversations/${ctx.conv}/messages`,
          { clientMessageId: randomUUID(), content: { text: `${TEXT_MARK} down` } },
        ],
        ['POST', `/conversations/${ctx.conv}/read`, { seq: 1 }],
        [
          'POST',
          '/conversations',
          { type: 'direct', participantIds: [`carol.${randomBytes(2).toString('hex')}`] },
        ],
      ];
      for (let round = 0; round < 2; round++) {
        for (const [method, path, body] of probes) {
          const res = await http(app.url, method, path, { token: tok, body });
          assert.equal(res.status, 503, `${method} ${path}: ${JSON.stringify(res.body)}`);
          assert.equal(res.body.code, 'SERVICE_UNAVAILABLE');
          assert.doesNotMatch(JSON.stringify(res.body), /SELECT|INSERT|UPDATE|postgres|stack/i);
        }
      }
      const ack = await emitAck(
        ctx.socket,
        'message:send',
        { conversationId: ctx.conv, clientMessageId: randomUUID(), content: { text: `${TEXT_MARK} down` } },
        15_000,
      );
      assert.deepEqual(ack.ok, false);
      assert.equal(ack.error.code, 'SERVICE_UNAVAILABLE', JSON.stringify(ack));
      const read = await emitAck(
        ctx.socket,
        'conversation:read',
        { conversationId: ctx.conv, seq: 1 },
        15_000,
      );
      assert.equal(read.ok, false);
      assert.equal(read.error.code, 'SERVICE_UNAVAILABLE', JSON.stringify(read));
      // A burst of sends starts during the outage and is retried until the database returns.
      const burst = Promise.all(
        Array.from({ length: 4 }, async (_, w) => {
          for (let i = 5 + w; i < 25; i += 4)
            await sendUntilAcked(ctx, i, acked, errors, Date.now() + 40_000);
        }),
      );
      await sleep(1500);
      await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`);
      await burst;
    } finally {
      await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`);
    }
    await until(async () => (await http(app.url, 'GET', '/health/ready')).status === 200, 'readiness back');
    for (const code of errors.keys())
      assert.match(
        code,
        /^(REST 503 SERVICE_UNAVAILABLE|ack SERVICE_UNAVAILABLE)$/,
        `unexpected failure ${code}`,
      );
    assert.ok(errors.size > 0, 'the burst met the outage');
    assert.equal(await checkDatabase(ctx.conv, acked), 25);
    assert.deepEqual(drops, [], 'no socket was disconnected by the outage');
    assert.deepEqual(crashes, [], 'an error escaped (it would crash the process)');
    ctx.socket.close();
    bobSocket.close();
    // Never a 500, and never the message text or a token in the logs.
    const logs = app.logs.raw.join('\n');
    assert.ok(!logs.includes(TEXT_MARK), 'message text in the logs');
    assert.ok(!logs.includes(tok.split('.')[2]!), 'a token in the logs');
    const internal = app.logs.lines.filter((l) => /unhandled error|socket event failed/.test(String(l.msg)));
    assert.deepEqual(internal, [], 'an error was handled as INTERNAL');
  });
});
