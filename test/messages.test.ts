// Messages (CONTRACT §3) against the real app and the real PostgreSQL: seq under concurrency,
// idempotent sends, history paging, tombstones, the read pointer and every bad input.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'pg';
import { MessageRepository } from '../src/messages/message.repository';
import { http, testWorld, token, type TestApp } from './support/app';
import { until } from './support/processes';
import { assertError } from './support/errors';

type Res = Awaited<ReturnType<typeof http>>;

const MESSAGE_KEYS = [
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
];

describe('messages', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  let pg: Pool;
  const tok: Record<string, string> = {};
  const users = ['ann', 'ben', 'cat', 'dan', 'eve', 'out'];

  const call = (user: string, method: string, path: string, body?: unknown) =>
    http(app.url, method, path, { token: tok[user], body });
  const send = (user: string, conversationId: string, text: string, clientMessageId = randomUUID()) =>
    call(user, 'POST', `/conversations/${conversationId}/messages`, { clientMessageId, content: { text } });

  async function group(owner: string, others: string[]): Promise<string> {
    const res = await call(owner, 'POST', '/conversations', {
      type: 'group',
      title: 'g',
      participantIds: others,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id;
  }

  /** A fingerprint of every row: "changes nothing" means this is equal before and after. */
  async function fingerprint(): Promise<string> {
    const { rows } = await pg.query(`
      SELECT (SELECT md5(coalesce(string_agg(c::text, '|' ORDER BY c.id), '')) FROM conversations c)
          || (SELECT md5(coalesce(string_agg(p::text, '|' ORDER BY p.conversation_id, p.user_id), '')) FROM participants p)
          || (SELECT md5(coalesce(string_agg(m::text, '|' ORDER BY m.id), '')) FROM messages m) AS f`);
    return rows[0].f;
  }

  /** Unread by brute force over the message rows (CONTRACT §3's definition). */
  async function bruteUnread(conversationId: string, userId: string): Promise<number> {
    const { rows } = await pg.query(
      `SELECT count(*)::int AS n FROM messages m JOIN participants p
          ON p.conversation_id = m.conversation_id AND p.user_id = $2
        WHERE m.conversation_id = $1 AND m.seq > p.last_read_seq
          AND m.sender_id IS DISTINCT FROM $2 AND m.deleted_at IS NULL`,
      [conversationId, userId],
    );
    return rows[0].n;
  }

  async function view(user: string, conversationId: string) {
    const res = await call(user, 'GET', `/conversations/${conversationId}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }

  before(async () => {
    world = await testWorld();
    app = await world.start({ REST_RATE_LIMIT: '1000000', RETENTION_SWEEP_S: '0' });
    pg = new Pool({ connectionString: world.db.url, max: 3 });
    for (const u of users) tok[u] = await token(u);
  });
  after(async () => {
    await pg?.end();
    await world?.close();
  });

  describe('concurrency', () => {
    it('100 simultaneous sends from 5 senders get seq 1..100 with no gap or duplicate', async () => {
      const senders = ['ann', 'ben', 'cat', 'dan', 'eve'];
      const id = await group('ann', senders.slice(1));
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => send(senders[i % senders.length]!, id, `m${i}`)),
      );
      assert.deepEqual(
        results.map((r) => r.status),
        Array(100).fill(201),
        JSON.stringify(results.find((r) => r.status !== 201)?.body),
      );
      const range = Array.from({ length: 100 }, (_, i) => i + 1);
      assert.deepEqual(
        results.map((r) => r.body.seq).sort((a, b) => a - b),
        range,
      );
      const { rows } = await pg.query(
        `SELECT seq, sender_id, content->>'text' AS text, created_at FROM messages WHERE conversation_id = $1 ORDER BY seq`,
        [id],
      );
      assert.deepEqual(
        rows.map((r) => r.seq),
        range,
      );
      // Each response is the stored row.
      const bySeq = new Map(rows.map((r) => [r.seq, r]));
      for (const r of results) {
        assert.equal(bySeq.get(r.body.seq)!.sender_id, r.body.senderId);
        assert.equal(bySeq.get(r.body.seq)!.text, r.body.content.text);
      }
      // "In the order the server accepted them": a later seq never has an earlier timestamp.
      for (let i = 1; i < rows.length; i++)
        assert.ok(
          rows[i].created_at >= rows[i - 1].created_at,
          `seq ${rows[i].seq} created before seq ${rows[i - 1].seq}`,
        );
      const [conv] = (await pg.query(`SELECT last_seq FROM conversations WHERE id = $1`, [id])).rows;
      assert.equal(conv.last_seq, 100);
      // Nobody read anything: each sender's pointer is at their own last message, the rest is unread.
      for (const u of senders) {
        const own = rows.filter((r) => r.sender_id === u).map((r) => r.seq);
        const pointer = Math.max(...own);
        const expected = rows.filter((r) => r.seq > pointer && r.sender_id !== u).length;
        const v = await view(u, id);
        assert.equal(v.participants.find((p: any) => p.userId === u).lastReadSeq, pointer, u);
        assert.equal(v.unreadCount, expected, u);
        assert.equal(await bruteUnread(id, u), expected, u);
        assert.equal(v.lastSeq, 100);
      }
    });

    it('20 concurrent retries of one clientMessageId store one message: one 201, nineteen 200, same id', async () => {
      const id = await group('ann', ['ben']);
      const clientMessageId = randomUUID();
      const results = await Promise.all(
        Array.from({ length: 20 }, () => send('ann', id, 'once', clientMessageId)),
      );
      const statuses = results.map((r) => r.status).sort((a, b) => b - a);
      assert.deepEqual(statuses, [201, ...Array(19).fill(200)]);
      assert.equal(new Set(results.map((r) => r.body.id)).size, 1);
      assert.ok(results.every((r) => r.body.seq === 1 && r.body.clientMessageId === clientMessageId));
      const { rows } = await pg.query(`SELECT id, seq FROM messages WHERE conversation_id = $1`, [id]);
      assert.deepEqual(rows, [{ id: results[0]!.body.id, seq: 1 }]);
      // The seqs taken by the losers were rolled back: the next message is 2, and ben has exactly 1 unread.
      const [conv] = (await pg.query(`SELECT last_seq FROM conversations WHERE id = $1`, [id])).rows;
      assert.equal(conv.last_seq, 1);
      const next = await send('ben', id, 'next');
      assert.equal(next.body.seq, 2);
      assert.equal((await view('ann', id)).unreadCount, 1);
      assert.equal((await view('ben', id)).unreadCount, 0);
    });

    it('concurrent sends while others read and delete keep every unread counter exact', async () => {
      const id = await group('ann', ['ben', 'cat']);
      const seed = await Promise.all(Array.from({ length: 10 }, (_, i) => send('ann', id, `s${i}`)));
      const ops: Promise<Res>[] = [];
      for (let i = 0; i < 30; i++) {
        ops.push(send(i % 2 ? 'ben' : 'cat', id, `c${i}`));
        ops.push(call(i % 2 ? 'cat' : 'ben', 'POST', `/conversations/${id}/read`, { seq: i * 2 }));
        if (i < 10) ops.push(call('ann', 'DELETE', `/conversations/${id}/messages/${seed[i]!.body.id}`));
      }
      const results = await Promise.all(ops);
      assert.ok(
        results.every((r) => r.status < 300),
        JSON.stringify(results.find((r) => r.status >= 300)?.body),
      );
      for (const u of ['ann', 'ben', 'cat']) {
        const v = await view(u, id);
        assert.equal(v.unreadCount, await bruteUnread(id, u), u);
      }
    });
  });

  describe('send', () => {
    it('a batch tells, for each sender, how many unread messages their send cleared (the badge event)', async () => {
      const id = await group('ann', ['ben']);
      assert.equal((await send('ben', id, 'b1')).status, 201); // ann: 1 unread
      const repo = app.app.get(MessageRepository);
      const item = (senderId: string, text: string) => ({
        id: randomUUID(),
        conversationId: id,
        senderId,
        clientMessageId: randomUUID(),
        text,
      });
      // One batch, ann then ben: ann cleared her one unread (ben's next one stays unread for her); ben
      // cleared ann's message of the batch, which comes before his.
      const [annRow, benRow] = await repo.sendBatch([item('ann', 'a2'), item('ben', 'b3')]);
      assert.deepEqual([annRow!.seq, annRow!.sender_cleared, annRow!.sender_unread_after], [2, 1, 1]);
      assert.deepEqual([benRow!.seq, benRow!.sender_cleared, benRow!.sender_unread_after], [3, 1, 0]);
      // Ben, with nothing unread, then ann: ben cleared nothing (no event); ann cleared b3 and b4.
      const [ben2, ann2] = await repo.sendBatch([item('ben', 'b4'), item('ann', 'a5')]);
      assert.deepEqual([ben2!.seq, ben2!.sender_cleared, ben2!.sender_unread_after], [4, 0, 1]);
      assert.deepEqual([ann2!.seq, ann2!.sender_cleared, ann2!.sender_unread_after], [5, 2, 0]);
      // Two of ann's in one batch: only her last one carries the count.
      const [first, last] = await repo.sendBatch([item('ann', 'a6'), item('ann', 'a7')]);
      assert.equal(first!.sender_cleared, null);
      assert.deepEqual([last!.sender_cleared, last!.sender_unread_after], [0, 0]);
      assert.equal((await view('ann', id)).unreadCount, 0);
      assert.equal((await view('ben', id)).unreadCount, 3);
    });

    it('answers 201 with the contract fields, the trimmed text, and moves the sender pointer', async () => {
      const id = await group('ann', ['ben']);
      await send('ben', id, 'one');
      await send('ben', id, 'two');
      assert.equal((await view('ann', id)).unreadCount, 2);
      const clientMessageId = randomUUID();
      const res = await send('ann', id, '  hello  ', clientMessageId);
      assert.equal(res.status, 201);
      assert.deepEqual(Object.keys(res.body).sort(), MESSAGE_KEYS);
      assert.equal(res.body.conversationId, id);
      assert.equal(res.body.seq, 3);
      assert.equal(res.body.senderId, 'ann');
      assert.equal(res.body.clientMessageId, clientMessageId);
      assert.equal(res.body.type, 'text');
      assert.deepEqual(res.body.content, { text: 'hello' });
      assert.equal(res.body.editedAt, null);
      assert.equal(res.body.deletedAt, null);
      assert.ok(!Number.isNaN(Date.parse(res.body.createdAt)) && res.body.createdAt.endsWith('Z'));
      const ann = await view('ann', id);
      assert.equal(ann.unreadCount, 0);
      assert.equal(ann.participants.find((p: any) => p.userId === 'ann').lastReadSeq, 3);
      assert.equal(ann.lastSeq, 3);
      assert.equal(ann.lastMessage.id, res.body.id);
      assert.equal((await view('ben', id)).unreadCount, 1);

      // A retry: 200, the original, nothing new (even with another text).
      const before = await fingerprint();
      const retry = await send('ann', id, 'something else', clientMessageId);
      assert.equal(retry.status, 200);
      assert.deepEqual(retry.body, res.body);
      assert.equal(await fingerprint(), before);
      // The same clientMessageId from another sender is another message.
      const other = await send('ben', id, 'mine', clientMessageId);
      assert.equal(other.status, 201);
      assert.equal(other.body.seq, 4);
    });

    it('counts characters, not bytes or UTF-16 units: 4000 emoji pass, 4001 characters do not', async () => {
      const id = await group('ann', ['ben']);
      const emoji = '😀'.repeat(4000);
      const ok = await send('ann', id, emoji);
      assert.equal(ok.status, 201, JSON.stringify(ok.body).slice(0, 300));
      assert.equal([...ok.body.content.text].length, 4000);
      const { rows } = await pg.query(`SELECT content->>'text' AS t FROM messages WHERE id = $1`, [
        ok.body.id,
      ]);
      assert.equal(rows[0].t, emoji);
      assert.equal((await send('ann', id, 'x'.repeat(4000))).status, 201);
      assert.equal((await send('ann', id, `  ${'x'.repeat(4000)}\n `)).status, 201, 'trimmed first');
      const before = await fingerprint();
      assertError(await send('ann', id, 'x'.repeat(4001)), 400, 'VALIDATION_FAILED', '4001 chars');
      assertError(await send('ann', id, '😀'.repeat(4001)), 400, 'VALIDATION_FAILED', '4001 emoji');
      assert.equal(await fingerprint(), before);
    });

    it('refuses every bad body with VALIDATION_FAILED and stores nothing', async () => {
      const id = await group('ann', ['ben']);
      await send('ann', id, 'existing');
      const cid = () => randomUUID();
      const cases: [string, unknown][] = [
        ['empty text', { clientMessageId: cid(), content: { text: '' } }],
        ['whitespace text', { clientMessageId: cid(), content: { text: ' \n\t  ' } }],
        ['non-string text', { clientMessageId: cid(), content: { text: 42 } }],
        ['null text', { clientMessageId: cid(), content: { text: null } }],
        ['array text', { clientMessageId: cid(), content: { text: ['hi'] } }],
        ['missing text', { clientMessageId: cid(), content: {} }],
        ['missing content', { clientMessageId: cid() }],
        ['null content', { clientMessageId: cid(), content: null }],
        ['string content', { clientMessageId: cid(), content: 'hi' }],
        ['array content', { clientMessageId: cid(), content: [{ text: 'hi' }] }],
        ['extra field', { clientMessageId: cid(), content: { text: 'hi' }, seq: 7 }],
        ['extra content field', { clientMessageId: cid(), content: { text: 'hi', html: '<b>' } }],
        ['missing clientMessageId', { content: { text: 'hi' } }],
        ['empty clientMessageId', { clientMessageId: '', content: { text: 'hi' } }],
        ['numeric clientMessageId', { clientMessageId: 12345, content: { text: 'hi' } }],
        ['clientMessageId with spaces', { clientMessageId: 'a b', content: { text: 'hi' } }],
        [
          'clientMessageId with quote',
          { clientMessageId: "x'; DROP TABLE messages;--", content: { text: 'hi' } },
        ],
        ['65-char clientMessageId', { clientMessageId: 'a'.repeat(65), content: { text: 'hi' } }],
        ['array body', [{ clientMessageId: cid(), content: { text: 'hi' } }]],
        ['NUL in text', { clientMessageId: cid(), content: { text: 'a\u0000b' } }],
        ['lone surrogate in text', { clientMessageId: cid(), content: { text: 'a\ud800b' } }],
      ];
      const before = await fingerprint();
      for (const [what, body] of cases) {
        const res = await call('ann', 'POST', `/conversations/${id}/messages`, body);
        assertError(res, 400, 'VALIDATION_FAILED', what);
      }
      const raw = await http(app.url, 'POST', `/conversations/${id}/messages`, {
        token: tok.ann,
        rawBody: '{"clientMessageId": "x", "content": ',
      });
      assertError(raw, 400, 'VALIDATION_FAILED', 'broken JSON');
      assert.equal(await fingerprint(), before);
    });

    it('answers NOT_FOUND to a non-participant and for an unknown conversation, 400 for a malformed id', async () => {
      const id = await group('ann', ['ben']);
      const before = await fingerprint();
      assertError(await send('out', id, 'hi'), 404, 'NOT_FOUND', 'non-participant');
      assertError(await send('ann', randomUUID(), 'hi'), 404, 'NOT_FOUND', 'unknown conversation');
      for (const bad of ['not-a-uuid', '123', `${randomUUID()}x`])
        assertError(await send('ann', bad, 'hi'), 400, 'VALIDATION_FAILED', bad);
      // Both answers look the same: the conversation's existence does not leak.
      const a = await send('out', id, 'hi');
      const b = await send('out', randomUUID(), 'hi');
      assert.equal(a.body.message, b.body.message);
      assert.equal(await fingerprint(), before);
    });

    it('a clientMessageId already used in another conversation is a CONFLICT', async () => {
      const one = await group('ann', ['ben']);
      const two = await group('ann', ['cat']);
      const clientMessageId = randomUUID();
      assert.equal((await send('ann', one, 'hi', clientMessageId)).status, 201);
      const before = await fingerprint();
      assertError(await send('ann', two, 'hi', clientMessageId), 409, 'CONFLICT');
      assert.equal(await fingerprint(), before);
    });

    it('a send that waited for the conversation lock sees the participants as they were when it got it', async () => {
      // A membership change commits while the send waits for the conversation's row lock (as
      // adding or removing a participant holds it): the send must count with the new membership.
      const id = await group('ann', ['ben']);
      const change = await pg.connect();
      /** Runs `sql` in a transaction that holds the conversation's lock until a send waits for it. */
      async function whileASendWaits(sql: string, sendIt: () => Promise<Res>): Promise<Res> {
        await change.query('BEGIN');
        await change.query(`SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE`, [id]);
        await change.query(sql, [id]);
        const sent = sendIt();
        await until(async () => {
          const { rows } = await pg.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          );
          return rows[0].n > 0;
        }, 'the send waiting for the lock');
        await change.query('COMMIT');
        return sent;
      }
      try {
        const added = await whileASendWaits(
          `INSERT INTO participants (conversation_id, user_id, role) VALUES ($1, 'cat', 'member')`,
          () => send('ann', id, 'hello cat'),
        );
        assert.equal(added.status, 201, JSON.stringify(added.body));
        const unread = async (user: string) =>
          (
            await pg.query(
              `SELECT unread_count FROM participants WHERE conversation_id = $1 AND user_id = $2`,
              [id, user],
            )
          ).rows[0]?.unread_count;
        assert.equal(await unread('cat'), 1, 'the participant added meanwhile has the message unread');
        assert.equal(await unread('ben'), 1);

        const removed = await whileASendWaits(
          `DELETE FROM participants WHERE conversation_id = $1 AND user_id = 'ben'`,
          () => send('ben', id, 'am I still here?'),
        );
        assertError(removed, 404, 'NOT_FOUND', 'a participant removed meanwhile cannot post');
        const { rows } = await pg.query(`SELECT seq FROM messages WHERE conversation_id = $1 ORDER BY seq`, [
          id,
        ]);
        assert.deepEqual(
          rows.map((r: { seq: number }) => r.seq),
          [1],
        );
      } finally {
        await change.query('ROLLBACK').catch(() => undefined);
        change.release();
      }
    });

    it('one clientMessageId sent to eight conversations at once: one stored, seven CONFLICT, no seq hole anywhere', async () => {
      const ids: string[] = [];
      for (let k = 0; k < 8; k++) ids.push(await group('ann', [`race${k}`]));
      for (let round = 0; round < 5; round++) {
        const clientMessageId = randomUUID();
        // Each conversation also gets an ordinary message in the same moment: the racing sends share
        // batches with others (a repeat inside one batch) or meet in different lanes (a raced insert).
        const [racing] = await Promise.all([
          Promise.all(ids.map((id) => send('ann', id, `race ${round}`, clientMessageId))),
          Promise.all(ids.map((id, k) => send(`race${k}`, id, `other ${round}`))),
        ]);
        const statuses = racing.map((r) => r.status).sort();
        assert.deepEqual(statuses, [201, ...Array(7).fill(409)], JSON.stringify(racing.map((r) => r.body)));
      }
      for (const id of ids) {
        const { rows } = await pg.query(`SELECT seq FROM messages WHERE conversation_id = $1 ORDER BY seq`, [
          id,
        ]);
        const [conv] = (await pg.query(`SELECT last_seq FROM conversations WHERE id = $1`, [id])).rows;
        assert.deepEqual(
          rows.map((r: { seq: number }) => r.seq),
          Array.from({ length: conv.last_seq }, (_, i) => i + 1),
          'seqs 1..last_seq, no hole',
        );
      }
    });

    it('needs a token', async () => {
      const id = await group('ann', ['ben']);
      const res = await http(app.url, 'POST', `/conversations/${id}/messages`, {
        body: { clientMessageId: randomUUID(), content: { text: 'hi' } },
      });
      assertError(res, 401, 'UNAUTHENTICATED');
    });
  });

  describe('history', () => {
    let id: string;
    const ids: string[] = [];
    before(async () => {
      id = await group('ann', ['ben']);
      for (let i = 1; i <= 25; i++) {
        const r = await send(i % 3 ? 'ann' : 'ben', id, `h${i}`);
        assert.equal(r.body.seq, i);
        ids.push(r.body.id);
      }
    });
    const page = (user: string, query: string) => call(user, 'GET', `/conversations/${id}/messages${query}`);
    const seqs = (res: Res) => res.body.items.map((m: any) => m.seq);

    it('without a position: the newest first, limit 50 by default', async () => {
      const res = await page('ben', '');
      assert.equal(res.status, 200);
      assert.deepEqual(Object.keys(res.body).sort(), ['items', 'nextCursor']);
      assert.deepEqual(
        seqs(res),
        Array.from({ length: 25 }, (_, i) => 25 - i),
      );
      assert.equal(res.body.nextCursor, null);
      assert.deepEqual(Object.keys(res.body.items[0]).sort(), MESSAGE_KEYS);
      assert.deepEqual(res.body.items[0].content, { text: 'h25' });
    });

    it('before: newest first, nextCursor is the next before, walks everything exactly once', async () => {
      const seen: number[] = [];
      let cursor: string | null = '26';
      let pages = 0;
      while (cursor !== null) {
        const res = await page('ann', `?before=${cursor}&limit=7`);
        assert.equal(res.status, 200);
        const s = seqs(res);
        assert.deepEqual(
          s,
          [...s].sort((a, b) => b - a),
        );
        assert.ok(s.every((x: number) => x < Number(cursor)));
        seen.push(...s);
        cursor = res.body.nextCursor;
        if (cursor !== null) assert.equal(cursor, String(s[s.length - 1]));
        pages++;
      }
      assert.equal(pages, 4);
      assert.deepEqual(
        seen,
        Array.from({ length: 25 }, (_, i) => 25 - i),
      );
      assert.deepEqual(seqs(await page('ann', '?before=1')), []);
      assert.deepEqual(seqs(await page('ann', '?before=4&limit=100')), [3, 2, 1]);
      assert.deepEqual(seqs(await page('ann', '?before=1000')).length, 25);
    });

    it('after: oldest first, nextCursor is the next after, an exact last page ends with null', async () => {
      const seen: number[] = [];
      let cursor: string | null = '0';
      while (cursor !== null) {
        const res = await page('ben', `?after=${cursor}&limit=5`);
        assert.equal(res.status, 200);
        const s = seqs(res);
        assert.deepEqual(
          s,
          [...s].sort((a, b) => a - b),
        );
        seen.push(...s);
        cursor = res.body.nextCursor;
        if (cursor !== null) assert.equal(cursor, String(s[s.length - 1]));
      }
      assert.deepEqual(
        seen,
        Array.from({ length: 25 }, (_, i) => i + 1),
      );
      const last = await page('ben', '?after=20&limit=5');
      assert.deepEqual(seqs(last), [21, 22, 23, 24, 25]);
      assert.equal(last.body.nextCursor, null, 'no more after 25');
      const beyond = await page('ben', '?after=25');
      assert.deepEqual(beyond.body, { items: [], nextCursor: null });
      assert.deepEqual(seqs(await page('ben', '?after=23&limit=100')), [24, 25]);
    });

    it('shows deleted messages as tombstones: content null, deletedAt set, same seq', async () => {
      const victim = ids[9]!; // seq 10, by ann
      const del = await call('ann', 'DELETE', `/conversations/${id}/messages/${victim}`);
      assert.equal(del.status, 204);
      assert.equal(del.body, undefined);
      const res = await page('ben', '?after=8&limit=3');
      assert.deepEqual(seqs(res), [9, 10, 11]);
      const tomb = res.body.items[1];
      assert.equal(tomb.id, victim);
      assert.equal(tomb.content, null);
      assert.ok(!Number.isNaN(Date.parse(tomb.deletedAt)));
      assert.equal(tomb.senderId, 'ann');
      assert.deepEqual(res.body.items[0].content, { text: 'h9' });
      const { rows } = await pg.query(`SELECT content, deleted_at FROM messages WHERE id = $1`, [victim]);
      assert.equal(rows[0].content, null, 'the text is gone from the database too');
      assert.ok(rows[0].deleted_at);
    });

    it('refuses bad queries with VALIDATION_FAILED', async () => {
      const cases = [
        '?limit=0',
        '?limit=101',
        '?limit=abc',
        '?limit=1.5',
        '?limit=',
        '?limit=-1',
        '?before=5&after=2',
        '?after=-1',
        '?before=0',
        '?before=abc',
        '?after=1e3x',
        '?after=99999999999',
        '?cursor=abc',
        '?unknown=1',
      ];
      for (const q of cases) assertError(await page('ann', q), 400, 'VALIDATION_FAILED', q);
    });

    it('is NOT_FOUND for a non-participant and an unknown conversation', async () => {
      assertError(await page('out', ''), 404, 'NOT_FOUND', 'non-participant');
      assertError(
        await call('ann', 'GET', `/conversations/${randomUUID()}/messages`),
        404,
        'NOT_FOUND',
        'unknown',
      );
      assertError(await call('ann', 'GET', `/conversations/nope/messages`), 400, 'VALIDATION_FAILED');
    });
  });

  describe('delete', () => {
    it('sender only; tombstone stays; unread counts drop; a second delete changes nothing', async () => {
      const id = await group('ann', ['ben', 'cat']);
      const m1 = (await send('ann', id, 'one')).body;
      const m2 = (await send('ben', id, 'two')).body;
      const m3 = (await send('ann', id, 'three')).body;
      assert.equal((await view('cat', id)).unreadCount, 3);
      assert.equal((await view('ben', id)).unreadCount, 1);

      const elsewhere = await group('ann', ['dan']);
      let before = await fingerprint();
      assertError(
        await call('ben', 'DELETE', `/conversations/${id}/messages/${m1.id}`),
        403,
        'FORBIDDEN',
        'not sender',
      );
      assertError(
        await call('out', 'DELETE', `/conversations/${id}/messages/${m1.id}`),
        404,
        'NOT_FOUND',
        'not participant',
      );
      assertError(
        await call('ann', 'DELETE', `/conversations/${id}/messages/${randomUUID()}`),
        404,
        'NOT_FOUND',
        'unknown message',
      );
      assertError(
        await call('ann', 'DELETE', `/conversations/${elsewhere}/messages/${m1.id}`),
        404,
        'NOT_FOUND',
        'message of another conversation',
      );
      assertError(
        await call('ann', 'DELETE', `/conversations/${id}/messages/not-a-uuid`),
        400,
        'VALIDATION_FAILED',
        'malformed message id',
      );
      assertError(
        await call('ann', 'DELETE', `/conversations/${randomUUID()}/messages/${m1.id}`),
        404,
        'NOT_FOUND',
        'unknown conversation',
      );
      assert.equal(await fingerprint(), before);
      assert.equal((await view('cat', id)).lastDeletedAt, null, 'nothing deleted yet');
      const activityBefore = (await view('cat', id)).lastActivityAt;

      assert.equal((await call('ann', 'DELETE', `/conversations/${id}/messages/${m3.id}`)).status, 204);
      // lastDeletedAt (an extension) is when the delete was made, the tombstone's deletedAt; the
      // activity does not move.
      const afterDelete = await view('cat', id);
      assert.equal(afterDelete.lastDeletedAt, afterDelete.lastMessage.deletedAt);
      assert.equal(afterDelete.lastActivityAt, activityBefore);
      assert.equal((await view('ann', elsewhere)).lastDeletedAt, null, 'only that conversation');
      assert.equal((await view('cat', id)).unreadCount, 2);
      assert.equal((await view('ben', id)).unreadCount, 0);
      const last = (await view('cat', id)).lastMessage;
      assert.equal(last.id, m3.id);
      assert.equal(last.content, null);
      assert.ok(last.deletedAt);
      before = await fingerprint();
      assert.equal((await call('ann', 'DELETE', `/conversations/${id}/messages/${m3.id}`)).status, 204);
      assert.equal(await fingerprint(), before, 'a second delete changes nothing');

      assert.equal((await call('ben', 'DELETE', `/conversations/${id}/messages/${m2.id}`)).status, 204);
      const m2Tombstone = (await call('cat', 'GET', `/conversations/${id}/messages?after=1&limit=1`)).body
        .items[0];
      assert.equal((await view('cat', id)).lastDeletedAt, m2Tombstone.deletedAt, 'the newest delete');
      for (const u of ['ann', 'ben', 'cat'])
        assert.equal((await view(u, id)).unreadCount, await bruteUnread(id, u), u);
      assert.equal((await view('cat', id)).unreadCount, 1);
      assert.equal((await view('cat', id)).lastSeq, 3, 'deleting takes no seq back');
    });
  });

  describe('read', () => {
    it('moves forward only, clamps to lastSeq, returns the exact unread count', async () => {
      const id = await group('ann', ['ben']);
      for (let i = 0; i < 6; i++) await send('ann', id, `r${i}`);
      const read = (seq: unknown, user = 'ben') => call(user, 'POST', `/conversations/${id}/read`, { seq });
      let res = await read(4);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { lastReadSeq: 4, unreadCount: 2 });
      res = await read(2);
      assert.deepEqual(res.body, { lastReadSeq: 4, unreadCount: 2 }, 'never backwards');
      res = await read(0);
      assert.deepEqual(res.body, { lastReadSeq: 4, unreadCount: 2 });
      res = await read(1000);
      assert.deepEqual(res.body, { lastReadSeq: 6, unreadCount: 0 }, 'clamped');
      const { rows } = await pg.query(
        `SELECT last_read_seq, unread_count FROM participants WHERE conversation_id = $1 AND user_id = 'ben'`,
        [id],
      );
      assert.deepEqual(rows[0], { last_read_seq: 6, unread_count: 0 });
      await send('ann', id, 'later');
      assert.deepEqual((await read(2 ** 31 - 1)).body, { lastReadSeq: 7, unreadCount: 0 });
      const v = await view('ben', id);
      assert.equal(v.unreadCount, 0);
      assert.equal(v.participants.find((p: any) => p.userId === 'ben').lastReadSeq, 7);
    });

    it('counts only others’ live messages after the pointer', async () => {
      const id = await group('ann', ['ben']);
      const a1 = (await send('ann', id, 'a1')).body;
      await send('ben', id, 'b1'); // ben's pointer → 2
      await send('ann', id, 'a2');
      await send('ann', id, 'a3');
      assert.equal((await view('ben', id)).unreadCount, 2);
      await call('ann', 'DELETE', `/conversations/${id}/messages/${a1.id}`);
      assert.deepEqual((await call('ben', 'POST', `/conversations/${id}/read`, { seq: 3 })).body, {
        lastReadSeq: 3,
        unreadCount: 1,
      });
      assert.equal(await bruteUnread(id, 'ben'), 1);
      // A deleted message after the pointer is not counted when the read recounts.
      const a4 = (await send('ann', id, 'a4')).body;
      await send('ann', id, 'a5');
      await call('ann', 'DELETE', `/conversations/${id}/messages/${a4.id}`);
      assert.deepEqual((await call('ben', 'POST', `/conversations/${id}/read`, { seq: 0 })).body, {
        lastReadSeq: 3,
        unreadCount: 2,
      });
      assert.equal(await bruteUnread(id, 'ben'), 2);
    });

    it('refuses bad bodies and non-participants, changing nothing', async () => {
      const id = await group('ann', ['ben']);
      await send('ann', id, 'x');
      const before = await fingerprint();
      const bodies: [string, unknown][] = [
        ['seq -1', { seq: -1 }],
        ['seq string', { seq: '1' }],
        ['seq missing', {}],
        ['seq null', { seq: null }],
        ['seq float', { seq: 1.5 }],
        ['seq too big', { seq: 2 ** 31 }],
        ['extra field', { seq: 1, all: true }],
      ];
      for (const [what, body] of bodies)
        assertError(
          await call('ben', 'POST', `/conversations/${id}/read`, body),
          400,
          'VALIDATION_FAILED',
          what,
        );
      assertError(await call('out', 'POST', `/conversations/${id}/read`, { seq: 1 }), 404, 'NOT_FOUND');
      assertError(
        await call('ben', 'POST', `/conversations/${randomUUID()}/read`, { seq: 1 }),
        404,
        'NOT_FOUND',
      );
      assertError(await call('ben', 'POST', `/conversations/zzz/read`, { seq: 1 }), 400, 'VALIDATION_FAILED');
      assert.equal(await fingerprint(), before);
    });
  });
});
