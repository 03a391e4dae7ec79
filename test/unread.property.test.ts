// A randomized test of the unread counters (CONTRACT §3) against the real app and PostgreSQL:
// random interleavings of sends, retries, reads and deletes by four users of a group, some of them
// fired concurrently. After every step, every user's unreadCount (conversation and chat list)
// equals a brute-force count over the message rows, and no read pointer ever moved backwards.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Pool } from 'pg';
import { http, testWorld, token, type TestApp } from './support/app';

const USERS = ['pu0', 'pu1', 'pu2', 'pu3'];

type Op =
  | { kind: 'send'; user: number }
  | { kind: 'retry'; user: number; pick: number }
  /** `seq` absolute, or `back` from the newest seq the test knows of (so reads land near the end, too). */
  | { kind: 'read'; user: number; at: { seq: number } | { back: number } }
  /** `own`: one of the user's own recent messages (204); otherwise any message (403 unless theirs). */
  | { kind: 'delete'; user: number; pick: number; own: boolean };
type Step = { kind: 'one'; op: Op } | { kind: 'batch'; ops: Op[] };

const user = fc.integer({ min: 0, max: USERS.length - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('send' as const), user }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('retry' as const), user, pick: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      user,
      // Behind the pointer, ahead of it, at the end, and beyond lastSeq (runs stay under ~60 messages).
      at: fc.oneof(
        fc.record({ seq: fc.integer({ min: 0, max: 70 }) }),
        fc.record({ back: fc.integer({ min: 0, max: 6 }) }),
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), user, pick: fc.nat(), own: fc.boolean() }),
  },
);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('one' as const), op }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('batch' as const),
      ops: fc.array(op, { minLength: 2, maxLength: 6 }),
    }),
  },
);

interface Sent {
  id: string;
  seq: number;
  sender: string;
  clientMessageId: string;
}

describe('unread counters, randomized', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  let pg: Pool;
  const tok: Record<string, string> = {};

  const call = (u: string, method: string, path: string, body?: unknown) =>
    http(app.url, method, path, { token: tok[u], body });

  before(async () => {
    world = await testWorld();
    app = await world.start({ REST_RATE_LIMIT: '1000000', RETENTION_SWEEP_S: '0' });
    pg = new Pool({ connectionString: world.db.url, max: 3 });
    for (const u of USERS) tok[u] = await token(u);
  });
  after(async () => {
    await pg?.end();
    await world?.close();
  });

  /** Runs one operation and checks what can be checked of its answer on its own. */
  async function run(conversationId: string, o: Op, sent: Sent[], concurrent: boolean): Promise<void> {
    const me = USERS[o.user]!;
    switch (o.kind) {
      case 'send': {
        const clientMessageId = randomUUID();
        const res = await call(me, 'POST', `/conversations/${conversationId}/messages`, {
          clientMessageId,
          content: { text: `from ${me}` },
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        sent.push({ id: res.body.id, seq: res.body.seq, sender: me, clientMessageId });
        return;
      }
      case 'retry': {
        const mine = sent.filter((m) => m.sender === me);
        if (!mine.length) return;
        const original = mine[o.pick % mine.length]!;
        const res = await call(me, 'POST', `/conversations/${conversationId}/messages`, {
          clientMessageId: original.clientMessageId,
          content: { text: 'retried' },
        });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.id, original.id);
        assert.equal(res.body.seq, original.seq);
        return;
      }
      case 'read': {
        const seq =
          'seq' in o.at ? o.at.seq : Math.max(0, Math.max(0, ...sent.map((m) => m.seq)) - o.at.back);
        const before = concurrent ? undefined : await pointers(conversationId);
        const res = await call(me, 'POST', `/conversations/${conversationId}/read`, { seq });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(Object.keys(res.body).sort(), ['lastReadSeq', 'unreadCount']);
        if (before) {
          const lastSeq = await lastSeqOf(conversationId);
          const expected = Math.max(before.get(me)!, Math.min(seq, lastSeq));
          assert.equal(res.body.lastReadSeq, expected, `read ${seq}: pointer`);
          assert.equal(res.body.unreadCount, await brute(conversationId, me), `read ${seq}: unread`);
        }
        return;
      }
      case 'delete': {
        const pool = o.own ? sent.filter((m) => m.sender === me).slice(-4) : sent;
        if (!pool.length) return;
        const target = pool[o.pick % pool.length]!;
        const res = await call(me, 'DELETE', `/conversations/${conversationId}/messages/${target.id}`);
        if (target.sender === me) assert.equal(res.status, 204, JSON.stringify(res.body));
        else {
          assert.equal(res.status, 403, JSON.stringify(res.body));
          assert.equal(res.body.code, 'FORBIDDEN');
        }
        return;
      }
    }
  }

  async function pointers(conversationId: string): Promise<Map<string, number>> {
    const { rows } = await pg.query(
      `SELECT user_id, last_read_seq FROM participants WHERE conversation_id = $1`,
      [conversationId],
    );
    return new Map(rows.map((r) => [r.user_id, r.last_read_seq]));
  }

  async function lastSeqOf(conversationId: string): Promise<number> {
    const { rows } = await pg.query(`SELECT last_seq FROM conversations WHERE id = $1`, [conversationId]);
    return rows[0].last_seq;
  }

  async function brute(conversationId: string, userId: string): Promise<number> {
    const { rows } = await pg.query(
      `SELECT count(*)::int AS n FROM messages m JOIN participants p
          ON p.conversation_id = m.conversation_id AND p.user_id = $2
        WHERE m.conversation_id = $1 AND m.seq > p.last_read_seq
          AND m.sender_id IS DISTINCT FROM $2 AND m.deleted_at IS NULL`,
      [conversationId, userId],
    );
    return rows[0].n;
  }

  /** Every invariant, for every user, once the step has settled. */
  async function check(conversationId: string, previous: Map<string, number>, label: string): Promise<void> {
    const [state, views] = await Promise.all([
      pg.query(
        `SELECT c.last_seq,
                (SELECT coalesce(array_agg(seq ORDER BY seq), '{}') FROM messages WHERE conversation_id = c.id) AS seqs,
                (SELECT json_object_agg(p.user_id, json_build_object(
                          'pointer', p.last_read_seq,
                          'brute', (SELECT count(*) FROM messages m
                                     WHERE m.conversation_id = c.id AND m.seq > p.last_read_seq
                                       AND m.sender_id IS DISTINCT FROM p.user_id AND m.deleted_at IS NULL)))
                   FROM participants p WHERE p.conversation_id = c.id) AS users
           FROM conversations c WHERE c.id = $1`,
        [conversationId],
      ),
      Promise.all(
        USERS.map((u) =>
          Promise.all([
            call(u, 'GET', `/conversations/${conversationId}`),
            call(u, 'GET', '/conversations?limit=1'),
          ]),
        ),
      ),
    ]);
    const { last_seq: lastSeq, seqs, users } = state.rows[0];
    assert.deepEqual(
      seqs,
      Array.from({ length: lastSeq }, (_, i) => i + 1),
      `${label}: seqs 1..lastSeq`,
    );
    for (const [i, u] of USERS.entries()) {
      const { pointer, brute: expected } = users[u] as { pointer: number; brute: number };
      assert.ok(
        pointer >= previous.get(u)!,
        `${label}: ${u}'s pointer went back from ${previous.get(u)} to ${pointer}`,
      );
      assert.ok(pointer <= lastSeq, `${label}: ${u}'s pointer ${pointer} beyond lastSeq ${lastSeq}`);
      const [one, list] = views[i]!;
      assert.equal(one.status, 200);
      assert.equal(one.body.unreadCount, expected, `${label}: ${u} unreadCount (conversation)`);
      assert.equal(one.body.lastSeq, lastSeq, `${label}: lastSeq`);
      assert.equal(
        one.body.participants.find((p: any) => p.userId === u).lastReadSeq,
        pointer,
        `${label}: ${u} lastReadSeq`,
      );
      assert.equal(list.body.items[0]?.id, conversationId, `${label}: the run's conversation is on top`);
      assert.equal(list.body.items[0].unreadCount, expected, `${label}: ${u} unreadCount (chat list)`);
      previous.set(u, pointer);
    }
  }

  it('unreadCount always equals the brute-force count; pointers never move back', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 20, maxLength: 30 }), async (steps) => {
        runs++;
        const created = await call(USERS[0]!, 'POST', '/conversations', {
          type: 'group',
          title: `run ${runs}`,
          participantIds: USERS.slice(1),
        });
        assert.equal(created.status, 201);
        const id: string = created.body.id;
        const sent: Sent[] = [];
        const previous = new Map(USERS.map((u) => [u, 0]));
        for (const [i, s] of steps.entries()) {
          if (s.kind === 'one') await run(id, s.op, sent, false);
          else {
            const known = [...sent];
            await Promise.all(s.ops.map((o) => run(id, o, known, true)));
            sent.push(...known.slice(sent.length));
          }
          await check(id, previous, `step ${i} (${JSON.stringify(s)})`);
        }
      }),
      { numRuns: Number(process.env.UNREAD_RUNS ?? 12), endOnFailure: true },
    );
    assert.ok(runs >= 1);
  });
});
