// The wire types shared with the service. The socket event maps are the gateway's own
// (src/realtime/events.ts), copied by `npm run client:generate` and checked for drift by the tests.
import type {
  AckResult,
  ClientEventName,
  ClientEvents,
  ServerEvents,
} from './generated/protocol/realtime/events';

export type {
  Ack,
  AckError,
  AckResult,
  ClientEventName,
  ClientEvents,
  ServerEvents,
  SessionEndReason,
} from './generated/protocol/realtime/events';
export type {
  BusinessInfo,
  Conversation,
  ConversationType,
  Participant,
  ParticipantRole,
} from './generated/protocol/conversations/conversation.types';
export type { Message, ReadState } from './generated/protocol/messages/message.types';
export type { Profile } from './generated/protocol/profiles/profile.types';
export type { UserPresence } from './generated/protocol/presence/presence.types';
export type { components, operations, paths } from './generated/openapi';

/** The client-to-server map in Socket.IO's shape: every event takes its payload and an ack callback. */
export type ClientEmitEvents = {
  [E in ClientEventName]: (
    payload: ClientEvents[E]['payload'],
    ack: (result: AckResult<ClientEvents[E]['result']>) => void,
  ) => void;
};

export type ServerEventName = keyof ServerEvents;
export type ServerEventPayload<E extends ServerEventName> = Parameters<ServerEvents[E]>[0];

/** Error codes of the contract (REST and socket acks), plus the SDK's own `TIMEOUT` and `CLOSED`. */
export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'LIMIT_EXCEEDED'
  | 'RATE_LIMITED'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL'
  | 'TIMEOUT'
  | 'CLOSED';

/** A failed call: the contract's error code and message, with the HTTP status and request id for REST. */
export class ChatError extends Error {
  constructor(
    readonly code: ErrorCode | (string & {}),
    message: string,
    readonly status?: number,
    readonly requestId?: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'ChatError';
  }
}
