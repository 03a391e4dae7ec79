import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `conversations.last_deleted_at`: when a sender last deleted a message of the conversation (null:
 * never, or only before this migration). The chat list shows it as `lastDeletedAt`, so a client
 * back from being away knows which conversations had deletes it missed (a delete changes neither
 * `lastSeq` nor `lastActivityAt`). Adding a nullable column without a default is instant; the lock
 * wait is bounded so the migration never queues every query behind a long transaction.
 */
export class LastDeletedAt1764300000000 implements MigrationInterface {
  name = 'LastDeletedAt1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`SET LOCAL lock_timeout = '5s'`);
    await q.query(`ALTER TABLE conversations ADD COLUMN last_deleted_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE conversations DROP COLUMN last_deleted_at`);
  }
}
