// Retention (CONTRACT §3) against the real app and PostgreSQL: messages older than RETENTION_DAYS
// leave every read path at once, are tombstoned by the sweep (unread counters corrected) and purged
// a day later; live messages are untouched.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { RetentionService } from '../src/messages/retention.service';
import { http, testWorld, token, type TestApp } from './support/app';

const DAY_MS = 86_400_000;

describe('retention', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  let pg: Pool;
  let retention: RetentionService;
  const tok: Record<string, string> = {};

  const call = (u: string, method: string, path: string, body?: unknown) =>
    http(app.url, method, path, { token: tok[u], body });
  const send = async (u: string, id: string, text: string) => {
    const res = await call(u, 'POST', `/conversations/${id}/messages`, {
      clientMessageId: randomUUID(),
      content: { text },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };
  async function group(owner: string, others: string[]): Promise<string> {
    const res = await call(owner, 'POST', '/conversations', {
      type: 'group',
      title: 'r',
      participantIds: others,
    });
    assert.equal(res.status, 201);
    return res.body.id;
  }
  /** Makes messages `days` old, as if they had been sent then. */
  const age = (id: string, seqs: number[], days: number) =>
    pg.query(
      `UPDATE messages SET created_at = now() - make_interval(days => $3) WHERE conversation_id = $1 AND seq = ANY($2::int[])`,
      [id, seqs, days],
    );
  async function unreadState(id: string): Promise<Record<string, { stored: number; brute: number }>> {
    const { rows } = await pg.query(
      `SELECT p.user_id, p.unread_count AS stored,
              (SELECT count(*)::int FROM messages m
                WHERE m.conversation_id = p.conversation_id AND m.seq > p.last_read_seq
                  AND m.sender_id IS DISTINCT FROM p.user_id AND m.deleted_at IS NULL) AS brute
         FROM participants p WHERE p.conversation_id = $1`,
      [id],
    );
    return Object.fromEntries(rows.map((r) => [r.user_id, { stored: r.stored, brute: r.brute }]));
  }
  async function assertCountersExact(id: string, label: string): Promise<void> {
    for (const [u, { stored, brute }] of Object.entries(await unreadState(id))) {
      assert.equal(stored, brute, `${label}: ${u} stored`);
      const view = await call(u, 'GET', `/conversations/${id}`);
      assert.equal(view.body.unreadCount, brute, `${label}: ${u} over REST`);
    }
  }
  const seqsOf = async (id: string) =>
    (await pg.query(`SELECT seq FROM messages WHERE conversation_id = $1 ORDER BY seq`, [id])).rows.map(
      (r) => r.seq,
    );

  before(async () => {
    world = await testWorld();
    // No scheduled sweep: the test runs each one, at the time it chooses.
    app = await world.start({ RETENTION_SWEEP_S: '0', RETENTION_DAYS: '90', REST_RATE_LIMIT: '1000000' });
    retention = app.app.get(RetentionService);
    pg = new Pool({ connectionString: world.db.url, max: 3 });
    for (const u of ['ann', 'ben', 'cat']) tok[u] = await token(u);
  });
  after(async () => {
    await pg?.end();
    await world?.close();
  });

  it('hides expired messages at once, tombstones them on the sweep, purges them a day later', async () => {
    const id = await group('ann', ['ben', 'cat']);
    const senders = ['ann', 'cat', 'ann', 'cat', 'ann', 'ann', 'cat', 'ann', 'cat', 'ann'];
    const sent = [];
    for (const [i, u] of senders.entries()) sent.push(await send(u, id, `m${i + 1}`));
    // ben only reads: up to 2.
    await call('ben', 'POST', `/conversations/${id}/read`, { seq: 2 });
    // ann deleted her own seq 3 long ago: a tombstone that is also past retention.
    assert.equal((await call('ann', 'DELETE', `/conversations/${id}/messages/${sent[2].id}`)).status, 204);
    await age(id, [1, 2, 3, 4], 100);
    await age(id, [5, 6], 91);
    await age(id, [7], 89);
    const live = (
      await pg.query(`SELECT * FROM messages WHERE conversation_id = $1 AND seq >= 7 ORDER BY seq`, [id])
    ).rows;

    // Read paths hide expired messages before any sweep.
    const newest = await call('ben', 'GET', `/conversations/${id}/messages`);
    assert.deepEqual(
      newest.body.items.map((m: any) => m.seq),
      [10, 9, 8, 7],
    );
    assert.equal(newest.body.nextCursor, null);
    const catchUp = await call('ben', 'GET', `/conversations/${id}/messages?after=0&limit=2`);
    assert.deepEqual(
      catchUp.body.items.map((m: any) => m.seq),
      [7, 8],
    );
    const older = await call('ben', 'GET', `/conversations/${id}/messages?before=7`);
    assert.deepEqual(older.body, { items: [], nextCursor: null });
    await assertCountersExact(id, 'before the sweep');
    assert.equal((await unreadState(id)).ben!.stored, 7, 'ben: 4..10 unread');

    const now = new Date();
    const first = await retention.sweep(now);
    assert.deepEqual(first, { tombstoned: 5, purged: 0 }, 'seq 1, 2, 4, 5, 6 (3 was already deleted)');
    const rows = (await pg.query(`SELECT * FROM messages WHERE conversation_id = $1 ORDER BY seq`, [id]))
      .rows;
    assert.deepEqual(
      rows.map((r) => r.seq),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    for (const r of rows.slice(0, 6)) {
      assert.equal(r.content, null, `seq ${r.seq} content`);
      assert.ok(r.deleted_at, `seq ${r.seq} deleted_at`);
    }
    assert.equal(rows[0].deleted_at.getTime(), now.getTime(), 'tombstoned at the sweep’s time');
    assert.deepEqual(rows.slice(6), live, 'live messages untouched');
    await assertCountersExact(id, 'after the sweep');
    assert.equal((await unreadState(id)).ben!.stored, 4, 'ben: 7..10 unread, 4..6 expired');
    assert.equal((await call('ben', 'GET', `/conversations/${id}/messages`)).body.items.length, 4);

    assert.deepEqual(
      await retention.sweep(now),
      { tombstoned: 0, purged: 0 },
      'a second sweep changes nothing',
    );

    // Two days later: the tombstones are purged, and seq 7 has expired in turn.
    const later = await retention.sweep(new Date(now.getTime() + 2 * DAY_MS));
    assert.deepEqual(later, { tombstoned: 1, purged: 6 });
    assert.deepEqual(await seqsOf(id), [7, 8, 9, 10]);
    await assertCountersExact(id, 'after the purge');
    const four = await retention.sweep(new Date(now.getTime() + 4 * DAY_MS));
    assert.deepEqual(four, { tombstoned: 0, purged: 1 });
    assert.deepEqual(await seqsOf(id), [8, 9, 10]);
    const survivors = (await pg.query(`SELECT * FROM messages WHERE conversation_id = $1 ORDER BY seq`, [id]))
      .rows;
    assert.deepEqual(survivors, live.slice(1), 'live messages untouched');

    // The sequence goes on where it was.
    assert.equal((await send('ben', id, 'after')).seq, 11);
    await assertCountersExact(id, 'after a new message');
  });

  it('a conversation whose messages all expired shows no last message', async () => {
    const id = await group('ann', ['ben']);
    await send('ann', id, 'old secret');
    await send('ben', id, 'old reply');
    await age(id, [1, 2], 120);
    const view = await call('ann', 'GET', `/conversations/${id}`);
    assert.equal(view.body.lastMessage, null, JSON.stringify(view.body.lastMessage));
    assert.equal(view.body.lastSeq, 2);
    const list = await call('ben', 'GET', '/conversations?limit=100');
    const item = list.body.items.find((c: any) => c.id === id);
    assert.equal(item.lastMessage, null);
    assert.deepEqual((await call('ben', 'GET', `/conversations/${id}/messages`)).body, {
      items: [],
      nextCursor: null,
    });
    await retention.sweep(new Date());
    assert.equal((await call('ann', 'GET', `/conversations/${id}`)).body.lastMessage, null);
    await assertCountersExact(id, 'all expired');
  });

  it('a retry of an expired message (same clientMessageId) gets its tombstone, not its text, before the sweep too', async () => {
    const id = await group('ann', ['ben']);
    const clientMessageId = randomUUID();
    const body = { clientMessageId, content: { text: 'old secret' } };
    const first = await call('ann', 'POST', `/conversations/${id}/messages`, body);
    assert.equal(first.status, 201);
    await age(id, [1], 100);
    const retry = await call('ann', 'POST', `/conversations/${id}/messages`, body);
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.equal(retry.body.id, first.body.id);
    assert.equal(retry.body.content, null);
    assert.ok(retry.body.deletedAt, 'past retention: deleted');
  });

  it('sweeps in batches: 1,200 expired messages, counters exact, all purged later', async () => {
    const id = await group('ann', ['ben', 'cat']);
    // Seeded directly: 1,200 old messages from ann and ben, counters set as the write paths would.
    await pg.query(
      `INSERT INTO messages (id, conversation_id, seq, sender_id, client_message_id, type, content, created_at)
       SELECT x.id::uuid, $1, g, CASE WHEN g % 2 = 0 THEN 'ann' ELSE 'ben' END, 'seed-' || g, 'text',
              jsonb_build_object('text', 'old ' || g), now() - interval '200 days' + g * interval '1 second'
         FROM generate_series(1, 1200) AS g
         JOIN unnest($2::text[]) WITH ORDINALITY AS x(id, n) ON x.n = g`,
      [id, Array.from({ length: 1200 }, () => uuidv7())],
    );
    await pg.query(`UPDATE conversations SET last_seq = 1200 WHERE id = $1`, [id]);
    await pg.query(
      `UPDATE participants p SET last_read_seq = CASE p.user_id WHEN 'ben' THEN 300 ELSE 0 END,
              unread_count = (SELECT count(*) FROM messages m WHERE m.conversation_id = p.conversation_id
                               AND m.seq > (CASE p.user_id WHEN 'ben' THEN 300 ELSE 0 END)
                               AND m.sender_id IS DISTINCT FROM p.user_id AND m.deleted_at IS NULL)
        WHERE p.conversation_id = $1`,
      [id],
    );
    for (let i = 0; i < 3; i++) await send('cat', id, `live ${i}`);
    const before = await unreadState(id);
    assert.equal(before.ann!.stored, 603);
    assert.equal(before.ben!.stored, 453);
    assert.equal(before.cat!.stored, 0);

    const now = new Date();
    const swept = await retention.sweep(now);
    assert.ok(swept.tombstoned >= 1200, JSON.stringify(swept));
    const after1 = await unreadState(id);
    assert.deepEqual(after1, {
      ann: { stored: 3, brute: 3 },
      ben: { stored: 3, brute: 3 },
      cat: { stored: 0, brute: 0 },
    });
    await assertCountersExact(id, 'after the batched sweep');
    const purged = await retention.sweep(new Date(now.getTime() + 2 * DAY_MS));
    assert.ok(purged.purged >= 1200, JSON.stringify(purged));
    assert.deepEqual(await seqsOf(id), [1201, 1202, 1203]);
    const history = await call('ann', 'GET', `/conversations/${id}/messages?after=0`);
    assert.deepEqual(
      history.body.items.map((m: any) => m.content.text),
      ['live 0', 'live 1', 'live 2'],
    );
  });
});
