import { Inject, Injectable } from '@nestjs/common';
import type { Context } from '@opentelemetry/api';
import { v7 as uuidv7 } from 'uuid';
import type { AuthUser } from '../auth/token-verifier';
import { Clock } from '../common/clock';
import { DomainEvents } from '../common/domain-events';
import { AppError, forbidden, isUnavailableError, notFound, validationFailed } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { ConversationRepository } from '../conversations/conversation.repository';
import type { ConversationType } from '../conversations/conversation.types';
import { Db } from '../database/db';
import { MetricsService } from '../observability/metrics.service';
import { activeContext, inContext, isRecording, linkTo, withSpan } from '../observability/spans';
import { normalizeText } from './message-text';
import { MessageRepository, quietMs, type BatchOutcomeRow } from './message.repository';
import { SendBatcher } from './send-batcher';
import { toMessage, type Message, type MessageRow, type ReadState } from './message.types';

export interface SendInput {
  clientMessageId: string;
  content: { text: string };
}

const DAY_MS = 86_400_000;

/** Thrown inside a send transaction when (sender, clientMessageId) already exists: rolls back the seqs taken. */
class DuplicateSend extends Error {}

interface SendJob {
  conversationId: string;
  senderId: string;
  clientMessageId: string;
  text: string;
  /** The send's trace context (tracing on): its transaction, fallback and announcement run in it. */
  ctx?: Context;
  /** The socket that sent it, if one did: the fan-out leaves it out (its ack carries the message). */
  originSocketId?: string;
  /** The socket that sent it, whatever its echo: it knows its own read pointer moved. */
  socketId?: string;
}

type SendResult = { message: Message; created: boolean };

const OVERLOADED = new AppError(
  'SERVICE_UNAVAILABLE',
  'Too busy to take this message now; retry it shortly',
  undefined,
  1,
);

/** FNV-1a over the id's characters: spreads conversations over the send lanes. */
function laneHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const conflict = () =>
  new AppError('CONFLICT', 'clientMessageId was already used for a message in another conversation');

/**
 * A batch statement that failed on what the one-by-one path resolves: a (sender, clientMessageId)
 * that a concurrent send stored first (unique violation of `messages_idempotency`), or a deadlock.
 */
function isIdempotencyRace(err: unknown): boolean {
  const e = (err as { driverError?: { code?: unknown; constraint?: unknown } } | null)?.driverError;
  return (e?.code === '23505' && e.constraint === 'messages_idempotency') || e?.code === '40P01';
}

/** `fn()`, or the error it threw. */
function settle<T>(fn: () => T): T | Error {
  try {
    return fn();
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** Send, history, delete and read pointer (CONTRACT §3). REST and sockets call these same methods. */
@Injectable()
export class MessageService {
  constructor(
    private readonly db: Db,
    private readonly messages: MessageRepository,
    private readonly conversations: ConversationRepository,
    private readonly events: DomainEvents,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    // Tracing: a batch runs in the trace of its first sampled send, the other sends are linked to it.
    const sendBatch = (jobs: SendJob[]) => {
      const lead = jobs.find((j) => isRecording(j.ctx)) ?? jobs[0];
      return inContext(lead?.ctx, () =>
        withSpan(
          'message.send.transaction',
          {
            attributes: { 'chat.batch.size': jobs.length },
            links: jobs.filter((j) => j !== lead).map((j) => linkTo(j.ctx)),
          },
          () => this.sendBatch(jobs),
        ),
      );
    };
    this.batcher = new SendBatcher(sendBatch, {
      // A conversation's sends always share a lane; each lane has one batch (one connection) at a
      // time, at most half the pool: the rest stays for reads (history, chat list) and read pointers
      // while sends saturate. Few lanes make big batches, which cost PostgreSQL less per
      // message; too few cannot keep up at saturation. 3 was best of 1-5 at 2,000 and 4,000 msgs/s
      // (BENCHMARKS.md).
      lanes: Math.max(1, Math.min(config.SEND_LANES, Math.floor(config.DATABASE_POOL_SIZE / 2))),
      laneOf: (job) => laneHash(job.conversationId),
      maxBatch: 200,
      maxQueue: config.SEND_QUEUE_MAX,
      maxWaitMs: config.SEND_QUEUE_WAIT_MS,
      // One shared error: under overload thousands of refusals a second must stay cheap (no stack each).
      overloaded: () => OVERLOADED,
    });
  }

  private readonly batcher: SendBatcher<SendJob, SendResult>;

  /**
   * Throws SERVICE_UNAVAILABLE while sends are being refused: lets a caller refuse before it spends
   * anything on a send (parsing, validation, rate windows), which is what keeps an overloaded
   * instance's throughput up.
   */
  assertAcceptingSends(): void {
    if (this.batcher.refusing) throw OVERLOADED;
  }

  /**
   * Stores a message with the conversation's next seq and announces it after commit (concurrent sends
   * share one transaction, see sendBatch).
   * Idempotent on (sender, clientMessageId): a retry, even one racing the original, gets the original
   * (`created: false`) and nothing is stored or announced again.
   */
  async send(
    user: AuthUser,
    conversationId: string,
    input: SendInput,
    origin: { originSocketId?: string; socketId?: string } = {},
  ): Promise<{ message: Message; created: boolean }> {
    const text = normalizeText(input.content.text);
    if (!text.ok) throw validationFailed(text.problem, [{ field: 'content.text', problems: [text.problem] }]);
    return withSpan(
      'message.send',
      { attributes: { 'chat.conversation.id': conversationId } },
      async (span) => {
        const result = await this.batcher.submit({
          conversationId,
          senderId: user.id,
          clientMessageId: input.clientMessageId,
          text: text.text,
          ctx: activeContext(),
          originSocketId: origin.originSocketId,
          socketId: origin.socketId,
        });
        span?.setAttributes({
          'chat.message.seq': result.message.seq,
          'chat.message.created': result.created,
        });
        return result;
      },
    );
  }

  /**
   * One transaction for a batch of concurrent sends (any conversations): lock the conversations in
   * id order, check membership and idempotency, then one statement takes each conversation's seqs,
   * inserts every message and updates every participant's read state. Each send is
   * still acked only after its commit, with the same answers as alone. If a (sender,
   * clientMessageId) raced in from elsewhere, or anything unexpected fails, the batch is rolled back
   * and its sends run one by one.
   */
  private async sendBatch(jobs: SendJob[]): Promise<(SendResult | Error)[]> {
    this.metrics.sendBatchSize.observe(jobs.length);
    this.metrics.sendQueued.set(this.batcher.queued);
    const stopTimer = this.metrics.sendBatchDuration.startTimer();
    let rows: BatchOutcomeRow[];
    try {
      // One transaction: the lock, then one statement for everything (MessageRepository.sendBatch).
      rows = await this.messages.sendBatch(jobs.map((job) => ({ ...job, id: uuidv7() })));
    } catch (err) {
      stopTimer();
      if (isUnavailableError(err)) return jobs.map(() => err as Error);
      if (!isIdempotencyRace(err) && jobs.length === 1) throw err;
      // One after another: in parallel, a batch of 200 would take every pool connection at once.
      const results: (SendResult | Error)[] = [];
      for (const job of jobs)
        results.push(
          await inContext(job.ctx, () => this.sendOne(job)).catch((e: unknown) =>
            e instanceof Error ? e : new Error(String(e)),
          ),
        );
      return results;
    }
    stopTimer();
    const results: (SendResult | Error)[] = [];
    const repeats: [number, number][] = [];
    for (const row of rows) {
      const i = row.i - 1;
      const job = jobs[i]!;
      if (!row.member) results[i] = notFound('Conversation');
      else if (row.existed) results[i] = settle(() => this.retried(row, job.conversationId));
      else if (row.first_i !== row.i) repeats.push([i, row.first_i! - 1]);
      else {
        const message = toMessage(row);
        results[i] = { message, created: true };
        // Each announcement (the fan-out) in its own send's trace.
        inContext(job.ctx, () =>
          this.events.emit('message.sent', {
            message,
            participantIds: row.participant_ids!,
            conversationType: row.conversation_type!,
            originSocketId: job.originSocketId,
            quietMs: quietMs(row, row.previous_at),
          }),
        );
        this.senderCaughtUp(
          message,
          row.participant_ids!,
          row.sender_cleared,
          row.sender_unread_after,
          job.socketId,
        );
      }
    }
    // A key repeated within the batch: the answer of its first item, as a retry would get it.
    for (const [i, first] of repeats) {
      const original = results[first];
      results[i] =
        original instanceof Error || !original
          ? (original ?? notFound('Conversation'))
          : original.message.conversationId === jobs[i]!.conversationId
            ? { message: original.message, created: false }
            : conflict();
    }
    return results;
  }

  /** One send in its own transaction: the fallback of a batch that could not commit as a whole. */
  private async sendOne(job: SendJob): Promise<SendResult> {
    const earlier = await this.messages.findByClientMessageId(job.senderId, job.clientMessageId);
    if (earlier) {
      // A retry gets the original only while the sender is still in the conversation (else NOT_FOUND, as a send).
      await this.requireParticipant(job.conversationId, job.senderId);
      return this.retried(earlier, job.conversationId);
    }
    let stored: {
      row: MessageRow;
      participantIds: string[];
      type: ConversationType;
      previousAt: Date | null;
      senderUnreadBefore: number | undefined;
    };
    try {
      stored = await this.db.transaction(async (tx) => {
        const next = await this.messages.nextSeq(tx, job.conversationId, job.senderId);
        if (!next) throw notFound('Conversation');
        const row = await this.messages.insertText(tx, { ...job, id: uuidv7() }, next.seq, next.at);
        if (!row) throw new DuplicateSend();
        const { participantIds, senderUnreadBefore } = await this.messages.afterInsert(tx, row);
        return { row, participantIds, type: next.type, previousAt: next.previousAt, senderUnreadBefore };
      });
    } catch (err) {
      if (!(err instanceof DuplicateSend)) throw err;
      const original = await this.messages.findByClientMessageId(job.senderId, job.clientMessageId);
      if (!original) throw err;
      return this.retried(original, job.conversationId);
    }
    const message = toMessage(stored.row);
    this.events.emit('message.sent', {
      message,
      participantIds: stored.participantIds,
      conversationType: stored.type,
      originSocketId: job.originSocketId,
      quietMs: quietMs(stored.row, stored.previousAt),
    });
    this.senderCaughtUp(message, stored.participantIds, stored.senderUnreadBefore, 0, job.socketId);
    return { message, created: true };
  }

  /**
   * Sending moves the sender's read pointer to their message (CONTRACT §3). When that cleared unread
   * messages (`cleared` of them), the sender's other devices hear it (`unread:updated`, as after a
   * read); the sending connection knows already. The other participants get no `receipt:read`: the
   * `message:new` itself tells them the sender has read up to it (the README says so), and a receipt
   * per reply would add a fan-out to every message of a back-and-forth (BENCHMARKS.md §7). A send that
   * cleared nothing announces nothing more.
   */
  private senderCaughtUp(
    message: Message,
    participantIds: string[],
    cleared: number | null | undefined,
    unreadAfter: number | null | undefined,
    socketId: string | undefined,
  ): void {
    if (!message.senderId || !cleared || unreadAfter == null) return;
    this.events.emit('read.updated', {
      conversationId: message.conversationId,
      userId: message.senderId,
      lastReadSeq: message.seq,
      unreadCount: unreadAfter,
      receipt: false,
      participantIds,
      exceptSocketId: socketId,
    });
  }

  private retried(row: MessageRow, conversationId: string): SendResult {
    return { message: this.original(row, conversationId), created: false };
  }

  /**
   * The message a retry refers to (a clientMessageId reused for another conversation is a conflict):
   * the original, or its tombstone once it is past retention (gone from every read path, so a retry
   * does not bring its text back; deleted as of the day it expired, until the sweep stamps it).
   */
  private original(row: MessageRow, conversationId: string): Message {
    if (row.conversation_id !== conversationId) throw conflict();
    if (!row.deleted_at && row.created_at < this.retentionCutoff()) {
      const expired = new Date(row.created_at.getTime() + this.config.RETENTION_DAYS * DAY_MS);
      return toMessage({ ...row, deleted_at: expired });
    }
    return toMessage(row);
  }

  async history(
    user: AuthUser,
    conversationId: string,
    query: { before?: number; after?: number; limit?: number },
  ): Promise<{ items: Message[]; nextCursor: string | null }> {
    if (query.before !== undefined && query.after !== undefined)
      throw validationFailed('use either before or after, not both', [
        { field: 'before', problems: ['not with after'] },
      ]);
    await this.requireParticipant(conversationId, user.id);
    const limit = query.limit ?? 50;
    const rows = await this.messages.history(
      conversationId,
      { ...query, limit: limit + 1 },
      this.retentionCutoff(),
    );
    const items = rows.slice(0, limit).map(toMessage);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? String(last.seq) : null };
  }

  /** Sender only. The message stays as a tombstone; deleting a deleted message changes nothing. */
  async delete(user: AuthUser, conversationId: string, messageId: string): Promise<void> {
    await this.requireParticipant(conversationId, user.id);
    const message = await this.messages.findInConversation(conversationId, messageId);
    if (!message) throw notFound('Message');
    if (message.sender_id !== user.id) throw forbidden('only the sender may delete a message');
    const deleted = await this.db.transaction(async (tx) => {
      await this.messages.lockConversation(tx, conversationId);
      const gone = await this.messages.tombstone(tx, messageId);
      if (!gone) return undefined;
      return {
        ...gone,
        uncounted: await this.messages.uncountDeleted(tx, conversationId, [gone.seq], [gone.sender_id]),
      };
    });
    if (!deleted) return;
    const participantIds = await this.conversations.participantIds(conversationId);
    this.events.emit('message.deleted', { conversationId, messageId, seq: deleted.seq, participantIds });
    // Those who had it unread: their badge goes down on every device (no receipt: nobody read anything).
    for (const { userId, ...state } of deleted.uncounted)
      this.events.emit('read.updated', { conversationId, userId, ...state, receipt: false, participantIds });
  }

  /** Moves the caller's read pointer forward (never back, clamped to lastSeq) and returns the exact unread count. */
  async markRead(user: AuthUser, conversationId: string, seq: number): Promise<ReadState> {
    const { before, after } = await this.db.transaction(async (tx) => {
      const state = await this.messages.lockReadState(tx, conversationId, user.id);
      if (!state) throw notFound('Conversation');
      return { before: state, after: await this.messages.markRead(tx, conversationId, user.id, seq) };
    });
    const participantIds = await this.conversations.participantIds(conversationId);
    this.events.emit('read.updated', {
      conversationId,
      userId: user.id,
      ...after,
      receipt: after.lastReadSeq > before.lastReadSeq,
      participantIds,
    });
    return after;
  }

  private async requireParticipant(conversationId: string, userId: string): Promise<void> {
    if (!(await this.conversations.isParticipant(conversationId, userId))) throw notFound('Conversation');
  }

  private retentionCutoff(): Date {
    return new Date(this.clock.now().getTime() - this.config.RETENTION_DAYS * DAY_MS);
  }
}
