export {
  ChatClient,
  DEFAULT_HEARTBEAT_MS,
  type ChatClientEvents,
  type ChatClientOptions,
  type ChatSocket,
  type ConnectionStatus,
  type OutgoingMessage,
} from './chat-client';
export { newClientMessageId } from './ids';
export { MessageStream, type FetchAfter, type MessageStreamOptions } from './message-stream';
export { type PresenceUpdate } from './presence-view';
export * from './protocol';
export { createRestClient, unwrap, type RestClient, type RestOptions } from './rest';
