import { Injectable } from '@nestjs/common';
import { Db, type Queryable } from '../database/db';
import type { ConversationRow, ParticipantRow, ParticipantRole } from './conversation.types';

const CONVERSATION_COLUMNS = `c.id, c.type, c.title, c.last_seq, c.created_at, c.last_activity_at, c.last_deleted_at,
  c.business_id, c.business_status, c.assigned_agent_id, c.priority, c.opens_at`;
const PARTICIPANT_COLUMNS = `p.conversation_id, p.user_id, p.role, p.joined_at, p.last_read_seq, p.unread_count`;

/** A chat-list position: the conversation's last activity (µs since the epoch, as text) and its id. */
export interface ChatListPosition {
  activityUs: string;
  conversationId: string;
}

export type ChatListRow = ConversationRow & {
  my_last_read_seq: number;
  my_unread_count: number;
  activity_us: string;
};

@Injectable()
export class ConversationRepository {
  constructor(private readonly db: Db) {}

  /** Inserts a direct conversation unless the pair has one; returns the pair's conversation id and whether it is new. */
  async createDirect(
    tx: Queryable,
    id: string,
    directKey: string,
    userIds: [string, string],
  ): Promise<{ id: string; created: boolean }> {
    const inserted = await tx.query(
      `INSERT INTO conversations (id, type, direct_key) VALUES ($1, 'direct', $2)
       ON CONFLICT (direct_key) DO NOTHING RETURNING id`,
      [id, directKey],
    );
    if (!inserted.length) {
      const [existing] = await tx.query(`SELECT id FROM conversations WHERE direct_key = $1`, [directKey]);
      return { id: existing.id, created: false };
    }
    await this.addParticipants(
      tx,
      id,
      userIds.map((userId) => ({ userId, role: 'member' as const })),
    );
    return { id, created: true };
  }

  async createGroup(
    tx: Queryable,
    id: string,
    title: string,
    members: { userId: string; role: ParticipantRole }[],
  ): Promise<void> {
    await tx.query(`INSERT INTO conversations (id, type, title) VALUES ($1, 'group', $2)`, [id, title]);
    await this.addParticipants(tx, id, members);
  }

  /** New participants start with everything already there read. Existing ones are left as they are. */
  async addParticipants(
    tx: Queryable,
    conversationId: string,
    members: { userId: string; role: ParticipantRole }[],
  ): Promise<void> {
    await tx.query(
      `INSERT INTO participants (conversation_id, user_id, role, last_read_seq, last_activity_at)
       SELECT $1, m.user_id, m.role, c.last_seq, c.last_activity_at
         FROM unnest($2::text[], $3::text[]) AS m(user_id, role)
         JOIN conversations c ON c.id = $1
       ON CONFLICT (conversation_id, user_id) DO NOTHING`,
      [conversationId, members.map((m) => m.userId), members.map((m) => m.role)],
    );
  }

  /** Locks the conversation row for a change of its participants; undefined when it does not exist. */
  async lockForUpdate(tx: Queryable, conversationId: string): Promise<ConversationRow | undefined> {
    const rows = await tx.query(
      `SELECT ${CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1 FOR NO KEY UPDATE`,
      [conversationId],
    );
    return rows[0];
  }

  participants(q: Queryable, conversationId: string): Promise<ParticipantRow[]> {
    return q.query(
      `SELECT ${PARTICIPANT_COLUMNS} FROM participants p WHERE p.conversation_id = $1 ORDER BY p.joined_at, p.user_id`,
      [conversationId],
    );
  }

  async participantIds(conversationId: string): Promise<string[]> {
    const rows: { user_id: string }[] = await this.db.query(
      `SELECT user_id FROM participants WHERE conversation_id = $1`,
      [conversationId],
    );
    return rows.map((r) => r.user_id);
  }

  async isParticipant(conversationId: string, userId: string): Promise<boolean> {
    const rows = await this.db.query(
      `SELECT 1 FROM participants WHERE conversation_id = $1 AND user_id = $2`,
      [conversationId, userId],
    );
    return rows.length > 0;
  }

  async removeParticipant(tx: Queryable, conversationId: string, userId: string): Promise<boolean> {
    const rows = await tx.query(
      `DELETE FROM participants WHERE conversation_id = $1 AND user_id = $2 RETURNING 1`,
      [conversationId, userId],
    );
    return rows.length > 0;
  }

  async setRole(tx: Queryable, conversationId: string, userId: string, role: ParticipantRole): Promise<void> {
    await tx.query(`UPDATE participants SET role = $3 WHERE conversation_id = $1 AND user_id = $2`, [
      conversationId,
      userId,
      role,
    ]);
  }

  /**
   * The caller's view of some conversations (their pointer and unread count beside the conversation),
   * from the primary: it answers writes (a create, a participant change) and events about them.
   */
  viewsFor(userId: string, conversationIds: string[]): Promise<ChatListRow[]> {
    return this.db.query(
      `SELECT ${CONVERSATION_COLUMNS}, p.last_read_seq AS my_last_read_seq, p.unread_count AS my_unread_count,
              (extract(epoch FROM p.last_activity_at) * 1000000)::bigint::text AS activity_us
         FROM participants p JOIN conversations c ON c.id = p.conversation_id
        WHERE p.user_id = $1 AND p.conversation_id = ANY($2::uuid[])`,
      [userId, conversationIds],
    );
  }

  /**
   * One page of the caller's chat list, most recent activity first: a range scan of the
   * participants_chat_list index, no message rows touched (unread counts are kept on the row).
   */
  chatList(userId: string, limit: number, after?: ChatListPosition): Promise<ChatListRow[]> {
    const params: unknown[] = [userId, limit];
    let position = '';
    if (after) {
      params.push(after.activityUs, after.conversationId);
      position = `AND (p.last_activity_at, p.conversation_id) < ('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::uuid)`;
    }
    return this.db.read(
      `SELECT ${CONVERSATION_COLUMNS}, p.last_read_seq AS my_last_read_seq, p.unread_count AS my_unread_count,
              (extract(epoch FROM p.last_activity_at) * 1000000)::bigint::text AS activity_us
         FROM participants p JOIN conversations c ON c.id = p.conversation_id
        WHERE p.user_id = $1 ${position}
        ORDER BY p.last_activity_at DESC, p.conversation_id DESC
        LIMIT $2`,
      params,
    );
  }

  /** Everyone who shares a conversation with each of `userIds` (presence goes to them), in one query. */
  async contactsOfMany(userIds: string[]): Promise<Map<string, string[]>> {
    const rows: { of: string; user_id: string }[] = await this.db.read(
      `SELECT DISTINCT mine.user_id AS of, other.user_id
         FROM participants mine JOIN participants other ON other.conversation_id = mine.conversation_id
        WHERE mine.user_id = ANY($1::text[]) AND other.user_id <> mine.user_id`,
      [userIds],
    );
    const contacts = new Map<string, string[]>();
    for (const r of rows) contacts.set(r.of, [...(contacts.get(r.of) ?? []), r.user_id]);
    return contacts;
  }

  /** Those of `candidates` who share a conversation with `userId` (whose presence the user may see; `userId` itself too, if asked). */
  async sharingWith(userId: string, candidates: string[]): Promise<Set<string>> {
    if (!candidates.length) return new Set();
    const rows: { user_id: string }[] = await this.db.read(
      `SELECT DISTINCT other.user_id
         FROM participants mine JOIN participants other ON other.conversation_id = mine.conversation_id
        WHERE mine.user_id = $1 AND other.user_id = ANY($2::text[])`,
      [userId, candidates],
    );
    return new Set(rows.map((r) => r.user_id));
  }

  /** Participants of several conversations at once (a chat list page; `fresh`: from the primary, see `Db.read`). */
  participantsOf(conversationIds: string[], fresh = false): Promise<ParticipantRow[]> {
    if (!conversationIds.length) return Promise.resolve([]);
    return this.db.read(
      `SELECT ${PARTICIPANT_COLUMNS} FROM participants p WHERE p.conversation_id = ANY($1::uuid[]) ORDER BY p.joined_at, p.user_id`,
      [conversationIds],
      fresh,
    );
  }
}
