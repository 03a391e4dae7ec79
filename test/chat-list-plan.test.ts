// The chat list must stay cheap for a user with hundreds of conversations (CONTRACT §3: "no scan of
// message rows per request"). Seeds a large data set in SQL, ANALYZEs it, captures the exact SQL the
// app runs for GET /conversations (through the app's own Db, which still runs every query) and checks
// PostgreSQL's plans: one range scan of participants_chat_list, no message rows except the page's
// last messages fetched by key.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'pg';
import { ConversationRepository } from '../src/conversations/conversation.repository';
import { MessageRepository } from '../src/messages/message.repository';
import { Db } from '../src/database/db';
import { http, testWorld, token, type TestApp } from './support/app';

const ME = 'plan.me';
const MINE = 400;
const PER_CONVERSATION = 40;
const OTHERS = 6000;

type PlanNode = Record<string, any> & { Plans?: PlanNode[] };

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

describe('chat list query plan', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  let pg: Pool;
  let captured: { sql: string; params: unknown[] }[] = [];

  before(async () => {
    world = await testWorld();
    app = await world.start({ RETENTION_SWEEP_S: '0', REST_RATE_LIMIT: '1000000' });
    pg = new Pool({ connectionString: world.db.url, max: 2 });
    // My conversations: directs with 40 messages each, activity spread over the last days.
    await pg.query(`
      INSERT INTO conversations (id, type, direct_key, last_seq, created_at, last_activity_at)
      SELECT gen_random_uuid(), 'direct', json_build_array('plan.peer' || g, '${ME}')::text, ${PER_CONVERSATION},
             now() - interval '60 days', now() - g * interval '7 minutes'
        FROM generate_series(1, ${MINE}) AS g;
      INSERT INTO participants (conversation_id, user_id, role, joined_at, last_read_seq, unread_count, last_activity_at)
      SELECT c.id, u.user_id, 'member', c.created_at, u.read, ${PER_CONVERSATION} - u.read, c.last_activity_at
        FROM conversations c
        CROSS JOIN LATERAL (VALUES ('${ME}', 20), ((c.direct_key::json->>0), ${PER_CONVERSATION})) AS u(user_id, read)
       WHERE c.direct_key LIKE '%"${ME}"%';
      INSERT INTO messages (id, conversation_id, seq, sender_id, client_message_id, type, content, created_at)
      SELECT gen_random_uuid(), c.id, s, CASE WHEN s % 2 = 0 THEN '${ME}' ELSE c.direct_key::json->>0 END,
             'seed-' || c.id || '-' || s, 'text', jsonb_build_object('text', 'message ' || s),
             c.last_activity_at - (${PER_CONVERSATION} - s) * interval '1 second'
        FROM conversations c CROSS JOIN generate_series(1, ${PER_CONVERSATION}) AS s
       WHERE c.direct_key LIKE '%"${ME}"%';
      -- Everyone else's conversations, so that the tables are not just mine.
      INSERT INTO conversations (id, type, title, last_seq, created_at, last_activity_at)
      SELECT gen_random_uuid(), 'group', 'g' || g, 5, now() - interval '60 days', now() - g * interval '1 minute'
        FROM generate_series(1, ${OTHERS}) AS g;
      INSERT INTO participants (conversation_id, user_id, role, last_read_seq, unread_count, last_activity_at)
      SELECT c.id, 'other' || (abs(hashtext(c.id::text || k)) % 2000), CASE k WHEN 1 THEN 'owner' ELSE 'member' END,
             5, 0, c.last_activity_at
        FROM conversations c CROSS JOIN generate_series(1, 3) AS k
       WHERE c.type = 'group'
      ON CONFLICT DO NOTHING;
      INSERT INTO messages (id, conversation_id, seq, sender_id, client_message_id, type, content, created_at)
      SELECT gen_random_uuid(), c.id, s, p.user_id, 'seed-' || c.id || '-' || s, 'text',
             jsonb_build_object('text', 'hello'), c.last_activity_at
        FROM conversations c CROSS JOIN generate_series(1, 5) AS s
        JOIN LATERAL (SELECT user_id FROM participants WHERE conversation_id = c.id LIMIT 1) AS p ON true
       WHERE c.type = 'group';
      ANALYZE conversations; ANALYZE participants; ANALYZE messages;
    `);
    // Record the SQL the app runs; every query still goes to the database as usual.
    const db = app.app.get(Db);
    const read = db.read.bind(db);
    const query = db.query.bind(db);
    db.read = <T = any>(sql: string, params: unknown[] = []) => {
      captured.push({ sql, params });
      return read<T>(sql, params);
    };
    db.query = <T = any>(sql: string, params: unknown[] = []) => {
      captured.push({ sql, params });
      return query<T>(sql, params);
    };
  });
  after(async () => {
    await pg?.end();
    await world?.close();
  });

  async function explain(sql: string, params: unknown[]): Promise<PlanNode> {
    const { rows } = await pg.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
    return rows[0]['QUERY PLAN'][0].Plan;
  }

  /** The chat-list page query: a range scan of participants_chat_list, no sort, no message row. */
  async function assertChatListPlan(sql: string, params: unknown[], limit: number): Promise<void> {
    const plan = await explain(sql, params);
    const all = nodes(plan);
    const described = JSON.stringify(plan, null, 1);
    assert.ok(!all.some((n) => n['Relation Name'] === 'messages'), `touches messages:\n${described}`);
    const scan = all.find((n) => n['Index Name'] === 'participants_chat_list');
    assert.ok(scan, `uses participants_chat_list:\n${described}`);
    assert.ok(/Index (Only )?Scan/.test(scan['Node Type']), scan['Node Type']);
    assert.ok(
      !all.some((n) => n['Node Type'] === 'Sort'),
      `no sort (the index gives the order):\n${described}`,
    );
    assert.ok(!all.some((n) => n['Node Type'] === 'Seq Scan'), `no sequential scan:\n${described}`);
    // The scan stops after the page: it reads the page's rows, not the user's whole list.
    assert.ok(
      scan['Actual Rows'] <= limit,
      `read ${scan['Actual Rows']} participant rows for a page of ${limit}`,
    );
    assert.ok(
      !scan['Rows Removed by Filter'],
      `filtered ${scan['Rows Removed by Filter']} rows:\n${described}`,
    );
  }

  it('seeded what it meant to', async () => {
    const { rows } = await pg.query(
      `SELECT (SELECT count(*)::int FROM participants WHERE user_id = $1) AS mine,
              (SELECT count(*)::int FROM messages) AS messages,
              (SELECT count(*)::int FROM participants) AS participants`,
      [ME],
    );
    assert.equal(rows[0].mine, MINE);
    assert.ok(rows[0].messages >= MINE * PER_CONVERSATION + OTHERS * 5, JSON.stringify(rows[0]));
    assert.ok(rows[0].participants > 10_000, JSON.stringify(rows[0]));
  });

  it('the first page and a deep page are one bounded range scan of participants_chat_list', async () => {
    const repo = app.app.get(ConversationRepository);
    captured = [];
    const first = await repo.chatList(ME, 21);
    assert.equal(first.length, 21);
    assert.equal(captured.length, 1);
    await assertChatListPlan(captured[0]!.sql, captured[0]!.params, 21);

    // Page 15 (rows 300..320): the cursor position is an index condition, not a filter over skipped rows.
    const all = await repo.chatList(ME, 1000);
    const at = all[299]!;
    captured = [];
    const deep = await repo.chatList(ME, 21, { activityUs: at.activity_us, conversationId: at.id });
    assert.equal(deep[0]!.id, all[300]!.id);
    await assertChatListPlan(captured[0]!.sql, captured[0]!.params, 21);
  });

  it('GET /conversations: no query of the request scans message rows', async () => {
    const t = await token(ME);
    captured = [];
    const page = await http(app.url, 'GET', '/conversations?limit=20', { token: t });
    assert.equal(page.status, 200);
    assert.equal(page.body.items.length, 20);
    assert.equal(page.body.items[0].unreadCount, PER_CONVERSATION - 20);
    assert.equal(page.body.items[0].lastMessage.seq, PER_CONVERSATION);
    const statements = [...captured];
    assert.ok(statements.length >= 1 && statements.length <= 4, `${statements.length} queries`);
    let messageRows = 0;
    for (const { sql, params } of statements) {
      const plan = await explain(sql, params);
      for (const n of nodes(plan)) {
        if (n['Relation Name'] !== 'messages') continue;
        assert.notEqual(n['Node Type'], 'Seq Scan', `a sequential scan of messages:\n${sql}`);
        messageRows += n['Actual Rows'] * (n['Actual Loops'] ?? 1);
      }
    }
    // Only the page's last messages, looked up by (conversation_id, seq).
    assert.ok(messageRows <= 20, `read ${messageRows} message rows for a page of 20`);

    // The next page too.
    captured = [];
    const next = await http(
      app.url,
      'GET',
      `/conversations?limit=20&cursor=${encodeURIComponent(page.body.nextCursor)}`,
      { token: t },
    );
    assert.equal(next.status, 200);
    assert.equal(next.body.items.length, 20);
    const chatList = captured.find((c) => c.sql.includes('ORDER BY p.last_activity_at DESC'));
    assert.ok(chatList, 'the chat list query ran');
    await assertChatListPlan(chatList.sql, chatList.params, 21);
  });

  it('a send: the batch statements read every table by key, with no sequential scan', async () => {
    // A batch of 20 sends to 20 conversations, among 6,400 conversations and 22,000 messages: the
    // statements as the repository writes them (captured), then their plans (nothing is written).
    const convs = (
      await pg.query(`SELECT conversation_id AS id FROM participants WHERE user_id = $1 LIMIT 20`, [ME])
    ).rows.map((r: { id: string }) => r.id);
    const statements: { sql: string; params: unknown[] }[] = [];
    const recording = {
      query: async (sql: string, params: unknown[] = []) => {
        statements.push({ sql, params });
        return [];
      },
    };
    const repo = new MessageRepository({
      query: recording.query,
      transaction: (work: (tx: typeof recording) => Promise<unknown>) => work(recording),
    } as unknown as Db);
    await repo.sendBatch(
      convs.map((conversationId) => ({
        id: randomUUID(),
        conversationId,
        senderId: ME,
        clientMessageId: randomUUID(),
        text: 'plan',
      })),
    );
    assert.equal(statements.length, 2, 'the lock, then the batch');
    assert.ok(statements[1]!.sql.includes('INSERT INTO messages'));
    for (const { sql, params } of statements) {
      const { rows } = await pg.query(`EXPLAIN (FORMAT JSON) ${sql}`, params);
      const plan = rows[0]['QUERY PLAN'][0].Plan as PlanNode;
      const seq = nodes(plan).filter((n) => n['Node Type'] === 'Seq Scan');
      assert.deepEqual(
        seq.map((n) => n['Relation Name']),
        [],
        `sequential scans:\n${JSON.stringify(plan, null, 1)}`,
      );
    }
  });
});
