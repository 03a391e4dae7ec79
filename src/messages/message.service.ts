import { Inject, Injectable } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import type { AuthUser } from '../auth/token-verifier';
import { Clock } from '../common/clock';
import { DomainEvents } from '../common/domain-events';
import { AppError, forbidden, notFound, validationFailed } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { ConversationRepository } from '../conversations/conversation.repository';
import type { ConversationType } from '../conversations/conversation.types';
import { Db } from '../database/db';
import { normalizeText } from './message-text';
import { MessageRepository } from './message.repository';
import { toMessage, type Message, type MessageRow, type ReadState } from './message.types';

export interface SendInput {
  clientMessageId: string;
  content: { text: string };
}

const DAY_MS = 86_400_000;

/** Thrown inside the send transaction when (sender, clientMessageId) already exists: rolls back the seq taken. */
class DuplicateSend extends Error {}

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
  ) {}

  /**
   * Stores a message with the conversation's next seq, in one short transaction, and announces it after commit.
   * Idempotent on (sender, clientMessageId): a retry, even one racing the original, gets the original
   * (`created: false`) and nothing is stored or announced again.
   */
  async send(
    user: AuthUser,
    conversationId: string,
    input: SendInput,
  ): Promise<{ message: Message; created: boolean }> {
    const text = normalizeText(input.content.text);
    if (!text.ok) throw validationFailed(text.problem, [{ field: 'content.text', problems: [text.problem] }]);
    const earlier = await this.messages.findByClientMessageId(user.id, input.clientMessageId);
    if (earlier) return { message: this.original(earlier, conversationId), created: false };

    let stored: { row: MessageRow; participantIds: string[]; type: ConversationType };
    try {
      stored = await this.db.transaction(async (tx) => {
        const next = await this.messages.nextSeq(tx, conversationId, user.id);
        if (!next) throw notFound('Conversation');
        const row = await this.messages.insertText(
          tx,
          {
            id: uuidv7(),
            conversationId,
            senderId: user.id,
            clientMessageId: input.clientMessageId,
            text: text.text,
          },
          next.seq,
          next.at,
        );
        if (!row) throw new DuplicateSend();
        return { row, participantIds: await this.messages.afterInsert(tx, row), type: next.type };
      });
    } catch (err) {
      if (!(err instanceof DuplicateSend)) throw err;
      const original = await this.messages.findByClientMessageId(user.id, input.clientMessageId);
      if (!original) throw err;
      return { message: this.original(original, conversationId), created: false };
    }
    const message = toMessage(stored.row);
    this.events.emit('message.sent', { message, participantIds: stored.participantIds, conversationType: stored.type });
    return { message, created: true };
  }

  /** The message a retry refers to; a clientMessageId reused for another conversation is a conflict. */
  private original(row: MessageRow, conversationId: string): Message {
    if (row.conversation_id !== conversationId)
      throw new AppError(
        'CONFLICT',
        'clientMessageId was already used for a message in another conversation',
      );
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
      if (gone) await this.messages.uncountDeleted(tx, conversationId, [gone.seq], [gone.sender_id]);
      return gone;
    });
    if (!deleted) return;
    const participantIds = await this.conversations.participantIds(conversationId);
    this.events.emit('message.deleted', { conversationId, messageId, seq: deleted.seq, participantIds });
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
      moved: after.lastReadSeq > before.lastReadSeq,
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
