import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Conversations, participants and messages.
 *
 * Unread counts are kept per participant (`unread_count`) and maintained by the write paths
 * (send, read, delete, retention) under the participant row lock, so that the chat list reads them
 * without touching message rows. `last_activity_at` is copied onto each participant row so that the
 * chat list is one index range scan on (user_id, last_activity_at, conversation_id).
 */
export class ChatCore1764000000000 implements MigrationInterface {
  name = 'ChatCore1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE conversations (
        id               uuid PRIMARY KEY,
        type             text NOT NULL CHECK (type IN ('direct', 'group', 'business')),
        title            text,
        direct_key       text UNIQUE,
        last_seq         integer NOT NULL DEFAULT 0,
        created_at       timestamptz NOT NULL DEFAULT now(),
        last_activity_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((type = 'direct') = (direct_key IS NOT NULL))
      )`);
    await q.query(`
      CREATE TABLE participants (
        conversation_id  uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        user_id          text NOT NULL,
        role             text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'customer', 'agent')),
        joined_at        timestamptz NOT NULL DEFAULT now(),
        last_read_seq    integer NOT NULL DEFAULT 0,
        unread_count     integer NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
        last_activity_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (conversation_id, user_id)
      )`);
    await q.query(
      `CREATE INDEX participants_chat_list ON participants (user_id, last_activity_at DESC, conversation_id DESC)`,
    );
    await q.query(`
      CREATE TABLE messages (
        id                uuid PRIMARY KEY,
        conversation_id   uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        seq               integer NOT NULL,
        sender_id         text,
        client_message_id text,
        type              text NOT NULL CHECK (type IN ('text', 'system')),
        content           jsonb,
        created_at        timestamptz NOT NULL DEFAULT now(),
        edited_at         timestamptz,
        deleted_at        timestamptz,
        UNIQUE (conversation_id, seq),
        CHECK ((type = 'system') = (sender_id IS NULL)),
        CHECK (deleted_at IS NOT NULL OR content IS NOT NULL)
      )`);
    await q.query(
      `CREATE UNIQUE INDEX messages_idempotency ON messages (sender_id, client_message_id) WHERE client_message_id IS NOT NULL`,
    );
    // Retention walks messages oldest first (tombstoning, then purging).
    await q.query(`CREATE INDEX messages_created_at ON messages (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE messages`);
    await q.query(`DROP TABLE participants`);
    await q.query(`DROP TABLE conversations`);
  }
}
