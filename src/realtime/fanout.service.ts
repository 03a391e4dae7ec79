import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { Server } from 'socket.io';
import { BatchLoader } from '../common/batch-loader';
import { DomainEvents, type DomainEventMap } from '../common/domain-events';
import { ConversationRepository } from '../conversations/conversation.repository';
import { ConversationService } from '../conversations/conversation.service';
import type { Message } from '../messages/message.types';
import { MetricsService } from '../observability/metrics.service';
import {
  contextFromCarrier,
  currentCarrier,
  SpanKind,
  startSpan,
  withSpan,
  type TraceCarrier,
} from '../observability/spans';
import { OrderedChannel } from '../state/ordered-channel';
import type { ServerEvents } from './events';

export type ChatServer = Server<Record<string, never>, ServerEvents>;

/** The room every connection of a user joins: events for the user go to all their devices. */
export const userRoom = (userId: string) => `user:${userId}`;

/**
 * Turns domain events into socket events. `message:new` goes through the ordered channel, so that
 * every socket on every instance sees a conversation's messages in seq order; the other events go
 * through the Socket.IO (Redis) adapter.
 */
@Injectable()
export class Fanout implements OnModuleInit {
  private readonly logger = new Logger(Fanout.name);
  private server: ChatServer | undefined;
  /** Fan-outs in progress (`background`). */
  private readonly pending = new Set<Promise<void>>();
  /**
   * Per conversation (`conversation:updated`) and per user (`presence`), the last of its fan-outs:
   * the next one starts when it has emitted. Each reads what it needs when it runs (the views, the
   * contacts), so in parallel a slow read of an earlier change could reach a client after the next
   * change's, and the client would keep the older one (a user shown offline while online).
   */
  private readonly turns = new Map<string, Promise<void>>();
  /** Presence changes come in storms (connects, disconnects): one contacts query per event-loop turn. */
  private readonly contacts = new BatchLoader<string, string[]>(
    (ids) => this.conversationRepo.contactsOfMany(ids),
    {
      maxBatch: 500,
      missing: () => [],
    },
  );

  constructor(
    private readonly events: DomainEvents,
    private readonly channel: OrderedChannel,
    private readonly conversations: ConversationService,
    private readonly conversationRepo: ConversationRepository,
    private readonly metrics: MetricsService,
  ) {}

  attach(server: ChatServer): void {
    this.server = server;
  }

  async onModuleInit(): Promise<void> {
    await this.channel.subscribe((payload) => this.deliverNew(payload));
    this.events.on('message.sent', (e) => this.publishNew(e));
    this.events.on('message.deleted', (e) =>
      this.server
        ?.to(e.participantIds.map(userRoom))
        .emit('message:deleted', { conversationId: e.conversationId, messageId: e.messageId, seq: e.seq }),
    );
    this.events.on('read.updated', (e) => this.readUpdated(e));
    this.events.on('typing.changed', (e) => {
      const others = e.participantIds.filter((id) => id !== e.userId);
      if (others.length)
        this.server
          ?.to(others.map(userRoom))
          .emit('typing', { conversationId: e.conversationId, userId: e.userId, isTyping: e.isTyping });
    });
    this.events.on('presence.changed', (e) =>
      this.background(
        'presence',
        this.inTurn(`presence:${e.userId}`, () => this.presenceChanged(e)),
      ),
    );
    this.events.on('conversation.updated', (e) =>
      this.background(
        'conversation:updated',
        this.inTurn(`conversation:${e.conversationId}`, () => this.conversationUpdated(e)),
      ),
    );
  }

  private publishNew({
    message,
    participantIds,
    originSocketId,
    quietMs,
  }: DomainEventMap['message.sent']): void {
    this.metrics.messagesSent.inc();
    // Part of the send's trace (tracing on): the trace context travels with the payload.
    const publish = withSpan('message:new publish', { kind: SpanKind.PRODUCER }, async () => {
      const trace = currentCarrier();
      const payload = JSON.stringify({
        rooms: participantIds.map(userRoom),
        message,
        ...(originSocketId && { except: originSocketId }),
        ...(trace && { trace }),
      });
      await this.channel.publish(message.conversationId, message.seq, payload, quietMs);
    });
    this.background('message:new', publish);
  }

  /**
   * Runs on every instance, in seq order per conversation: emits to this instance's sockets only,
   * all the participants' connections but `except`, the one that sent the message when it opted out
   * of echo (its ack carried the message).
   */
  private deliverNew(payload: string): void {
    const server = this.server;
    if (!server) return;
    const { rooms, message, except, trace } = JSON.parse(payload) as {
      rooms: string[];
      message: Message;
      except?: string;
      trace?: TraceCarrier;
    };
    const span =
      trace && startSpan('message:new emit', { kind: SpanKind.CONSUMER, parent: contextFromCarrier(trace) });
    const nsp = server.of('/');
    (except ? server.local.to(rooms).except(except) : server.local.to(rooms)).emit('message:new', message);
    let sockets = except && nsp.sockets.has(except) ? -1 : 0;
    for (const room of rooms) sockets += nsp.adapter.rooms.get(room)?.size ?? 0;
    if (sockets) this.metrics.messagesDelivered.inc(sockets);
    span?.setAttribute('chat.fanout.sockets', sockets);
    span?.end();
  }

  private readUpdated(e: DomainEventMap['read.updated']): void {
    const { conversationId, userId, lastReadSeq, unreadCount } = e;
    const devices = this.server?.to(userRoom(userId));
    (e.exceptSocketId ? devices?.except(e.exceptSocketId) : devices)?.emit('unread:updated', {
      conversationId,
      unreadCount,
      lastReadSeq,
    });
    const others = e.participantIds.filter((id) => id !== userId);
    if (e.receipt && others.length)
      this.server
        ?.to(others.map(userRoom))
        .emit('receipt:read', { conversationId, userId, seq: lastReadSeq });
  }

  private async presenceChanged(e: DomainEventMap['presence.changed']): Promise<void> {
    const contacts = await this.contacts.load(e.userId);
    if (contacts.length) this.server?.to(contacts.map(userRoom)).emit('presence', e);
  }

  /** Each participant gets the conversation as they see it; those who left get it without themselves. */
  private async conversationUpdated(e: DomainEventMap['conversation.updated']): Promise<void> {
    const server = this.server;
    if (!server) return;
    let sample: Awaited<ReturnType<ConversationService['getFor']>> | undefined;
    for (const userId of e.participantIds) {
      const view = await this.conversations.getFor(userId, e.conversationId).catch(() => undefined);
      if (!view) continue;
      sample = view;
      server.to(userRoom(userId)).emit('conversation:updated', view);
    }
    if (sample && e.removedIds.length)
      server.to(e.removedIds.map(userRoom)).emit('conversation:updated', { ...sample, unreadCount: 0 });
  }

  /** Runs `work` once the fan-outs of the same `key` before it have finished (whether or not they failed). */
  private inTurn(key: string, work: () => Promise<void>): Promise<void> {
    const run = (this.turns.get(key) ?? Promise.resolve()).then(work);
    const last = run.catch(() => undefined);
    this.turns.set(key, last);
    void last.then(() => {
      if (this.turns.get(key) === last) this.turns.delete(key);
    });
    return run;
  }

  private background(what: string, work: Promise<unknown>): void {
    const done = work.then(
      () => undefined,
      (err: unknown) =>
        this.logger.warn({ err: err instanceof Error ? err.message : String(err), what }, 'fan-out failed'),
    );
    this.pending.add(done);
    void done.finally(() => this.pending.delete(done));
  }

  /** When every fan-out started so far has finished (a graceful shutdown waits for it). */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }
}
