import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { AuthUser } from '../auth/token-verifier';
import { Clock } from '../common/clock';
import { DomainEvents } from '../common/domain-events';
import { notFound } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { ConversationRepository } from '../conversations/conversation.repository';
import { Deadlines } from '../state/deadlines';

/**
 * How long past its deadline a typing flag is left to the timer of the instance that set it (the
 * instances' clocks may differ by this much: as presence's sweep allows).
 */
const OVERDUE_MS = 5000;

/**
 * Typing indicators (CONTRACT §4): a `typing:start` holds for TYPING_TTL_S unless renewed, then
 * ends by itself with an `isTyping: false`. The deadline lives in shared state, so a renewal on
 * another instance (the user's other device) keeps it alive, and exactly one instance announces the end.
 * The instance that takes a start times it; if that instance goes away (stopped, crashed) before
 * the deadline, another one finds the flag overdue (every max(1 s, TTL/2)) and announces the end.
 */
@Injectable()
export class TypingService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(TypingService.name);
  private readonly ttlMs: number;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deadlines: Deadlines,
    private readonly conversations: ConversationRepository,
    private readonly events: DomainEvents,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.ttlMs = config.TYPING_TTL_S * 1000;
  }

  async start(user: AuthUser, conversationId: string): Promise<void> {
    const participantIds = await this.participantsOrNotFound(conversationId, user.id);
    const now = this.clock.now().getTime();
    const deadline = now + this.ttlMs;
    const k = key(conversationId, user.id);
    const started = await this.deadlines.set(k, deadline, now);
    this.schedule(conversationId, user.id, deadline);
    if (started)
      this.events.emit('typing.changed', { conversationId, userId: user.id, isTyping: true, participantIds });
  }

  async stop(user: AuthUser, conversationId: string): Promise<void> {
    const participantIds = await this.participantsOrNotFound(conversationId, user.id);
    const k = key(conversationId, user.id);
    clearTimeout(this.timers.get(k));
    this.timers.delete(k);
    if (await this.deadlines.clear(k))
      this.events.emit('typing.changed', {
        conversationId,
        userId: user.id,
        isTyping: false,
        participantIds,
      });
  }

  private async participantsOrNotFound(conversationId: string, userId: string): Promise<string[]> {
    const ids = await this.conversations.participantIds(conversationId);
    if (!ids.includes(userId)) throw notFound('Conversation');
    return ids;
  }

  private schedule(conversationId: string, userId: string, deadline: number): void {
    const k = key(conversationId, userId);
    clearTimeout(this.timers.get(k));
    const timer = setTimeout(
      () => {
        this.timers.delete(k);
        this.expire(conversationId, userId).catch((err: unknown) =>
          this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'typing expiry failed'),
        );
      },
      Math.max(0, deadline - this.clock.now().getTime()) + 20,
    );
    timer.unref();
    this.timers.set(k, timer);
  }

  /** At the deadline: renewed elsewhere → wait for the new one; else the one instance that clears it announces the end. */
  private async expire(conversationId: string, userId: string): Promise<void> {
    const k = key(conversationId, userId);
    const deadline = await this.deadlines.get(k);
    if (deadline === undefined) return;
    const now = this.clock.now().getTime();
    if (deadline > now) return this.schedule(conversationId, userId, deadline);
    if (!(await this.deadlines.clearIfDue(k, now))) return;
    const participantIds = await this.conversations.participantIds(conversationId);
    this.events.emit('typing.changed', { conversationId, userId, isTyping: false, participantIds });
  }

  onModuleInit(): void {
    this.sweepTimer = setInterval(
      () =>
        this.endOverdue().catch((err: unknown) =>
          this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'typing sweep failed'),
        ),
      Math.max(1000, this.ttlMs / 2),
    );
    this.sweepTimer.unref();
  }

  /** Announces the end of the typing flags other instances set and left overdue (they went away). */
  async endOverdue(): Promise<void> {
    const overdue = await this.deadlines.clearOverdue(this.clock.now().getTime(), OVERDUE_MS, 100);
    // Each end announced on its own: one failed lookup does not cost the others theirs.
    const ends = await Promise.allSettled(
      overdue.map(async (k) => {
        const [, conversationId, userId] = /^typing:([^:]+):(.+)$/.exec(k) ?? [];
        if (!conversationId || !userId) return;
        const participantIds = await this.conversations.participantIds(conversationId);
        this.events.emit('typing.changed', { conversationId, userId, isTyping: false, participantIds });
      }),
    );
    const failed = ends.find((e): e is PromiseRejectedResult => e.status === 'rejected');
    if (failed) throw failed.reason;
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweepTimer);
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}

const key = (conversationId: string, userId: string) => `typing:${conversationId}:${userId}`;
