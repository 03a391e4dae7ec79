import type { Client } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { timed } from './stats';

/**
 * A benchmark world: one measured user with `conversations` conversations holding `messages`
 * messages in all, plus conversations among other users so the tables are not just theirs.
 * Everything derived (last_seq, read pointers, unread counts, activity times) is consistent
 * with the message rows, exactly as the service's write paths would have left it.
 */
export interface WorldSpec {
  user: string;
  conversations: number;
  messages: number;
  /** Share of the user's (and the background's) conversations that are groups; the rest are direct. */
  groupShare: number;
  backgroundConversations: number;
  backgroundMessages: number;
  /** Other users the members are drawn from (`user-0001`, …). */
  userPool: number;
  /** PRNG seed: the same seed gives the same shape (types, members, pointers, activity order) at any size. */
  seed: number;
}

export interface SeedReport {
  conversations: number;
  participants: number;
  messages: number;
  deletedMessages: number;
  user: { conversations: number; groups: number; direct: number; unreadTotal: number; withUnread: number };
  timingsMs: Record<string, number>;
  tableSizes: Record<string, string>;
}

interface ConversationPlan {
  idx: number;
  id: string;
  type: 'direct' | 'group';
  title: string | null;
  directKey: string | null;
  members: string[];
  roles: string[];
  pointers: number[];
  lastSender: string;
  msgCount: number;
  lastAtMs: number;
}

/** Seconds between two consecutive messages of a conversation. */
const MESSAGE_SPACING_S = 7;

/** mulberry32: small, fast, deterministic. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/**
 * Splits `total` messages over `n` conversations with a Zipf-like skew (a few long histories, many
 * short ones), at least one each when there are enough, summing exactly to `total`.
 */
export function messageCounts(n: number, total: number, rand: () => number): number[] {
  const weights = shuffle(
    Array.from({ length: n }, (_, i) => 1 / (i + 1) ** 0.7),
    rand,
  );
  const base = total >= n ? 1 : 0;
  const rest = total - base * n;
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (w / sum) * rest);
  const counts = exact.map((x) => base + Math.floor(x));
  let missing = total - counts.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0]);
  for (const [, i] of byRemainder) {
    if (missing-- <= 0) break;
    counts[i]!++;
  }
  return counts;
}

/** How far behind a participant's read pointer is: 0 = read everything, Infinity = read nothing. */
function drawLag(rand: () => number, measured: boolean): number {
  const r = rand();
  if (measured) {
    if (r < 0.5) return 0;
    if (r < 0.85) return 1 + Math.floor(rand() * 20);
    if (r < 0.95) return 21 + Math.floor(rand() * 180);
    return Infinity;
  }
  if (r < 0.6) return 0;
  if (r < 0.9) return 1 + Math.floor(rand() * 20);
  return Infinity;
}

/** The conversations of a world, decided in JavaScript (small); the messages are generated in SQL. */
export function planWorld(spec: WorldSpec, nowMs = Date.now()): ConversationPlan[] {
  const rand = rng(spec.seed);
  const pool = Array.from({ length: spec.userPool }, (_, i) => `user-${String(i + 1).padStart(5, '0')}`);
  const pairs = new Set<string>();
  const total = spec.conversations + spec.backgroundConversations;
  // Activity order across everyone's conversations: rank r is about r * 5 minutes ago.
  const ranks = shuffle(
    Array.from({ length: total }, (_, i) => i),
    rand,
  );
  const userCounts = messageCounts(spec.conversations, spec.messages, rand);
  const backgroundCounts = messageCounts(spec.backgroundConversations, spec.backgroundMessages, rand);
  const directPeers = shuffle([...pool], rand);
  const plans: ConversationPlan[] = [];

  for (let idx = 0; idx < total; idx++) {
    const mine = idx < spec.conversations;
    const msgCount = mine ? userCounts[idx]! : backgroundCounts[idx - spec.conversations]!;
    const isGroup = rand() < spec.groupShare;
    let members: string[];
    if (isGroup) {
      const size = 3 + Math.floor(rand() * 6); // 3–8 participants
      const picked = new Set<string>(mine ? [spec.user] : []);
      while (picked.size < size) picked.add(pool[Math.floor(rand() * pool.length)]!);
      members = [...picked];
    } else if (mine) {
      members = [spec.user, directPeers.pop() ?? `peer-${idx}`];
    } else {
      do {
        const a = pool[Math.floor(rand() * pool.length)]!;
        let b = pool[Math.floor(rand() * pool.length)]!;
        if (a === b) b = `peer-${idx}`;
        members = [a, b];
      } while (pairs.has(directKeyOf(members)));
    }
    const directKey = isGroup ? null : directKeyOf(members);
    if (directKey) pairs.add(directKey);
    const lags = members.map((m) => drawLag(rand, m === spec.user));
    const pointers = lags.map((lag) => (lag === Infinity ? 0 : Math.max(0, msgCount - lag)));
    // Whoever sent the last message has read everything: make sure someone did.
    let upToDate = members.filter((_, i) => pointers[i] === msgCount);
    if (!upToDate.length) {
      const others = members.map((_, i) => i).filter((i) => members[i] !== spec.user);
      const i = others[Math.floor(rand() * others.length)]!;
      pointers[i] = msgCount;
      upToDate = [members[i]!];
    }
    const lastSender = upToDate[Math.floor(rand() * upToDate.length)]!;
    plans.push({
      idx,
      id: uuidv7(),
      type: isGroup ? 'group' : 'direct',
      title: isGroup ? `Group ${idx + 1}` : null,
      directKey,
      members,
      roles: members.map((_, i) => (isGroup ? (i === 0 ? 'owner' : 'member') : 'member')),
      pointers,
      lastSender,
      msgCount,
      lastAtMs: nowMs - 60_000 - ranks[idx]! * 300_000 - Math.floor(rand() * 299_000),
    });
  }
  return plans;
}

function directKeyOf(pair: string[]): string {
  return JSON.stringify([...pair].sort());
}

/**
 * Seeds a freshly migrated (empty) database: conversations and participants from the plan, the
 * messages with one INSERT … SELECT over generate_series, then the unread counts recomputed from
 * the message rows, then ANALYZE.
 */
export async function seedWorld(client: Client, spec: WorldSpec): Promise<SeedReport> {
  const timings: Record<string, number> = {};
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const { ms, value } = await timed(work);
    timings[name] = Math.round(ms);
    return value;
  };
  const plans = planWorld(spec);
  await client.query(`SET synchronous_commit = off`);
  // The rows are consistent by construction: skip the per-row foreign-key triggers while loading.
  await client.query(`SET session_replication_role = replica`);
  await client.query(`SET maintenance_work_mem = '256MB'`);
  await client.query(`SET work_mem = '512MB'`);

  await step('plan', async () => {
    await client.query(`
      CREATE TEMP TABLE bench_plan (
        idx int, id uuid, type text, title text, direct_key text, members text[], roles text[],
        pointers int[], n int, last_sender text, msg_count int, last_at timestamptz)`);
    await client.query(
      `INSERT INTO bench_plan
       SELECT x.idx, x.id, x.type, x.title, x.direct_key, string_to_array(x.members, ','),
              string_to_array(x.roles, ','), string_to_array(x.pointers, ',')::int[],
              cardinality(string_to_array(x.members, ',')), x.last_sender, x.msg_count,
              'epoch'::timestamptz + x.last_at_ms * interval '1 millisecond'
         FROM unnest($1::int[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::int[], $11::bigint[])
              AS x(idx, id, type, title, direct_key, members, roles, pointers, last_sender, msg_count, last_at_ms)`,
      [
        plans.map((p) => p.idx),
        plans.map((p) => p.id),
        plans.map((p) => p.type),
        plans.map((p) => p.title),
        plans.map((p) => p.directKey),
        plans.map((p) => p.members.join(',')),
        plans.map((p) => p.roles.join(',')),
        plans.map((p) => p.pointers.join(',')),
        plans.map((p) => p.lastSender),
        plans.map((p) => p.msgCount),
        plans.map((p) => p.lastAtMs),
      ],
    );
  });

  await step('conversations', async () => {
    await client.query(`
      INSERT INTO conversations (id, type, title, direct_key, last_seq, created_at, last_activity_at)
      SELECT id, type, title, direct_key, msg_count,
             last_at - msg_count * interval '${MESSAGE_SPACING_S} seconds' - interval '1 hour', last_at
        FROM bench_plan ORDER BY idx`);
  });

  // Message s of a conversation is sent by a member whose pointer is at or past s (sending moves
  // the sender's pointer), falling back to the member who sent the last one. About 1 in 53 is a
  // tombstone (deleted, content null), never the last one. Rows go in in time order, so a
  // conversation's messages are spread over the table as they are in a live one.
  const rebuild = await step('messages: drop indexes', () => dropIndexes(client, 'messages'));
  await step('messages', () =>
    client.query(`
      INSERT INTO messages (id, conversation_id, seq, sender_id, client_message_id, type, content, created_at, deleted_at)
      SELECT md5(c.id::text || ':' || s.seq)::uuid,
             c.id,
             s.seq,
             CASE WHEN c.pointers[k.k] >= s.seq THEN c.members[k.k] ELSE c.last_sender END,
             md5('client:' || c.id::text || ':' || s.seq)::uuid::text,
             'text',
             CASE WHEN k.deleted THEN NULL
                  ELSE jsonb_build_object('text', 'Bench message ' || s.seq || ': lorem ipsum dolor sit amet, consectetur adipiscing elit') END,
             k.at,
             CASE WHEN k.deleted THEN k.at + interval '1 second' END
        FROM bench_plan c
        CROSS JOIN LATERAL generate_series(1, c.msg_count) AS s(seq)
        CROSS JOIN LATERAL (SELECT 1 + ((s.seq * 7 + c.idx) % c.n) AS k,
                                   (s.seq * 13 + c.idx) % 53 = 0 AND s.seq < c.msg_count AS deleted,
                                   c.last_at - (c.msg_count - s.seq) * interval '${MESSAGE_SPACING_S} seconds' AS at) k
       ORDER BY k.at`),
  );
  await step('messages: rebuild indexes', rebuild);

  // Participants last, with unread_count counted from the message rows (no UPDATE, no dead tuples):
  // messages after the pointer, not the participant's own, not deleted (CONTRACT §3).
  await step('participants', () =>
    client.query(`
      INSERT INTO participants (conversation_id, user_id, role, joined_at, last_read_seq, unread_count, last_activity_at)
      SELECT c.id, m.user_id, m.role,
             c.last_at - c.msg_count * interval '${MESSAGE_SPACING_S} seconds' - interval '1 hour',
             m.pointer,
             (SELECT count(*) FROM messages x
               WHERE x.conversation_id = c.id AND x.seq > m.pointer
                 AND x.deleted_at IS NULL AND x.sender_id IS DISTINCT FROM m.user_id),
             c.last_at
        FROM bench_plan c CROSS JOIN LATERAL unnest(c.members, c.roles, c.pointers) AS m(user_id, role, pointer)
       ORDER BY c.idx`),
  );

  await client.query(`SET session_replication_role = DEFAULT`);
  await step('analyze', () => client.query(`ANALYZE conversations, participants, messages`));
  await client.query(`DROP TABLE bench_plan`);

  const [counts] = (
    await client.query(
      `SELECT (SELECT count(*) FROM conversations)::int AS conversations,
              (SELECT count(*) FROM participants)::int AS participants,
              (SELECT count(*) FROM messages)::int AS messages,
              (SELECT count(*) FROM messages WHERE deleted_at IS NOT NULL)::int AS deleted,
              (SELECT count(*) FROM participants WHERE user_id = $1)::int AS user_conversations,
              (SELECT count(*) FROM participants p JOIN conversations c ON c.id = p.conversation_id
                WHERE p.user_id = $1 AND c.type = 'group')::int AS user_groups,
              (SELECT coalesce(sum(unread_count), 0) FROM participants WHERE user_id = $1)::int AS unread_total,
              (SELECT count(*) FROM participants WHERE user_id = $1 AND unread_count > 0)::int AS with_unread`,
      [spec.user],
    )
  ).rows;
  const sizes = (
    await client.query(
      `SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) AS size
         FROM pg_class WHERE relname IN ('conversations', 'participants', 'messages')`,
    )
  ).rows as { relname: string; size: string }[];
  return {
    conversations: counts.conversations,
    participants: counts.participants,
    messages: counts.messages,
    deletedMessages: counts.deleted,
    user: {
      conversations: counts.user_conversations,
      groups: counts.user_groups,
      direct: counts.user_conversations - counts.user_groups,
      unreadTotal: counts.unread_total,
      withUnread: counts.with_unread,
    },
    timingsMs: timings,
    tableSizes: Object.fromEntries(sizes.map((s) => [s.relname, s.size])),
  };
}

/**
 * Drops a table's indexes (and the primary-key/unique constraints behind them) for a bulk load and
 * returns the function that recreates them exactly, from their own definitions. Constraints that a
 * foreign key depends on are left in place.
 */
async function dropIndexes(client: Client, table: string): Promise<() => Promise<void>> {
  const constraints = (
    await client.query(
      `SELECT c.conname AS name, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
        WHERE c.conrelid = $1::regclass AND c.contype IN ('p', 'u')
          AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid)`,
      [table],
    )
  ).rows as { name: string; def: string }[];
  const indexes = (
    await client.query(
      `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
        WHERE i.indrelid = $1::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`,
      [table],
    )
  ).rows as { name: string; def: string }[];
  for (const c of constraints) await client.query(`ALTER TABLE ${table} DROP CONSTRAINT ${c.name}`);
  for (const i of indexes) await client.query(`DROP INDEX ${i.name}`);
  return async () => {
    for (const c of constraints) await client.query(`ALTER TABLE ${table} ADD CONSTRAINT ${c.name} ${c.def}`);
    for (const i of indexes) await client.query(i.def);
  };
}

/**
 * Checks the invariants the service maintains, against the message rows themselves. Every count is
 * expected to be 0. `userOnly` restricts the unread check to one user's rows (cheaper).
 */
export async function checkConsistency(client: Client, userOnly?: string): Promise<Record<string, number>> {
  const { rows } = await client.query(
    `SELECT
       (SELECT count(*) FROM conversations c
          LEFT JOIN (SELECT conversation_id, count(*) AS n, max(seq) AS top, max(created_at) AS at
                       FROM messages GROUP BY 1) m ON m.conversation_id = c.id
         WHERE c.last_seq <> coalesce(m.top, 0) OR c.last_seq <> coalesce(m.n, 0)
            OR (m.at IS NOT NULL AND c.last_activity_at <> m.at))::int AS bad_last_seq,
       (SELECT count(*) FROM participants p
         WHERE ($1::text IS NULL OR p.user_id = $1)
           AND p.unread_count <> (SELECT count(*) FROM messages m
                                   WHERE m.conversation_id = p.conversation_id AND m.seq > p.last_read_seq
                                     AND m.deleted_at IS NULL AND m.sender_id IS DISTINCT FROM p.user_id))::int AS bad_unread,
       (SELECT count(*) FROM participants p JOIN conversations c ON c.id = p.conversation_id
         WHERE p.last_read_seq > c.last_seq OR p.last_activity_at <> c.last_activity_at)::int AS bad_pointer_or_activity,
       (SELECT count(*) FROM messages m JOIN participants p
            ON p.conversation_id = m.conversation_id AND p.user_id = m.sender_id
         WHERE m.seq > p.last_read_seq)::int AS sender_behind_own_message`,
    [userOnly ?? null],
  );
  return rows[0] as Record<string, number>;
}
