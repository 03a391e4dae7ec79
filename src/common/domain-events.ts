import { Injectable, Logger } from '@nestjs/common';
import type { ConversationType } from '../conversations/conversation.types';
import type { Message } from '../messages/message.types';

/**
 * What services announce after a commit. The real-time layer listens and turns these into socket
 * events; services never import the gateway, so they behave the same for REST, sockets and jobs.
 */
export interface DomainEventMap {
  /** `originSocketId`: the connection that sent it (it gets the message in its ack, not as `message:new`). */
  'message.sent': {
    message: Message;
    participantIds: string[];
    conversationType: ConversationType;
    originSocketId?: string;
    /**
     * How long the conversation had no message before this one, in ms, when the writer knows it
     * (`quietMs` in message.repository.ts): the ordered channel publishes at once a message whose
     * predecessor is that old, even if its position in the stream was forgotten.
     */
    quietMs?: number;
  };
  'message.deleted': { conversationId: string; messageId: string; seq: number; participantIds: string[] };
  /** Participants (or business status) changed: `participantIds` are the current ones, `removedIds` those who left. */
  'conversation.updated': { conversationId: string; participantIds: string[]; removedIds: string[] };
  'read.updated': {
    conversationId: string;
    userId: string;
    lastReadSeq: number;
    unreadCount: number;
    /** A `receipt:read` is due to the others (a read moved the pointer). */
    receipt: boolean;
    /** The connection that caused it already knows (its own send): it gets no `unread:updated`. */
    exceptSocketId?: string;
    participantIds: string[];
  };
  'typing.changed': { conversationId: string; userId: string; isTyping: boolean; participantIds: string[] };
  'presence.changed': { userId: string; status: 'online' | 'offline'; lastSeenAt: string };
}

export type DomainEventName = keyof DomainEventMap;
type Handler<K extends DomainEventName> = (payload: DomainEventMap[K]) => void;

/** A synchronous, typed, in-process event bus. Handlers must not throw; if one does, it is logged and the rest run. */
@Injectable()
export class DomainEvents {
  private readonly logger = new Logger(DomainEvents.name);
  private readonly handlers = new Map<DomainEventName, Handler<any>[]>();

  on<K extends DomainEventName>(name: K, handler: Handler<K>): void {
    this.handlers.set(name, [...(this.handlers.get(name) ?? []), handler]);
  }

  emit<K extends DomainEventName>(name: K, payload: DomainEventMap[K]): void {
    for (const handler of this.handlers.get(name) ?? []) {
      try {
        handler(payload);
      } catch (err) {
        this.logger.error(
          { err: err instanceof Error ? err.message : String(err), event: name },
          'event handler failed',
        );
      }
    }
  }
}
