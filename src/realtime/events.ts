import type { Conversation } from '../conversations/conversation.types';
import type { Message, ReadState } from '../messages/message.types';
import type { UserPresence } from '../presence/presence.types';

/** Why the server closed a connection; sent as `session:end` just before it disconnects. */
export type SessionEndReason = 'token_expired' | 'rate_limited' | 'server_shutdown';

/** Every event the server emits to clients (CONTRACT §4), one typed map. */
export interface ServerEvents {
  'message:new': (message: Message) => void;
  'message:deleted': (payload: { conversationId: string; messageId: string; seq: number }) => void;
  'conversation:updated': (conversation: Conversation) => void;
  'unread:updated': (payload: { conversationId: string; unreadCount: number; lastReadSeq: number }) => void;
  'receipt:read': (payload: { conversationId: string; userId: string; seq: number }) => void;
  typing: (payload: { conversationId: string; userId: string; isTyping: boolean }) => void;
  presence: (payload: { userId: string; status: 'online' | 'offline'; lastSeenAt: string }) => void;
  'session:end': (payload: { reason: SessionEndReason }) => void;
}

export type AckError = { code: string; message: string; details?: unknown[] };
export type AckResult<T = unknown> = { ok: true; data: T } | { ok: false; error: AckError };
export type Ack<T = unknown> = (result: AckResult<T>) => void;

/** Every event clients send, with its payload and the `data` of a successful ack. */
export interface ClientEvents {
  'message:send': {
    payload: { conversationId: string; clientMessageId: string; content: { text: string } };
    result: Message;
  };
  'conversation:read': { payload: { conversationId: string; seq: number }; result: ReadState };
  'typing:start': { payload: { conversationId: string }; result: Record<string, never> };
  'typing:stop': { payload: { conversationId: string }; result: Record<string, never> };
  'presence:heartbeat': { payload: Record<string, never>; result: Record<string, never> };
  /** Extension: the presence of users who share a conversation with the caller (GET /presence). */
  'presence:query': { payload: { userIds: string[] }; result: { users: UserPresence[] } };
}

export type ClientEventName = keyof ClientEvents;
