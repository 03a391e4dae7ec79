import { Inject, Injectable } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import type { AuthUser } from '../auth/token-verifier';
import { decodeCursor, encodeCursor } from '../common/cursor';
import { Clock } from '../common/clock';
import { DomainEvents } from '../common/domain-events';
import { BusinessRepository } from '../business/business.repository';
import { RoutingService } from '../business/routing.service';
import { AppError, notFound } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { Db, type Queryable } from '../database/db';
import { MessageRepository } from '../messages/message.repository';
import { toMessage, type MessageRow } from '../messages/message.types';
import { ProfileService } from '../profiles/profile.service';
import type { AddParticipantDto, CreateConversationDto, UpdateParticipantDto } from './conversation.dto';
import { ConversationRepository, type ChatListRow } from './conversation.repository';
import type { Conversation } from './conversation.types';
import {
  checkAdd,
  checkNewGroup,
  checkRemove,
  checkRoleChange,
  nextOwner,
  type PolicyVerdict,
} from './group-policy';

const DEFAULT_PAGE = 20;
const DAY_MS = 86_400_000;

/** Direct, group and participant management, and the chat list (CONTRACT §2). */
@Injectable()
export class ConversationService {
  constructor(
    private readonly db: Db,
    private readonly conversations: ConversationRepository,
    private readonly messages: MessageRepository,
    private readonly profiles: ProfileService,
    private readonly events: DomainEvents,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly routing: RoutingService,
    private readonly business: BusinessRepository,
  ) {}

  async create(
    user: AuthUser,
    input: CreateConversationDto,
  ): Promise<{ conversation: Conversation; created: boolean }> {
    switch (input.type) {
      case 'direct':
        return this.createDirect(user, input);
      case 'group':
        return this.createGroup(user, input);
      case 'business':
        return this.openBusiness(user, input);
    }
  }

  /** A customer's conversation with a business: created (201) or the existing one (200), then routed. */
  private async openBusiness(user: AuthUser, input: CreateConversationDto) {
    if (!input.businessId) throw invalid('a business conversation needs a businessId', 'businessId');
    if (input.participantIds !== undefined || input.title !== undefined)
      throw invalid('a business conversation takes businessId only', 'participantIds');
    const { conversationId, created } = await this.routing.open(user.id, input.businessId);
    if (created)
      this.events.emit('conversation.updated', { conversationId, participantIds: [user.id], removedIds: [] });
    return { conversation: await this.getFor(user.id, conversationId), created };
  }

  private async createDirect(user: AuthUser, input: CreateConversationDto) {
    const others = input.participantIds ?? [];
    if (input.title !== undefined || input.businessId !== undefined)
      throw invalid('a direct conversation takes participantIds only', 'title');
    if (others.length !== 1)
      throw invalid('a direct conversation takes exactly one other participant', 'participantIds');
    const peer = others[0]!;
    if (peer === user.id) throw invalid('a direct conversation needs another user', 'participantIds');
    const pair: [string, string] = user.id < peer ? [user.id, peer] : [peer, user.id];
    // The unique direct_key makes two simultaneous creations of the same pair meet in one row.
    const { id, created } = await this.db.transaction((tx) =>
      this.conversations.createDirect(tx, uuidv7(), JSON.stringify(pair), pair),
    );
    if (created)
      this.events.emit('conversation.updated', { conversationId: id, participantIds: pair, removedIds: [] });
    return { conversation: await this.getFor(user.id, id), created };
  }

  private async createGroup(user: AuthUser, input: CreateConversationDto) {
    if (input.businessId !== undefined) throw invalid('a group takes no businessId', 'businessId');
    const title = input.title?.trim();
    if (!title) throw invalid('a group needs a title', 'title');
    const others = [...new Set((input.participantIds ?? []).filter((id) => id !== user.id))];
    enforce(checkNewGroup(user.id, others));
    const id = uuidv7();
    const members = [
      { userId: user.id, role: 'owner' as const },
      ...others.map((userId) => ({ userId, role: 'member' as const })),
    ];
    await this.db.transaction((tx) => this.conversations.createGroup(tx, id, title, members));
    this.events.emit('conversation.updated', {
      conversationId: id,
      participantIds: members.map((m) => m.userId),
      removedIds: [],
    });
    return { conversation: await this.getFor(user.id, id), created: true };
  }

  async get(user: AuthUser, conversationId: string): Promise<Conversation> {
    return this.getFor(user.id, conversationId);
  }

  /**
   * One conversation as `userId` sees it; NOT_FOUND when they are not in it. Read from the primary:
   * it answers the caller's own writes and the fan-out's events (a replica may not have them yet).
   */
  async getFor(userId: string, conversationId: string): Promise<Conversation> {
    const rows = await this.conversations.viewsFor(userId, [conversationId]);
    const [view] = await this.assemble(userId, rows, true);
    if (!view) throw notFound('Conversation');
    return view;
  }

  async list(
    user: AuthUser,
    limit = DEFAULT_PAGE,
    cursor?: string,
  ): Promise<{ items: Conversation[]; nextCursor: string | null }> {
    const after = cursor
      ? (([activityUs, conversationId]) => ({ activityUs, conversationId }))(
          decodeCursor(
            cursor,
            (p): p is [string, string] =>
              p.length === 2 &&
              typeof p[0] === 'string' &&
              // µs since the epoch; 16 digits reach the year 2286 and stay within bigint and timestamptz.
              /^\d{1,16}$/.test(p[0]) &&
              typeof p[1] === 'string' &&
              UUID.test(p[1]),
          ),
        )
      : undefined;
    const rows = await this.conversations.chatList(user.id, limit + 1, after);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: await this.assemble(user.id, page),
      nextCursor: rows.length > limit && last ? encodeCursor([last.activity_us, last.id]) : null,
    };
  }

  async addParticipant(
    user: AuthUser,
    conversationId: string,
    input: AddParticipantDto,
  ): Promise<Conversation> {
    const role = input.role ?? 'member';
    const ids = await this.db.transaction(async (tx) => {
      const { participants } = await this.lockGroup(tx, conversationId, user.id);
      const actor = participants.find((p) => p.user_id === user.id)!;
      enforce(
        checkAdd(
          actor.role,
          role,
          participants.length,
          participants.some((p) => p.user_id === input.userId),
        ),
      );
      await this.conversations.addParticipants(tx, conversationId, [{ userId: input.userId, role }]);
      return [...participants.map((p) => p.user_id), input.userId];
    });
    this.events.emit('conversation.updated', { conversationId, participantIds: ids, removedIds: [] });
    return this.getFor(user.id, conversationId);
  }

  async removeParticipant(user: AuthUser, conversationId: string, targetId: string): Promise<void> {
    const remaining = await this.db.transaction(async (tx) => {
      const { participants } = await this.lockGroup(tx, conversationId, user.id);
      const actor = participants.find((p) => p.user_id === user.id)!;
      const target = participants.find((p) => p.user_id === targetId);
      if (!target) throw notFound('Participant');
      enforce(checkRemove(user.id, actor.role, targetId, target.role));
      await this.conversations.removeParticipant(tx, conversationId, targetId);
      const rest = participants.filter((p) => p.user_id !== targetId);
      if (target.role === 'owner') {
        const heir = nextOwner(rest.map((p) => ({ userId: p.user_id, role: p.role })));
        if (heir) await this.conversations.setRole(tx, conversationId, heir, 'owner');
      }
      return rest.map((p) => p.user_id);
    });
    this.events.emit('conversation.updated', {
      conversationId,
      participantIds: remaining,
      removedIds: [targetId],
    });
  }

  async updateParticipant(
    user: AuthUser,
    conversationId: string,
    targetId: string,
    input: UpdateParticipantDto,
  ): Promise<Conversation> {
    const ids = await this.db.transaction(async (tx) => {
      const { participants } = await this.lockGroup(tx, conversationId, user.id);
      const actor = participants.find((p) => p.user_id === user.id)!;
      if (!participants.some((p) => p.user_id === targetId)) throw notFound('Participant');
      enforce(checkRoleChange(user.id, actor.role, targetId, input.role));
      await this.conversations.setRole(tx, conversationId, targetId, input.role);
      return participants.map((p) => p.user_id);
    });
    this.events.emit('conversation.updated', { conversationId, participantIds: ids, removedIds: [] });
    return this.getFor(user.id, conversationId);
  }

  /** Locks a group the caller is in; NOT_FOUND if they are not, FORBIDDEN for other conversation types. */
  private async lockGroup(tx: Queryable, conversationId: string, userId: string) {
    const conversation = await this.conversations.lockForUpdate(tx, conversationId);
    const participants = conversation ? await this.conversations.participants(tx, conversationId) : [];
    if (!conversation || !participants.some((p) => p.user_id === userId)) throw notFound('Conversation');
    if (conversation.type !== 'group')
      throw new AppError(
        'FORBIDDEN',
        `participants of a ${conversation.type} conversation cannot be changed`,
      );
    return { conversation, participants };
  }

  /**
   * Turns the caller's rows into Conversation objects: participants, last messages and profiles in
   * one batch each (`fresh`: from the primary, as the rows were; see `Db.read`).
   */
  private async assemble(userId: string, rows: ChatListRow[], fresh = false): Promise<Conversation[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => r.id);
    const [participants, lastMessages] = await Promise.all([
      this.conversations.participantsOf(ids, fresh),
      this.messages.atSeqs(
        rows.filter((r) => r.last_seq > 0).map((r) => ({ conversationId: r.id, seq: r.last_seq })),
        // A last message past retention is gone from the list as from the history (CONTRACT §3).
        new Date(this.clock.now().getTime() - this.config.RETENTION_DAYS * DAY_MS),
        fresh,
      ),
    ]);
    const businessIds = rows.flatMap((r) => (r.business_id ? [r.business_id] : []));
    const [profiles, positions] = await Promise.all([
      this.profiles.getMany([...participants.map((p) => p.user_id), ...businessIds]),
      this.business.queuePositions(rows.filter((r) => r.business_status === 'queued').map((r) => r.id)),
    ]);
    const byConversation = groupBy(participants, (p) => p.conversation_id);
    const lastById = new Map<string, MessageRow>(lastMessages.map((m) => [m.conversation_id, m]));
    return rows.map((r) => ({
      id: r.id,
      type: r.type,
      title: r.title,
      createdAt: r.created_at.toISOString(),
      lastActivityAt: r.last_activity_at.toISOString(),
      lastDeletedAt: r.last_deleted_at?.toISOString() ?? null,
      participants: (byConversation.get(r.id) ?? []).map((p) => ({
        userId: p.user_id,
        role: p.role,
        joinedAt: p.joined_at.toISOString(),
        lastReadSeq: p.last_read_seq,
        profile: profiles.get(p.user_id) ?? null,
      })),
      business:
        r.business_id && r.business_status
          ? {
              id: r.business_id,
              profile: profiles.get(r.business_id) ?? null,
              status: r.business_status,
              assignedAgentId: r.assigned_agent_id,
              queuePosition: positions.get(r.id) ?? null,
              priority: r.priority,
              opensAt: r.opens_at?.toISOString() ?? null,
            }
          : null,
      lastMessage: lastById.has(r.id) ? toMessage(lastById.get(r.id)!) : null,
      lastSeq: r.last_seq,
      unreadCount: r.my_unread_count,
    }));
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function invalid(message: string, field: string): AppError {
  return new AppError('VALIDATION_FAILED', message, [{ field, problems: [message] }]);
}

function enforce(verdict: PolicyVerdict): void {
  if (!verdict.ok) throw new AppError(verdict.code, verdict.message);
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) map.set(key(item), [...(map.get(key(item)) ?? []), item]);
  return map;
}
