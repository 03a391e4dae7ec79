/** One user's presence, as the `presence` event and the presence query (GET /presence, `presence:query`) give it. */
export interface UserPresence {
  userId: string;
  status: 'online' | 'offline';
  /** When the status last changed; null when not known (never connected, or not within 30 days). */
  lastSeenAt: string | null;
}
