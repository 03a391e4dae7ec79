import { Injectable } from '@nestjs/common';
import { Db, type Queryable } from '../database/db';
import type { OpeningRange } from './hours';
import type { Priority } from './routing';

export type BusinessStatus = 'assigned' | 'queued' | 'closed' | 'resolved';

export interface BusinessRow {
  id: string;
  time_zone: string;
  hours: OpeningRange[];
}

export interface AgentRow {
  business_id: string;
  user_id: string;
  capacity: number;
  load: number;
  last_assigned_at: Date | null;
}

export interface BusinessConversationRow {
  id: string;
  business_id: string;
  customer_id: string;
  business_status: BusinessStatus;
  assigned_agent_id: string | null;
  priority: Priority;
  queued_at: Date | null;
  opens_at: Date | null;
}

const BC_COLUMNS = `id, business_id, customer_id, business_status, assigned_agent_id, priority, queued_at, opens_at`;

/** Businesses, agents, and the routing state of business conversations. */
@Injectable()
export class BusinessRepository {
  constructor(private readonly db: Db) {}

  async upsertBusiness(id: string, timeZone: string, hours: OpeningRange[]): Promise<{ created: boolean }> {
    const [row] = await this.db.query(
      `INSERT INTO businesses (id, time_zone, hours) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET time_zone = EXCLUDED.time_zone, hours = EXCLUDED.hours, updated_at = now()
       RETURNING (xmax = 0) AS created`,
      [id, timeZone, JSON.stringify(hours)],
    );
    return { created: row.created };
  }

  find(q: Queryable, id: string): Promise<BusinessRow | undefined> {
    return q
      .query<BusinessRow>(`SELECT id, time_zone, hours FROM businesses WHERE id = $1`, [id])
      .then((r) => r[0]);
  }

  agents(q: Queryable, businessId: string): Promise<AgentRow[]> {
    return q.query(
      `SELECT business_id, user_id, capacity, load, last_assigned_at FROM agents WHERE business_id = $1 ORDER BY user_id`,
      [businessId],
    );
  }

  findAgent(q: Queryable, businessId: string, userId: string): Promise<AgentRow | undefined> {
    return q
      .query<AgentRow>(
        `SELECT business_id, user_id, capacity, load, last_assigned_at FROM agents WHERE business_id = $1 AND user_id = $2`,
        [businessId, userId],
      )
      .then((r) => r[0]);
  }

  /** The businesses each of `userIds` is an agent of (users who are agents nowhere are left out). */
  async businessesOfAgents(userIds: string[]): Promise<Map<string, string[]>> {
    const rows: { user_id: string; business_id: string }[] = await this.db.query(
      `SELECT user_id, business_id FROM agents WHERE user_id = ANY($1::text[])`,
      [userIds],
    );
    const byUser = new Map<string, string[]>();
    for (const r of rows) byUser.set(r.user_id, [...(byUser.get(r.user_id) ?? []), r.business_id]);
    return byUser;
  }

  async upsertAgent(q: Queryable, businessId: string, userId: string, capacity: number): Promise<void> {
    await q.query(
      `INSERT INTO agents (business_id, user_id, capacity) VALUES ($1, $2, $3)
       ON CONFLICT (business_id, user_id) DO UPDATE SET capacity = EXCLUDED.capacity`,
      [businessId, userId, capacity],
    );
  }

  async deleteAgent(tx: Queryable, businessId: string, userId: string): Promise<boolean> {
    return (
      (
        await tx.query(`DELETE FROM agents WHERE business_id = $1 AND user_id = $2 RETURNING 1`, [
          businessId,
          userId,
        ])
      ).length > 0
    );
  }

  /** Serialises routing of one business across every instance, until the transaction ends. */
  async lockBusiness(tx: Queryable, businessId: string): Promise<void> {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('business'), hashtext($1))`, [businessId]);
  }

  /** Takes one unit of the agent's capacity; false when they have none left. */
  async claimCapacity(tx: Queryable, businessId: string, userId: string): Promise<boolean> {
    const rows = await tx.query(
      `UPDATE agents SET load = load + 1, last_assigned_at = now()
        WHERE business_id = $1 AND user_id = $2 AND load < capacity RETURNING 1`,
      [businessId, userId],
    );
    return rows.length > 0;
  }

  async releaseCapacity(tx: Queryable, businessId: string, userId: string): Promise<void> {
    await tx.query(`UPDATE agents SET load = GREATEST(load - 1, 0) WHERE business_id = $1 AND user_id = $2`, [
      businessId,
      userId,
    ]);
  }

  async setOffline(userId: string, since: Date | null): Promise<void> {
    await this.db.query(
      since
        ? `UPDATE agents SET offline_since = $2 WHERE user_id = $1 AND offline_since IS NULL`
        : `UPDATE agents SET offline_since = NULL WHERE user_id = $1 AND offline_since IS NOT NULL`,
      since ? [userId, since] : [userId],
    );
  }

  /**
   * (Re)starts an offline agent's grace period in a business at `since` (a transfer to them): it runs
   * from the transfer, not from when they went offline, which may be long before (holding nothing,
   * nothing ended it). One period per agent and business: what they already hold waits as long.
   */
  async startGrace(tx: Queryable, businessId: string, userId: string, since: Date): Promise<void> {
    await tx.query(
      `UPDATE agents SET offline_since = GREATEST(offline_since, $3) WHERE business_id = $1 AND user_id = $2`,
      [businessId, userId, since],
    );
  }

  /** Agents offline since before `before` who still hold conversations. */
  lapsedAgents(before: Date): Promise<{ business_id: string; user_id: string }[]> {
    return this.db.query(`SELECT business_id, user_id FROM agents WHERE offline_since < $1 AND load > 0`, [
      before,
    ]);
  }

  /** Creates the pair's business conversation, or returns the existing one. */
  async createConversation(
    tx: Queryable,
    id: string,
    businessId: string,
    customerId: string,
  ): Promise<{ id: string; created: boolean }> {
    const inserted = await tx.query(
      `INSERT INTO conversations (id, type, business_id, customer_id, business_status)
       VALUES ($1, 'business', $2, $3, 'queued')
       ON CONFLICT (business_id, customer_id) WHERE type = 'business' DO NOTHING RETURNING id`,
      [id, businessId, customerId],
    );
    if (inserted.length) {
      await tx.query(
        `INSERT INTO participants (conversation_id, user_id, role) VALUES ($1, $2, 'customer')`,
        [id, customerId],
      );
      return { id, created: true };
    }
    const [existing] = await tx.query(
      `SELECT id FROM conversations WHERE type = 'business' AND business_id = $1 AND customer_id = $2`,
      [businessId, customerId],
    );
    return { id: existing.id, created: false };
  }

  /** The business conversation, locked for a status change (callers hold the business lock). */
  lockConversation(tx: Queryable, conversationId: string): Promise<BusinessConversationRow | undefined> {
    return tx
      .query<BusinessConversationRow>(
        `SELECT ${BC_COLUMNS} FROM conversations WHERE id = $1 AND type = 'business' FOR NO KEY UPDATE`,
        [conversationId],
      )
      .then((r) => r[0]);
  }

  findConversation(conversationId: string): Promise<BusinessConversationRow | undefined> {
    return this.db
      .query<BusinessConversationRow>(
        `SELECT ${BC_COLUMNS} FROM conversations WHERE id = $1 AND type = 'business'`,
        [conversationId],
      )
      .then((r) => r[0]);
  }

  /**
   * Gives the conversation to an agent, who joins its participants (never its own customer: callers
   * check, and a customer's row is never turned into an agent's).
   *
   * The agent's read pointer is put just before the first customer message written since the
   * conversation was (re-)opened (since it was created, or since its last "resolved" notice, whose seq
   * is `resolved_seq`), so that what the customer wrote while waiting, and what followed, counts as
   * unread for them; with no such message, at the last message. Earlier history (system notices
   * before it, a previous round resolved) is read. The counter is exact, as MessageRepository's are:
   * the first statement takes the conversation row lock, which every send, delete and retention takes
   * before changing counters, so the count (a later statement) sees every message committed before
   * it, and every later message waits for this transaction and then counts for the new row.
   */
  async setAssigned(tx: Queryable, conversationId: string, agentId: string): Promise<void> {
    await tx.query(
      `UPDATE conversations SET business_status = 'assigned', assigned_agent_id = $2, opens_at = NULL WHERE id = $1`,
      [conversationId, agentId],
    );
    await tx.query(
      `WITH c AS (SELECT id, customer_id, last_seq, last_activity_at, resolved_seq FROM conversations WHERE id = $1),
       opened AS (SELECT COALESCE(c.resolved_seq, 0) AS seq FROM c),
       ptr AS (
         SELECT COALESCE((SELECT m.seq - 1 FROM messages m
                           WHERE m.conversation_id = c.id AND m.seq > opened.seq AND m.sender_id = c.customer_id
                             AND m.deleted_at IS NULL
                           ORDER BY m.seq LIMIT 1), c.last_seq) AS seq
           FROM c, opened)
       INSERT INTO participants (conversation_id, user_id, role, last_read_seq, unread_count, last_activity_at)
       SELECT c.id, $2, 'agent', ptr.seq,
              (SELECT count(*) FROM messages m
                WHERE m.conversation_id = c.id AND m.seq > ptr.seq AND m.deleted_at IS NULL
                  AND m.sender_id IS DISTINCT FROM $2),
              c.last_activity_at
         FROM c, ptr
       ON CONFLICT (conversation_id, user_id) DO UPDATE SET role = 'agent' WHERE participants.role = 'agent'`,
      [conversationId, agentId],
    );
  }

  /** Marks where the conversation was resolved: its "resolved" notice (see `setAssigned`). */
  async markResolved(tx: Queryable, conversationId: string, noticeSeq: number): Promise<void> {
    await tx.query(`UPDATE conversations SET resolved_seq = $2 WHERE id = $1`, [conversationId, noticeSeq]);
  }

  /** Takes the assigned agent off the conversation (they leave its participants) and sets the new status. */
  async unassign(
    tx: Queryable,
    conversationId: string,
    agentId: string,
    status: 'queued' | 'resolved',
  ): Promise<void> {
    await tx.query(
      `UPDATE conversations SET business_status = $2, assigned_agent_id = NULL,
              queued_at = CASE WHEN $2 = 'queued' THEN COALESCE(queued_at, now()) ELSE queued_at END
        WHERE id = $1`,
      [conversationId, status],
    );
    await tx.query(
      `DELETE FROM participants WHERE conversation_id = $1 AND user_id = $2 AND role = 'agent'`,
      [conversationId, agentId],
    );
  }

  /**
   * Puts the conversation in the queue. `fresh`: a re-opened conversation queues behind those
   * waiting now; otherwise it keeps its place (a new or closed one: since it was opened).
   */
  async setQueued(tx: Queryable, conversationId: string, fresh: boolean): Promise<void> {
    await tx.query(
      `UPDATE conversations SET business_status = 'queued', opens_at = NULL,
              queued_at = CASE WHEN $2 THEN clock_timestamp() ELSE COALESCE(queued_at, created_at) END
        WHERE id = $1`,
      [conversationId, fresh],
    );
  }

  /**
   * Closed until `opensAt`. `reopened`: a resolved conversation the customer wrote into again; its
   * place in the queue (taken at opening time, see `setQueued`) is from now, not from its first routing.
   */
  async setClosed(
    tx: Queryable,
    conversationId: string,
    opensAt: Date | null,
    reopened: boolean,
  ): Promise<void> {
    await tx.query(
      `UPDATE conversations SET business_status = 'closed', opens_at = $2,
              queued_at = CASE WHEN $3 THEN clock_timestamp() ELSE queued_at END
        WHERE id = $1`,
      [conversationId, opensAt, reopened],
    );
  }

  async setPriority(tx: Queryable, conversationId: string, priority: Priority): Promise<void> {
    await tx.query(`UPDATE conversations SET priority = $2 WHERE id = $1`, [conversationId, priority]);
  }

  /**
   * The business's queue, in routing order. A conversation is in it once it has been routed there
   * (`queued_at` set): a new one is inserted as 'queued' but not routed yet, and a drain that ran in
   * between (an agent coming online) took it as the head of the queue and assigned it, even with
   * the business closed. Routing decides it, under the business's lock.
   */
  queue(q: Queryable, businessId: string): Promise<BusinessConversationRow[]> {
    return q.query(
      `SELECT ${BC_COLUMNS} FROM conversations
        WHERE business_id = $1 AND business_status = 'queued' AND queued_at IS NOT NULL
        ORDER BY (priority = 'normal'), queued_at, id`,
      [businessId],
    );
  }

  async queueLength(businessId: string): Promise<number> {
    const [row] = await this.db.query(
      `SELECT count(*)::int AS n FROM conversations
        WHERE business_id = $1 AND business_status = 'queued' AND queued_at IS NOT NULL`,
      [businessId],
    );
    return row.n;
  }

  /** 1-based queue positions of some queued conversations. */
  async queuePositions(conversationIds: string[]): Promise<Map<string, number>> {
    if (!conversationIds.length) return new Map();
    const rows: { id: string; position: number }[] = await this.db.query(
      `SELECT c.id, (SELECT count(*)::int FROM conversations o
                       WHERE o.business_id = c.business_id AND o.business_status = 'queued' AND o.queued_at IS NOT NULL
                         AND ((o.priority = 'normal'), o.queued_at, o.id) <= ((c.priority = 'normal'), c.queued_at, c.id)) AS position
         FROM conversations c
        WHERE c.id = ANY($1::uuid[]) AND c.business_status = 'queued' AND c.queued_at IS NOT NULL`,
      [conversationIds],
    );
    return new Map(rows.map((r) => [r.id, r.position]));
  }

  /** Conversations assigned to an agent in a business. */
  assignedTo(tx: Queryable, businessId: string, agentId: string): Promise<BusinessConversationRow[]> {
    return tx.query(
      `SELECT ${BC_COLUMNS} FROM conversations WHERE assigned_agent_id = $2 AND business_id = $1 AND business_status = 'assigned'`,
      [businessId, agentId],
    );
  }

  /**
   * The businesses with closed conversations due to open (see `dueToOpen`): the sweep routes each
   * business's own, so that no business's backlog holds up another's opening.
   */
  async businessesDueToOpen(now: Date): Promise<string[]> {
    const rows: { business_id: string }[] = await this.db.query(
      `SELECT DISTINCT c.business_id FROM conversations c
        WHERE c.business_status = 'closed' AND c.opens_at <= $1
          AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.sender_id = c.customer_id)
        ORDER BY c.business_id`,
      [now],
    );
    return rows.map((r) => r.business_id);
  }

  /**
   * A business's closed conversations due to open, with at least one customer message: what the
   * opening job routes, up to `limit` (each routed one leaves this set: queued, assigned, or closed
   * again until a later opening, so the next call gets the next ones).
   * In queue order (the place each keeps, see `setQueued`), not by `opens_at`: each is drained as it is
   * routed, so routing a newer one first would give it an agent before an older one.
   */
  dueToOpen(now: Date, businessId: string, limit = 500): Promise<{ id: string; business_id: string }[]> {
    return this.db.query(
      `SELECT c.id, c.business_id FROM conversations c
        WHERE c.business_status = 'closed' AND c.opens_at <= $1 AND c.business_id = $2
          AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.sender_id = c.customer_id)
        ORDER BY (c.priority = 'normal'), COALESCE(c.queued_at, c.created_at), c.id LIMIT $3`,
      [now, businessId, limit],
    );
  }

  /** The hours changed: the business's closed conversations now wait for `opensAt`. Returns their ids. */
  async rescheduleClosed(tx: Queryable, businessId: string, opensAt: Date | null): Promise<string[]> {
    const rows: { id: string }[] = await tx.query(
      `UPDATE conversations SET opens_at = $2
        WHERE business_id = $1 AND type = 'business' AND business_status = 'closed'
          AND opens_at IS DISTINCT FROM $2
        RETURNING id`,
      [businessId, opensAt],
    );
    return rows.map((r) => r.id);
  }
}
