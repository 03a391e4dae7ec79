import { Injectable } from '@nestjs/common';
import type { AuthUser } from '../auth/token-verifier';
import { Clock } from '../common/clock';
import { AppError, notFound } from '../common/errors';
import { Db } from '../database/db';
import { PresenceService } from '../presence/presence.service';
import { BusinessRepository, type BusinessConversationRow } from './business.repository';
import type { AgentPutDto, BusinessPutDto } from './business.dto';
import { isValidTimeZone, validateHours, type OpeningRange } from './hours';
import { RESOLVED_NOTICE } from './routing';
import { RoutingService } from './routing.service';

export interface BusinessView {
  id: string;
  timeZone: string;
  hours: OpeningRange[];
  queueLength: number;
  agents: { userId: string; capacity: number; load: number; presence: 'online' | 'offline' }[];
}

const isAdmin = (user: AuthUser) => user.roles.includes('admin');

/** Business administration and the agents' actions on conversations (CONTRACT §5). */
@Injectable()
export class BusinessService {
  constructor(
    private readonly db: Db,
    private readonly business: BusinessRepository,
    private readonly routing: RoutingService,
    private readonly presence: PresenceService,
    private readonly clock: Clock,
  ) {}

  async put(id: string, input: BusinessPutDto): Promise<{ view: BusinessView; created: boolean }> {
    if (!isValidTimeZone(input.timeZone))
      throw new AppError('VALIDATION_FAILED', 'timeZone must be an IANA time zone', [
        { field: 'timeZone', problems: ['unknown time zone'] },
      ]);
    const problems = validateHours(input.hours);
    if (problems.length)
      throw new AppError('VALIDATION_FAILED', problems[0]!, [{ field: 'hours', problems }]);
    const { created } = await this.business.upsertBusiness(id, input.timeZone, input.hours);
    if (!created) await this.routing.hoursChanged(id);
    return { view: await this.get(id), created };
  }

  async get(id: string): Promise<BusinessView> {
    const business = await this.business.find(this.db, id);
    if (!business) throw notFound('Business');
    const agents = await this.business.agents(this.db, id);
    const [online, queueLength] = await Promise.all([
      this.presence.isOnline(agents.map((a) => a.user_id)),
      this.business.queueLength(id),
    ]);
    return {
      id: business.id,
      timeZone: business.time_zone,
      hours: business.hours,
      queueLength,
      agents: agents.map((a) => ({
        userId: a.user_id,
        capacity: a.capacity,
        load: a.load,
        presence: online.get(a.user_id) ? 'online' : 'offline',
      })),
    };
  }

  /** Adds an agent or changes their capacity; freed capacity is used at once. */
  async putAgent(businessId: string, userId: string, input: AgentPutDto): Promise<BusinessView> {
    if (!(await this.business.find(this.db, businessId))) throw notFound('Business');
    // Under the business's routing lock, with the drain it may allow: a drain plans with the
    // capacities it read under that lock, and with the new agent's presence (online already: they
    // take from the queue at once).
    await this.routing.drainBusiness(
      businessId,
      (tx) => this.business.upsertAgent(tx, businessId, userId, input.capacity ?? 5),
      [userId],
    );
    return this.get(businessId);
  }

  /** Removes an agent: their conversations go back to the queue, ahead of newer ones. */
  async removeAgent(businessId: string, userId: string): Promise<void> {
    if (!(await this.business.find(this.db, businessId))) throw notFound('Business');
    if (!(await this.business.findAgent(this.db, businessId, userId))) throw notFound('Agent');
    await this.routing.requeueAgent(businessId, userId, true);
  }

  /** The assigned agent (or an admin) closes the conversation; a new customer message re-opens it. */
  async resolve(user: AuthUser, conversationId: string): Promise<{ customerId: string }> {
    const row = await this.authorize(user, conversationId, 'assigned');
    const changes = await this.routing.inBusiness(row.business_id, async (tx, changes) => {
      const c = await this.business.lockConversation(tx, conversationId);
      if (!c || c.business_status !== 'assigned' || !c.assigned_agent_id)
        throw new AppError('CONFLICT', 'only an assigned conversation can be resolved');
      if (!isAdmin(user) && c.assigned_agent_id !== user.id)
        throw new AppError('FORBIDDEN', 'only the assigned agent may resolve it');
      await this.business.unassign(tx, conversationId, c.assigned_agent_id, 'resolved');
      await this.business.releaseCapacity(tx, c.business_id, c.assigned_agent_id);
      changes.changed.set(conversationId, [c.assigned_agent_id]);
      const notice = await this.routing.system(tx, changes, conversationId, RESOLVED_NOTICE);
      await this.business.markResolved(tx, conversationId, notice);
    });
    this.routing.announce(changes);
    await this.routing.drainBusiness(row.business_id);
    return { customerId: row.customer_id };
  }

  /** An agent of the business (or an admin) raises the conversation to high priority. */
  async escalate(user: AuthUser, conversationId: string): Promise<{ customerId: string }> {
    const row = await this.authorize(user, conversationId, 'business');
    if (row.priority === 'high') return { customerId: row.customer_id };
    const changes = await this.routing.inBusiness(row.business_id, async (tx, changes) => {
      // Its status as of now (under the lock), not as read above: queued then, it may be assigned now.
      const c = await this.business.lockConversation(tx, conversationId);
      if (!c || c.priority === 'high') return;
      await this.business.setPriority(tx, conversationId, 'high');
      changes.changed.set(conversationId, []);
      changes.queueMoved = c.business_status === 'queued';
    });
    this.routing.announce(changes);
    return { customerId: row.customer_id };
  }

  /** An agent of the business (or an admin) hands the conversation to another agent with free capacity. */
  async transfer(user: AuthUser, conversationId: string, agentId: string): Promise<{ customerId: string }> {
    const row = await this.authorize(user, conversationId, 'business');
    const ctx = await this.routing.context(row.business_id);
    const changes = await this.routing.inBusiness(row.business_id, async (tx, changes) => {
      const c = await this.business.lockConversation(tx, conversationId);
      if (!c) throw notFound('Conversation');
      if (c.business_status === 'resolved')
        throw new AppError(
          'CONFLICT',
          'a resolved conversation is re-opened by its customer, not transferred',
        );
      if (!(await this.business.findAgent(tx, c.business_id, agentId)))
        throw new AppError('VALIDATION_FAILED', 'agentId is not an agent of this business', [
          { field: 'agentId', problems: ['not an agent of this business'] },
        ]);
      // An agent who wrote to their own business is its customer there, never their own agent.
      if (agentId === c.customer_id)
        throw new AppError('VALIDATION_FAILED', "agentId is the conversation's customer", [
          { field: 'agentId', problems: ["the conversation's customer"] },
        ]);
      if (c.assigned_agent_id === agentId) return;
      if (!(await this.business.claimCapacity(tx, c.business_id, agentId)))
        throw new AppError('CONFLICT', 'that agent has no free capacity');
      // An offline target keeps it for the grace period, as if they had just gone offline: the sweep
      // re-queues it if they do not come back (no presence change may ever be seen for them otherwise).
      if (!ctx?.online.get(agentId))
        await this.business.startGrace(tx, c.business_id, agentId, this.clock.now());
      const removed: string[] = [];
      if (c.assigned_agent_id) {
        await this.business.unassign(tx, conversationId, c.assigned_agent_id, 'queued');
        await this.business.releaseCapacity(tx, c.business_id, c.assigned_agent_id);
        removed.push(c.assigned_agent_id);
      } else if (c.business_status === 'queued') {
        changes.queueMoved = true;
      }
      await this.business.setAssigned(tx, conversationId, agentId);
      changes.changed.set(conversationId, removed);
      await this.routing.system(
        tx,
        changes,
        conversationId,
        `${ctx?.names.get(agentId) ?? agentId} joined the conversation.`,
      );
    });
    this.routing.announce(changes);
    await this.routing.drainBusiness(row.business_id);
    return { customerId: row.customer_id };
  }

  /**
   * Who may act on a business conversation: admins always; agents of its business (`assigned`: only
   * the assigned agent). Anyone else learns nothing of it (NOT_FOUND), unless they are in it.
   */
  private async authorize(
    user: AuthUser,
    conversationId: string,
    who: 'assigned' | 'business',
  ): Promise<BusinessConversationRow> {
    const row = await this.business.findConversation(conversationId);
    if (!row) throw notFound('Conversation');
    if (isAdmin(user)) return row;
    const agent = await this.business.findAgent(this.db, row.business_id, user.id);
    if (agent && (who === 'business' || row.assigned_agent_id === user.id)) return row;
    if (agent || row.customer_id === user.id)
      throw new AppError(
        'FORBIDDEN',
        who === 'assigned'
          ? 'only the assigned agent may do this'
          : 'only an agent of this business may do this',
      );
    throw notFound('Conversation');
  }
}
