import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { v7 as uuidv7 } from 'uuid';
import { BatchLoader } from '../common/batch-loader';
import { Clock } from '../common/clock';
import { DomainEvents } from '../common/domain-events';
import { notFound } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { Db, type Queryable } from '../database/db';
import { MessageRepository } from '../messages/message.repository';
import { toMessage, type MessageRow } from '../messages/message.types';
import { PresenceService } from '../presence/presence.service';
import { ProfileService } from '../profiles/profile.service';
import { BusinessRepository, type BusinessConversationRow, type BusinessRow } from './business.repository';
import { describeOpening, isOpen, nextOpening } from './hours';
import { drainQueue, type AgentState } from './routing';

/** The business, its agents' presence and display names: read before taking the routing lock. */
interface Context {
  business: BusinessRow;
  online: Map<string, boolean>;
  names: Map<string, string>;
}

/** What one routing transaction changed, announced after commit. */
interface Changes {
  businessId: string;
  /** Conversations whose status changed, with the agents who left them. */
  changed: Map<string, string[]>;
  systemMessages: MessageRow[];
  /** The queue moved (someone left it or jumped ahead): the positions of everyone in it changed. */
  queueMoved: boolean;
}

/**
 * Business routing (CONTRACT §5): applies the pure decisions of `routing.ts` and `hours.ts` in
 * transactions that hold the business's advisory lock, so that instances routing the same business
 * at once are serialised and an agent's load only grows through `load < capacity`.
 *
 * Routing a conversation is "put it in the queue, then drain the queue": a new conversation never
 * overtakes older ones, and the same drain runs whenever capacity frees (an agent comes online,
 * resolves, is added or raised in capacity).
 */
@Injectable()
export class RoutingService implements OnApplicationBootstrap {
  private readonly logger = new Logger(RoutingService.name);
  /** Presence changes come in storms: which of the users are agents, one query per event-loop turn. */
  private readonly agentOf = new BatchLoader<string, string[]>(
    (ids) => this.business.businessesOfAgents(ids),
    {
      maxBatch: 500,
      missing: () => [],
    },
  );

  constructor(
    private readonly db: Db,
    private readonly business: BusinessRepository,
    private readonly messages: MessageRepository,
    private readonly presence: PresenceService,
    private readonly profiles: ProfileService,
    private readonly events: DomainEvents,
    private readonly clock: Clock,
    private readonly scheduler: SchedulerRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.events.on('message.sent', (e) => {
      if (e.conversationType === 'business' && e.message.type === 'text')
        this.background(
          'customer message',
          this.onCustomerMessage(e.message.conversationId, e.message.senderId),
        );
    });
    this.events.on('presence.changed', (e) => this.background('agent presence', this.onPresence(e.userId)));
    if (this.config.ROUTING_SWEEP_S > 0) {
      let running = false;
      const timer = setInterval(() => {
        if (running) return;
        running = true;
        this.sweep()
          .catch((err: unknown) => this.logger.warn({ err: String(err) }, 'routing sweep failed'))
          .finally(() => (running = false));
      }, this.config.ROUTING_SWEEP_S * 1000);
      timer.unref();
      this.scheduler.addInterval('routing', timer);
    }
  }

  /**
   * A customer opens their conversation with a business (the chat screen): a new one is routed, and
   * so is one whose routing never happened or that waits while closed. A resolved one is returned as
   * it is: only a new customer message re-opens it (CONTRACT §5, `onCustomerMessage`).
   */
  async open(customerId: string, businessId: string): Promise<{ conversationId: string; created: boolean }> {
    if (!(await this.business.find(this.db, businessId))) throw notFound('Business');
    const { id, created } = await this.db.transaction((tx) =>
      this.business.createConversation(tx, uuidv7(), businessId, customerId),
    );
    const row = await this.business.findConversation(id);
    if (created || (row && row.business_status !== 'resolved' && needsRouting(row))) await this.route(id);
    return { conversationId: id, created };
  }

  /**
   * Routes one conversation: closed → says when it opens; open → queue, then drain the queue.
   * `now` decides open or closed (the sweep passes the time it runs at).
   */
  async route(conversationId: string, now: Date = this.clock.now()): Promise<void> {
    const row = await this.business.findConversation(conversationId);
    if (!row) return;
    const ctx = await this.context(row.business_id);
    if (!ctx) return;
    await this.routeWith(ctx, conversationId, now);
  }

  private async routeWith(ctx: Context, conversationId: string, now: Date): Promise<void> {
    const changes = await this.inBusiness(ctx.business.id, async (tx, changes) => {
      const c = await this.business.lockConversation(tx, conversationId);
      // A new conversation is 'queued' with no queued_at yet: it has never been routed.
      if (!c || c.business_status === 'assigned' || (c.business_status === 'queued' && c.queued_at)) return;
      if (!isOpen(ctx.business.hours, ctx.business.time_zone, now)) {
        // Already closed and told when it opens: nothing to say again. Unless that opening passed
        // unused (no sweep ran while open, or the customer only wrote afterwards): then it is
        // re-timed, with a new opensAt and a new message, and is not due to open until then.
        if (c.business_status === 'closed' && !(c.opens_at && c.opens_at <= now)) return;
        const opensAt = nextOpening(ctx.business.hours, ctx.business.time_zone, now);
        await this.business.setClosed(tx, conversationId, opensAt, c.business_status === 'resolved');
        const when = opensAt
          ? `we open at ${describeOpening(opensAt, ctx.business.time_zone, now)}`
          : 'we have no opening hours yet';
        await this.system(
          tx,
          changes,
          conversationId,
          `We are closed right now, ${when}. Leave a message and we will get back to you.`,
        );
        changes.changed.set(conversationId, []);
        return;
      }
      await this.business.setQueued(tx, conversationId, c.business_status === 'resolved');
      changes.changed.set(conversationId, []);
      const assigned = await this.drain(tx, changes, ctx.online, ctx.names);
      if (!assigned.has(conversationId)) {
        const queue = await this.business.queue(tx, ctx.business.id);
        const position = queue.findIndex((q) => q.id === conversationId) + 1;
        // It took a place ahead of others (a closed one keeps the place it has had since it was
        // opened, a high-priority one goes before normal ones): the positions of those behind moved.
        if (position < queue.length) changes.queueMoved = true;
        await this.system(
          tx,
          changes,
          conversationId,
          `All our agents are busy. You are number ${position} in the queue.`,
        );
      }
    });
    this.announce(changes);
  }

  /**
   * Capacity may have freed in a business: give queued conversations to free online agents. `first`
   * (a capacity change) runs under the same routing lock, in the same transaction, before the drain;
   * `agentIds` are agents it may add, whose presence and names are read with the others' (before
   * the lock: an agent added while online takes from the queue at once).
   */
  async drainBusiness(
    businessId: string,
    first?: (tx: Queryable) => Promise<void>,
    agentIds: string[] = [],
  ): Promise<void> {
    const ctx = await this.context(businessId, agentIds);
    if (!ctx) return;
    this.announce(
      await this.inBusiness(businessId, async (tx, changes) => {
        await first?.(tx);
        await this.drain(tx, changes, ctx.online, ctx.names);
      }),
    );
  }

  /** Runs `work` in a transaction holding the business's routing lock; returns what changed. */
  async inBusiness(
    businessId: string,
    work: (tx: Queryable, changes: Changes) => Promise<void>,
  ): Promise<Changes> {
    const changes: Changes = { businessId, changed: new Map(), systemMessages: [], queueMoved: false };
    await this.db.transaction(async (tx) => {
      await this.business.lockBusiness(tx, businessId);
      await work(tx, changes);
    });
    return changes;
  }

  /** Assigns queued conversations, head first, while free online agents last. Returns the assigned ids. */
  async drain(
    tx: Queryable,
    changes: Changes,
    online: Map<string, boolean>,
    names: Map<string, string>,
  ): Promise<Set<string>> {
    const agents = await this.business.agents(tx, changes.businessId);
    const queue = await this.business.queue(tx, changes.businessId);
    const states: AgentState[] = agents.map((a) => ({
      userId: a.user_id,
      capacity: a.capacity,
      load: a.load,
      online: online.get(a.user_id) ?? false,
      lastAssignedAt: a.last_assigned_at,
    }));
    // In the queue's own order (the repository's ORDER BY): see drainQueue. Never to its own customer.
    const plan = drainQueue(
      queue.map((q) => ({ conversationId: q.id, customerId: q.customer_id })),
      states,
    );
    const assigned = new Set<string>();
    for (const { conversationId, agentId } of plan) {
      // Capacities change under the same lock, so a claim should not fail; if one does, stop rather
      // than pass over the head of the queue (the next drain takes it up).
      if (!(await this.business.claimCapacity(tx, changes.businessId, agentId))) break;
      await this.business.setAssigned(tx, conversationId, agentId);
      await this.system(
        tx,
        changes,
        conversationId,
        `${names.get(agentId) ?? agentId} joined the conversation.`,
      );
      changes.changed.set(conversationId, changes.changed.get(conversationId) ?? []);
      assigned.add(conversationId);
    }
    if (assigned.size) changes.queueMoved = true;
    return assigned;
  }

  /** Adds a system message in the transaction, fanned out after commit (`announce`); returns its seq. */
  async system(tx: Queryable, changes: Changes, conversationId: string, text: string): Promise<number> {
    const row = await this.messages.insertSystem(tx, uuidv7(), conversationId, text);
    changes.systemMessages.push(row);
    return row.seq;
  }

  /**
   * The business, its agents' presence and display names: read before taking the lock. `also`: users
   * about to become agents (in the transaction that takes the lock).
   */
  async context(businessId: string, also: string[] = []): Promise<Context | undefined> {
    const business = await this.business.find(this.db, businessId);
    if (!business) return undefined;
    const agentIds = [
      ...new Set([...(await this.business.agents(this.db, businessId)).map((a) => a.user_id), ...also]),
    ];
    const [online, profiles] = await Promise.all([
      this.presence.isOnline(agentIds),
      this.profiles.getMany(agentIds),
    ]);
    const names = new Map([...profiles].filter(([, p]) => p).map(([id, p]) => [id, p!.displayName]));
    return { business, online, names };
  }

  /** After commit: system messages to the participants, conversation updates to whoever is concerned. */
  announce(changes: Changes): void {
    this.background('announce', this.announceAsync(changes));
  }

  private async announceAsync(changes: Changes): Promise<void> {
    for (const row of changes.systemMessages) {
      const participantIds = await this.participants(row.conversation_id);
      this.events.emit('message.sent', {
        message: toMessage(row),
        participantIds,
        conversationType: 'business',
      });
    }
    const targets = new Map(changes.changed);
    if (changes.queueMoved)
      for (const q of await this.business.queue(this.db, changes.businessId))
        if (!targets.has(q.id)) targets.set(q.id, []);
    for (const [conversationId, removedIds] of targets) {
      const participantIds = await this.participants(conversationId);
      this.events.emit('conversation.updated', { conversationId, participantIds, removedIds });
    }
  }

  private async participants(conversationId: string): Promise<string[]> {
    const rows: { user_id: string }[] = await this.db.query(
      `SELECT user_id FROM participants WHERE conversation_id = $1`,
      [conversationId],
    );
    return rows.map((r) => r.user_id);
  }

  /** A customer wrote into a resolved (or closed) conversation: re-open and route it. */
  private async onCustomerMessage(conversationId: string, senderId: string | null): Promise<void> {
    const row = await this.business.findConversation(conversationId);
    if (!row || row.customer_id !== senderId) return;
    if (needsRouting(row)) await this.route(conversationId);
  }

  /**
   * An agent's presence changed. Each event is handled in the background, so two of one user can be
   * handled out of order (an `online` one whose queries ran late cleared `offline_since` after the
   * `offline` that followed it, and the grace period never ended): this acts on the presence as it
   * is now, whichever event woke it.
   */
  private async onPresence(userId: string): Promise<void> {
    const businesses = await this.agentOf.load(userId);
    if (!businesses.length) return;
    const online = (await this.presence.isOnline([userId])).get(userId) ?? false;
    await this.business.setOffline(userId, online ? null : this.clock.now());
    if (online) for (const id of businesses) await this.drainBusiness(id);
  }

  /** Takes an agent off all their conversations of a business (removed, or offline past the grace period). */
  async requeueAgent(businessId: string, agentId: string, alsoRemove: boolean): Promise<void> {
    const ctx = await this.context(businessId);
    if (!ctx) return;
    ctx.online.set(agentId, false);
    const changes = await this.inBusiness(businessId, async (tx, changes) => {
      const held: BusinessConversationRow[] = await this.business.assignedTo(tx, businessId, agentId);
      for (const c of held) {
        await this.business.unassign(tx, c.id, agentId, 'queued');
        await this.business.releaseCapacity(tx, businessId, agentId);
        changes.changed.set(c.id, [agentId]);
      }
      if (alsoRemove) await this.business.deleteAgent(tx, businessId, agentId);
      if (held.length) changes.queueMoved = true;
      const assigned = await this.drain(tx, changes, ctx.online, ctx.names);
      for (const c of held)
        if (!assigned.has(c.id))
          await this.system(
            tx,
            changes,
            c.id,
            'Your agent is no longer available. You are back in the queue.',
          );
    });
    this.announce(changes);
  }

  /**
   * The business's hours changed: its closed conversations wait for the new opening (and are told so
   * by `conversation:updated`); when it is open now, those with customer messages are routed at once,
   * as at opening time.
   */
  async hoursChanged(businessId: string, now: Date = this.clock.now()): Promise<void> {
    const business = await this.business.find(this.db, businessId);
    if (!business) return;
    const open = isOpen(business.hours, business.time_zone, now);
    const opensAt = open ? now : nextOpening(business.hours, business.time_zone, now);
    const changes = await this.inBusiness(businessId, async (tx, changes) => {
      for (const id of await this.business.rescheduleClosed(tx, businessId, opensAt))
        changes.changed.set(id, []);
    });
    this.announce(changes);
    if (open) for (const due of await this.business.dueToOpen(now, businessId)) await this.route(due.id, now);
  }

  /**
   * The periodic work: opening time for closed conversations, and agents offline past the grace period.
   * Each business's due conversations are taken apart (a batch each, oldest first), and a failure is
   * that business's or conversation's only: no business's backlog or broken row holds up another.
   */
  async sweep(now: Date = this.clock.now()): Promise<void> {
    for (const businessId of await this.business.businessesDueToOpen(now))
      await this.openDue(businessId, now).catch((err: unknown) => this.failed('opening time', err));
    const graceStart = new Date(now.getTime() - this.config.AGENT_GRACE_S * 1000);
    for (const lapsed of await this.business.lapsedAgents(graceStart)) {
      try {
        const stillOffline = !(await this.presence.isOnline([lapsed.user_id])).get(lapsed.user_id);
        if (stillOffline) await this.requeueAgent(lapsed.business_id, lapsed.user_id, false);
        else await this.business.setOffline(lapsed.user_id, null);
      } catch (err) {
        this.failed('grace period', err);
      }
    }
  }

  /**
   * Routes a business's closed conversations due to open (up to a batch; the next sweep takes the
   * rest). Each leaves the due ones: queued or assigned when open, re-timed to a later opening when
   * closed again (`routeWith`), so a batch is never the same conversations twice.
   */
  private async openDue(businessId: string, now: Date): Promise<void> {
    const ctx = await this.context(businessId);
    if (!ctx) return;
    for (const due of await this.business.dueToOpen(now, businessId))
      await this.routeWith(ctx, due.id, now).catch((err: unknown) => this.failed('opening time', err));
  }

  private failed(what: string, err: unknown): void {
    this.logger.warn({ err: err instanceof Error ? err.message : String(err), what }, 'routing failed');
  }

  private background(what: string, work: Promise<unknown>): void {
    work.catch((err: unknown) => this.failed(what, err));
  }
}

/**
 * A conversation the customer's next message routes: resolved, closed, or never routed (a new one
 * whose routing did not happen: the instance stopped, the database failed; it is not in the queue,
 * BusinessRepository.queue, so nothing else would route it). Their next open routes the same but a
 * resolved one (`open`).
 */
function needsRouting(row: { business_status: string | null; queued_at: Date | null }): boolean {
  return (
    row.business_status === 'resolved' ||
    row.business_status === 'closed' ||
    (row.business_status === 'queued' && row.queued_at === null)
  );
}
