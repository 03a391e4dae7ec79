import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The "resolved" notice as it was worded when this migration was written (the backfill looks for it). */
const RESOLVED_NOTICE_TEXT = 'This conversation was resolved. Write again any time to re-open it.';
/** Business conversations backfilled per statement. */
const BATCH = 500;

/**
 * `conversations.resolved_seq`: the seq of the conversation's last "resolved" notice (null: never
 * resolved). An agent assigned later counts what the customer wrote after it as unread; before, the
 * notice was found by its text, a scan of the conversation's messages back to it (all of them when
 * there was none) that also depended on the wording of the notice.
 *
 * Run outside a transaction, so that it never holds up the service: the column is added in a
 * statement of its own (instant: nullable, no default; it gives up after 5 s rather than queue every
 * query behind a long transaction), then the business conversations resolved before it are
 * backfilled in short batches, each its own transaction, through the messages' (conversation, seq)
 * index. Both steps can be run again after a failure. Conversations that an instance still running
 * the previous version resolves during a rolling upgrade, after the backfill, are not marked: their
 * next agent sees that earlier round as unread too, as if it had not been resolved.
 */
export class ResolvedSeq1764200000000 implements MigrationInterface {
  name = 'ResolvedSeq1764200000000';
  transaction = false as const;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`SET lock_timeout = '5s'`);
    try {
      await q.query(`ALTER TABLE conversations ADD COLUMN IF NOT EXISTS resolved_seq integer`);
    } finally {
      await q.query(`RESET lock_timeout`);
    }
    // No DATABASE_STATEMENT_TIMEOUT_MS for the batches: one that took longer would be cancelled and
    // retried from the first batch at every start, and the migration would never finish.
    await q.query(`SET statement_timeout = 0`);
    try {
      await this.backfill(q);
    } finally {
      await q.query(`RESET statement_timeout`);
    }
  }

  private async backfill(q: QueryRunner): Promise<void> {
    let after: string | null = null;
    for (;;) {
      const rows: { id: string }[] = await q.query(
        `WITH batch AS (
           SELECT id FROM conversations
            WHERE business_id IS NOT NULL AND ($1::uuid IS NULL OR id > $1::uuid)
            ORDER BY id LIMIT ${BATCH}),
         found AS (
           SELECT b.id, (SELECT max(m.seq) FROM messages m
                          WHERE m.conversation_id = b.id AND m.type = 'system' AND m.content->>'text' = $2) AS seq
             FROM batch b),
         marked AS (
           UPDATE conversations c SET resolved_seq = f.seq
             FROM found f
            WHERE c.id = f.id AND f.seq IS NOT NULL AND f.seq > COALESCE(c.resolved_seq, 0))
         SELECT id FROM batch ORDER BY id DESC LIMIT 1`,
        [after, RESOLVED_NOTICE_TEXT],
      );
      if (!rows.length) break;
      after = rows[0]!.id;
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE conversations DROP COLUMN IF EXISTS resolved_seq`);
  }
}
