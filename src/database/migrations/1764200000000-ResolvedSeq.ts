import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `conversations.resolved_seq`: the seq of the conversation's last "resolved" notice (null: never
 * resolved). An agent assigned later counts what the customer wrote after it as unread; before, the
 * notice was found by its text, a scan of the conversation's messages back to it (all of them when
 * there was none) that also depended on the wording of the notice.
 */
export class ResolvedSeq1764200000000 implements MigrationInterface {
  name = 'ResolvedSeq1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE conversations ADD COLUMN resolved_seq integer`);
    // The conversations resolved before this migration: their last notice, by the text it had then.
    await q.query(
      `UPDATE conversations c SET resolved_seq = s.seq
         FROM (SELECT m.conversation_id, max(m.seq) AS seq
                 FROM messages m JOIN conversations b ON b.id = m.conversation_id AND b.business_id IS NOT NULL
                WHERE m.type = 'system' AND m.content->>'text' = $1
                GROUP BY m.conversation_id) s
        WHERE c.id = s.conversation_id`,
      ['This conversation was resolved. Write again any time to re-open it.'],
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE conversations DROP COLUMN resolved_seq`);
  }
}
