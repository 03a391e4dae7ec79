/** Why the server closed a connection; sent as `session:end` just before it disconnects. */
export type SessionEndReason = 'token_expired' | 'rate_limited' | 'server_shutdown';

/** Every event the server emits to clients (CONTRACT §4), one typed map. */
export interface ServerEvents {
  'session:end': (payload: { reason: SessionEndReason }) => void;
}

export type AckResult<T = unknown> =
  { ok: true; data: T } | { ok: false; error: { code: string; message: string; details?: unknown[] } };

export type Ack<T = unknown> = (result: AckResult<T>) => void;
