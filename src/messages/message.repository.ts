import { Injectable } from '@nestjs/common';
import { Db, type Queryable } from '../database/db';
import type { ConversationType } from '../conversations/conversation.types';
import type { MessageRow, ReadState } from './message.types';

const MESSAGE_COLUMNS = `id, conversation_id, seq, sender_id, client_message_id, type, content, created_at, edited_at, deleted_at`;

/**
 * A message's time (and its conversation's new activity): the clock when the seq is taken, under the
 * conversation row lock, never before the previous one. Not `now()`, which is when the transaction
 * began: a send that waited for the lock would get an earlier time than the seq before it.
 */
const NEXT_ACTIVITY = `GREATEST(c.last_activity_at, date_trunc('milliseconds', clock_timestamp()))`;

/** The batched send (see `MessageRepository.sendBatch`): $1–$5 are the items' ids, conversations, senders, clientMessageIds, texts. */
const SEND_BATCH_SQL = `WITH x AS (
         SELECT x.id, x.conversation_id, x.sender_id, x.client_message_id, x.text, x.i::int AS i
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY
                AS x(id, conversation_id, sender_id, client_message_id, text, i)),
       chk AS (
         SELECT x.*, (p.user_id IS NOT NULL) AS member, m.id AS existing_id
           FROM x
           LEFT JOIN participants p ON p.conversation_id = x.conversation_id AND p.user_id = x.sender_id
           LEFT JOIN messages m ON m.sender_id = x.sender_id AND m.client_message_id = x.client_message_id),
       firsts AS (
         SELECT chk.*, min(chk.i) OVER (PARTITION BY chk.sender_id, chk.client_message_id) AS first_i
           FROM chk WHERE chk.member AND chk.existing_id IS NULL),
       acc AS (
         SELECT f.*, row_number() OVER (PARTITION BY f.conversation_id ORDER BY f.i)::int AS k
           FROM firsts f WHERE f.i = f.first_i),
       n AS (SELECT acc.conversation_id, count(*)::int AS n FROM acc GROUP BY acc.conversation_id),
       seqs AS (
         UPDATE conversations c
            SET last_seq = c.last_seq + n.n, last_activity_at = ${NEXT_ACTIVITY}
           FROM n
          WHERE c.id = n.conversation_id
          RETURNING c.id, c.last_seq - n.n AS base, c.last_activity_at AS at, c.type,
                    (SELECT m.created_at FROM messages m
                      WHERE m.conversation_id = c.id AND m.seq = c.last_seq - n.n) AS previous_at),
       ins AS (
         INSERT INTO messages (id, conversation_id, seq, sender_id, client_message_id, type, content, created_at)
         SELECT acc.id, acc.conversation_id, seqs.base + acc.k, acc.sender_id, acc.client_message_id, 'text',
                jsonb_build_object('text', acc.text), seqs.at
           FROM acc JOIN seqs ON seqs.id = acc.conversation_id
         RETURNING ${MESSAGE_COLUMNS}),
       mine AS (
         SELECT p.conversation_id, p.user_id, max(b.created_at) AS at, count(*)::int AS total,
                max(b.seq) FILTER (WHERE b.sender_id = p.user_id) AS my_last,
                p.unread_count AS unread_before
           FROM participants p JOIN ins b ON b.conversation_id = p.conversation_id
          GROUP BY p.conversation_id, p.user_id),
       s AS (
         SELECT mine.*, o.after_mine, o.before_mine
           FROM mine CROSS JOIN LATERAL (
                SELECT count(*) FILTER (WHERE b.seq > mine.my_last)::int AS after_mine,
                       count(*) FILTER (WHERE b.seq < mine.my_last)::int AS before_mine
                  FROM ins b
                 WHERE b.conversation_id = mine.conversation_id AND b.sender_id IS DISTINCT FROM mine.user_id) o),
       readers AS (
         UPDATE participants p
            SET last_read_seq = COALESCE(s.my_last, p.last_read_seq),
                unread_count = CASE WHEN s.my_last IS NULL THEN p.unread_count + s.total ELSE s.after_mine END,
                last_activity_at = s.at
           FROM s
          WHERE p.conversation_id = s.conversation_id AND p.user_id = s.user_id
          RETURNING p.conversation_id, p.user_id, s.my_last, s.after_mine,
                    s.unread_before + s.before_mine AS cleared)
       SELECT chk.i, chk.member, (chk.existing_id IS NOT NULL) AS existed, firsts.first_i,
              ${MESSAGE_COLUMNS.split(', ')
                .map((c) => `COALESCE(ins.${c}, e.${c}) AS ${c}`)
                .join(', ')},
              seqs.type AS conversation_type,
              CASE WHEN ins.seq = seqs.base + 1 THEN seqs.previous_at END AS previous_at,
              me.cleared AS sender_cleared, me.after_mine AS sender_unread_after,
              CASE WHEN ins.id IS NOT NULL
                   THEN ARRAY(SELECT r.user_id FROM readers r WHERE r.conversation_id = ins.conversation_id)
              END AS participant_ids
         FROM chk
         LEFT JOIN firsts ON firsts.i = chk.i
         LEFT JOIN ins ON ins.id = chk.id
         LEFT JOIN messages e ON e.id = chk.existing_id
         LEFT JOIN seqs ON seqs.id = ins.conversation_id
         LEFT JOIN readers me ON me.conversation_id = ins.conversation_id AND me.user_id = ins.sender_id
                             AND me.my_last = ins.seq
        ORDER BY chk.i`;

/** One item's outcome in `sendBatch` (the message columns are null for a non-member or a repeat). */
export type BatchOutcomeRow = MessageRow & {
  i: number;
  member: boolean;
  existed: boolean;
  first_i: number | null;
  conversation_type: ConversationType | null;
  participant_ids: string[] | null;
  /** For the first new message of its conversation in the batch: when its predecessor was written (see `quietMs`). */
  previous_at: Date | null;
  /**
   * For the sender's last new message of its conversation in the batch: how many unread messages
   * their send cleared (those unread before the batch, and the others' messages of the batch before
   * theirs), and their unread count after.
   */
  sender_cleared: number | null;
  sender_unread_after: number | null;
};

/**
 * How long a conversation had been quiet when `row` was written: since its previous message, as
 * `previousAt` (that message's `created_at`, read in the writing statement) says. Undefined when
 * unknown: the previous message was not visible to the statement (it committed meanwhile), was purged,
 * or there is none. The ordered channel's position of an idle conversation expires; this tells it that
 * the message before is long published (`OrderedChannel.publish`).
 */
export function quietMs(row: MessageRow, previousAt: Date | null | undefined): number | undefined {
  return previousAt ? row.created_at.getTime() - previousAt.getTime() : undefined;
}

export interface NewTextMessage {
  id: string;
  conversationId: string;
  senderId: string;
  clientMessageId: string;
  text: string;
}

/**
 * Messages, the per-conversation sequence and the per-participant read state.
 *
 * Unread counters (`participants.unread_count`) are exact because every write that changes them
 * holds the participant row lock while it does, and computes from what was committed before:
 * - send: the conversation row lock (seq) is taken first, then every participant row is updated;
 * - read: the reader's row is locked first, then the count is taken in a later statement, whose
 *   snapshot therefore includes every send that touched that row before;
 * - delete and retention: the message is tombstoned, then a single-table UPDATE decrements the
 *   participants whose pointer is below it (PostgreSQL re-checks that condition on the latest row).
 */
@Injectable()
export class MessageRepository {
  constructor(private readonly db: Db) {}

  findByClientMessageId(senderId: string, clientMessageId: string): Promise<MessageRow | undefined> {
    return this.db
      .query<MessageRow>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE sender_id = $1 AND client_message_id = $2`,
        [senderId, clientMessageId],
      )
      .then((rows) => rows[0]);
  }

  /**
   * Takes the next seq of the conversation if `senderId` is a participant (locking the conversation
   * row until commit, which serialises the sends of one conversation). Undefined when not a participant.
   */
  async nextSeq(
    tx: Queryable,
    conversationId: string,
    senderId: string,
  ): Promise<{ seq: number; at: Date; type: ConversationType; previousAt: Date | null } | undefined> {
    // previousAt: the previous message's time if this statement's snapshot sees it (a message that
    // committed while this one waited for the row lock is not seen: null, unknown).
    const rows = await tx.query(
      `UPDATE conversations c
          SET last_seq = c.last_seq + 1, last_activity_at = ${NEXT_ACTIVITY}
        WHERE c.id = $1
          AND EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = $1 AND p.user_id = $2)
        RETURNING c.last_seq AS seq, c.last_activity_at AS at, c.type,
                  (SELECT m.created_at FROM messages m
                    WHERE m.conversation_id = c.id AND m.seq = c.last_seq - 1) AS "previousAt"`,
      [conversationId, senderId],
    );
    return rows[0];
  }

  /** Inserts the message; undefined when (sender, clientMessageId) already exists (the caller rolls back). */
  async insertText(tx: Queryable, m: NewTextMessage, seq: number, at: Date): Promise<MessageRow | undefined> {
    const rows = await tx.query(
      `INSERT INTO messages (id, conversation_id, seq, sender_id, client_message_id, type, content, created_at)
       VALUES ($1, $2, $3, $4, $5, 'text', $6, $7)
       ON CONFLICT (sender_id, client_message_id) WHERE client_message_id IS NOT NULL DO NOTHING
       RETURNING ${MESSAGE_COLUMNS}`,
      [m.id, m.conversationId, seq, m.senderId, m.clientMessageId, { text: m.text }, at],
    );
    return rows[0];
  }

  /**
   * The batched send path, in one transaction of two statements. First the batch's conversations
   * are locked, in id order (batches of other instances never deadlock). Then one statement (the
   * checks read a snapshot taken after the locks, so they see every participant added or removed
   * and every message stored before): for each item, whether its sender is a participant and
   * whether (sender, clientMessageId) is already stored; then, for the items that are new (the
   * first of any repeated key of the batch), the conversations' seqs (`k`: an item's 1-based
   * position among its conversation's new items), the inserts, and every participant's read state:
   * a sender has read up to their last message of the batch, so their unread count is what others
   * sent after it; everyone else has the batch's messages unread on top of what they had. A
   * (sender, clientMessageId) raced in by a send to another conversation fails the statement with a
   * unique violation (no ON CONFLICT: skipping it would leave a seq hole), on which the caller
   * sends one by one.
   *
   * Why not one statement: a statement's snapshot is taken before it waits for a lock, so a
   * participant added while the batch waited would miss its unread count and `message:new`, and
   * one removed could still post (tested in messages.test.ts).
   *
   * One row per item, in order: `member`, `existed` (the stored message's columns then), `first_i`
   * (the item that a repeated key refers to), and for a new message its columns, its conversation's
   * type and participants.
   */
  async sendBatch(items: NewTextMessage[]): Promise<BatchOutcomeRow[]> {
    return this.db.transaction(async (tx) => {
      await tx.query(
        `SELECT 1 FROM conversations WHERE id = ANY ($1::uuid[]) ORDER BY id FOR NO KEY UPDATE`,
        [[...new Set(items.map((r) => r.conversationId))]],
      );
      return tx.query(SEND_BATCH_SQL, [
        items.map((r) => r.id),
        items.map((r) => r.conversationId),
        items.map((r) => r.senderId),
        items.map((r) => r.clientMessageId),
        items.map((r) => r.text),
      ]);
    });
  }

  /** A service-written message (`senderId` null): unread for every participant. */
  async insertSystem(tx: Queryable, id: string, conversationId: string, text: string): Promise<MessageRow> {
    const [row] = await tx.query(
      `WITH next AS (
         UPDATE conversations c SET last_seq = c.last_seq + 1, last_activity_at = ${NEXT_ACTIVITY} WHERE c.id = $2
         RETURNING last_seq, last_activity_at)
       INSERT INTO messages (id, conversation_id, seq, sender_id, client_message_id, type, content, created_at)
       SELECT $1, $2, next.last_seq, NULL, NULL, 'system', $3, next.last_activity_at FROM next
       RETURNING ${MESSAGE_COLUMNS}`,
      [id, conversationId, { text }],
    );
    await this.afterInsert(tx, row as MessageRow);
    return row as MessageRow;
  }

  /**
   * After a message: the sender has read everything up to it; every other participant has one more unread.
   * Returns the participant ids (the fan-out list) and the sender's unread count before (none for a
   * system message).
   */
  async afterInsert(
    tx: Queryable,
    row: MessageRow,
  ): Promise<{ participantIds: string[]; senderUnreadBefore: number | undefined }> {
    const rows: { user_id: string; unread_before: number }[] = await tx.query(
      `UPDATE participants p
          SET last_read_seq    = CASE WHEN p.user_id = $2 THEN $3 ELSE p.last_read_seq END,
              unread_count     = CASE WHEN p.user_id = $2 THEN 0 ELSE p.unread_count + 1 END,
              last_activity_at = $4
         FROM participants was
        WHERE p.conversation_id = $1 AND was.conversation_id = p.conversation_id AND was.user_id = p.user_id
        RETURNING p.user_id, was.unread_count AS unread_before`,
      [row.conversation_id, row.sender_id, row.seq, row.created_at],
    );
    return {
      participantIds: rows.map((r) => r.user_id),
      senderUnreadBefore: rows.find((r) => r.user_id === row.sender_id)?.unread_before,
    };
  }

  /**
   * `before`: newest first; `after`: oldest first. Messages older than `notBefore` (retention) are gone.
   * `after` is the catch-up a client makes when a `message:new` (or its seq) told it of messages it
   * lacks: it reads the primary, which has them (a lagging replica would answer "nothing more").
   */
  history(
    conversationId: string,
    page: { before?: number; after?: number; limit: number },
    notBefore: Date,
  ): Promise<MessageRow[]> {
    if (page.after !== undefined) {
      return this.db.read<MessageRow>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages
          WHERE conversation_id = $1 AND seq > $2 AND created_at >= $4
          ORDER BY seq ASC LIMIT $3`,
        [conversationId, page.after, page.limit, notBefore],
        true,
      );
    }
    return this.db.read<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages
        WHERE conversation_id = $1 AND seq < $2 AND created_at >= $4
        ORDER BY seq DESC LIMIT $3`,
      [conversationId, page.before ?? 2 ** 31 - 1, page.limit, notBefore],
    );
  }

  /**
   * The messages at given (conversation, seq) pairs: the chat list's last messages.
   * Messages older than `notBefore` (retention) are gone, as in the history.
   */
  atSeqs(
    pairs: { conversationId: string; seq: number }[],
    notBefore = new Date(0),
    fresh = false,
  ): Promise<MessageRow[]> {
    if (!pairs.length) return Promise.resolve([]);
    return this.db.read<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS.split(', ')
        .map((c) => `m.${c}`)
        .join(', ')}
         FROM unnest($1::uuid[], $2::int[]) AS x(conversation_id, seq)
         JOIN messages m ON m.conversation_id = x.conversation_id AND m.seq = x.seq
        WHERE m.created_at >= $3`,
      [pairs.map((p) => p.conversationId), pairs.map((p) => p.seq), notBefore],
      fresh,
    );
  }

  findInConversation(conversationId: string, messageId: string): Promise<MessageRow | undefined> {
    return this.db
      .query<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND conversation_id = $2`, [
        messageId,
        conversationId,
      ])
      .then((rows) => rows[0]);
  }

  /** Locks the conversation row, so that a delete never interleaves with a send's participant updates. */
  async lockConversation(tx: Queryable, conversationId: string): Promise<void> {
    await tx.query(`SELECT 1 FROM conversations WHERE id = $1 FOR NO KEY UPDATE`, [conversationId]);
  }

  /** Tombstones a live message; undefined when it was already deleted. */
  async tombstone(
    tx: Queryable,
    messageId: string,
  ): Promise<{ seq: number; sender_id: string | null } | undefined> {
    const rows = await tx.query(
      `WITH gone AS (
         UPDATE messages SET deleted_at = now(), content = NULL
          WHERE id = $1 AND deleted_at IS NULL
          RETURNING seq, sender_id, conversation_id, deleted_at),
       marked AS (
         UPDATE conversations c SET last_deleted_at = GREATEST(c.last_deleted_at, gone.deleted_at)
           FROM gone WHERE c.id = gone.conversation_id)
       SELECT seq, sender_id FROM gone`,
      [messageId],
    );
    return rows[0];
  }

  /**
   * One fewer unread for everyone who had this (now deleted) message unread. Returns the read state of
   * those whose count went down.
   */
  async uncountDeleted(
    tx: Queryable,
    conversationId: string,
    seqs: number[],
    senders: (string | null)[],
  ): Promise<(ReadState & { userId: string })[]> {
    // The count is taken on the row being updated (PostgreSQL re-reads it if a read moved its pointer
    // meanwhile); RETURNING computes it again on the same row, to tell whose count changed.
    const uncounted = `(SELECT count(*)::int FROM unnest($2::int[], $3::text[]) AS x(seq, sender_id)
                         WHERE x.seq > p.last_read_seq AND x.sender_id IS DISTINCT FROM p.user_id)`;
    const rows: { user_id: string; unread_count: number; last_read_seq: number; uncounted: number }[] =
      await tx.query(
        `UPDATE participants p
            SET unread_count = p.unread_count - ${uncounted}
          WHERE p.conversation_id = $1 AND p.last_read_seq < (SELECT max(s) FROM unnest($2::int[]) AS s)
          RETURNING p.user_id, p.unread_count, p.last_read_seq, ${uncounted} AS uncounted`,
        [conversationId, seqs, senders],
      );
    return rows
      .filter((r) => r.uncounted > 0)
      .map((r) => ({ userId: r.user_id, unreadCount: r.unread_count, lastReadSeq: r.last_read_seq }));
  }

  /** Locks the reader's participant row; undefined when not a participant. */
  async lockReadState(tx: Queryable, conversationId: string, userId: string): Promise<ReadState | undefined> {
    const rows = await tx.query(
      `SELECT last_read_seq, unread_count FROM participants
        WHERE conversation_id = $1 AND user_id = $2 FOR UPDATE`,
      [conversationId, userId],
    );
    return rows[0] ? { lastReadSeq: rows[0].last_read_seq, unreadCount: rows[0].unread_count } : undefined;
  }

  /** Moves the pointer forward (never back, never past last_seq) and recounts what is left unread. */
  async markRead(tx: Queryable, conversationId: string, userId: string, seq: number): Promise<ReadState> {
    const [row] = await tx.query(
      `WITH target AS (
         SELECT GREATEST(p.last_read_seq, LEAST($3::int, c.last_seq)) AS seq
           FROM participants p JOIN conversations c ON c.id = p.conversation_id
          WHERE p.conversation_id = $1 AND p.user_id = $2)
       UPDATE participants p
          SET last_read_seq = target.seq,
              unread_count = (SELECT count(*) FROM messages m
                               WHERE m.conversation_id = $1 AND m.seq > target.seq
                                 AND m.deleted_at IS NULL AND m.sender_id IS DISTINCT FROM $2)
         FROM target
        WHERE p.conversation_id = $1 AND p.user_id = $2
        RETURNING p.last_read_seq, p.unread_count`,
      [conversationId, userId, seq],
    );
    return { lastReadSeq: row.last_read_seq, unreadCount: row.unread_count };
  }

  /** Retention, step 1: up to `limit` live messages created before `cutoff`, oldest first (not locked). */
  expiredBatch(cutoff: Date, limit: number): Promise<{ id: string; conversation_id: string }[]> {
    return this.db.query(
      `SELECT id, conversation_id FROM messages WHERE created_at < $1 AND deleted_at IS NULL ORDER BY created_at LIMIT $2`,
      [cutoff, limit],
    );
  }

  /** Tombstones the given messages of one conversation that are still live (call with the conversation locked). */
  tombstoneMany(
    tx: Queryable,
    conversationId: string,
    ids: string[],
    at: Date,
  ): Promise<{ seq: number; sender_id: string | null }[]> {
    return tx.query(
      `UPDATE messages SET deleted_at = $3, content = NULL
        WHERE conversation_id = $1 AND id = ANY($2::uuid[]) AND deleted_at IS NULL
        RETURNING seq, sender_id`,
      [conversationId, ids, at],
    );
  }

  /** Retention, step 2: removes up to `limit` rows that expired and were tombstoned before `purgeBefore`. */
  async purgeExpired(cutoff: Date, purgeBefore: Date, limit: number): Promise<number> {
    const rows = await this.db.query(
      `DELETE FROM messages WHERE id IN (
         SELECT id FROM messages
          WHERE created_at < $1 AND deleted_at IS NOT NULL AND deleted_at < $2
          LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING 1`,
      [cutoff, purgeBefore, limit],
    );
    return rows.length;
  }
}
