import type { UserPresence } from './protocol';

/**
 * A `presence` as the SDK fires it: the server's event, or an entry of the snapshot. `lastSeenAt` is
 * null only for a snapshot entry the server no longer has a time for (e.g. an instance restarted
 * without Redis): the change is told, its time is not known.
 */
export type PresenceUpdate = UserPresence;

/**
 * What the SDK has told the app of each user's presence: the server's `presence` events, merged
 * with the snapshot read after each connect (`presence:query`, or `GET /presence`).
 *
 * Events are told as they come (an exact repeat of what was told last is not). From a connect on,
 * they carry every change; so a snapshot entry is told only for a user with no event since that
 * connect (the snapshot may have been read before the change such an event announced), and only
 * when it differs from what was told last (the same change, already told; or nothing new since an
 * earlier connect). Instances' clocks are not compared: `lastSeenAt` only tells changes apart.
 * An entry without `lastSeenAt` (not known to the server) is told only when its status differs from
 * the one told last (e.g. online before an instance restart, offline now); a user never told stays
 * untold until something is known.
 */
export class PresenceView {
  private readonly told = new Map<string, PresenceUpdate>();
  private eventsSinceConnect = new Set<string>();

  /** A (re)connect: the snapshot read after it is compared with the events after it. */
  connected(): void {
    this.eventsSinceConnect = new Set();
  }

  /** A `presence` event: whether to tell the app. */
  event(p: PresenceUpdate): boolean {
    this.eventsSinceConnect.add(p.userId);
    return this.tell(p);
  }

  /** The entries of a snapshot read since the last connect that the app must be told. */
  snapshot(users: UserPresence[]): PresenceUpdate[] {
    const out: PresenceUpdate[] = [];
    for (const { userId, status, lastSeenAt } of users) {
      if (this.eventsSinceConnect.has(userId)) continue;
      // No time: nothing to tell unless the status differs from what the app was told.
      if (lastSeenAt === null && (this.told.get(userId)?.status ?? status) === status) continue;
      const p = { userId, status, lastSeenAt };
      if (this.tell(p)) out.push(p);
    }
    return out;
  }

  private tell(p: PresenceUpdate): boolean {
    const last = this.told.get(p.userId);
    if (last?.status === p.status && last.lastSeenAt === p.lastSeenAt) return false;
    this.told.set(p.userId, { userId: p.userId, status: p.status, lastSeenAt: p.lastSeenAt });
    return true;
  }
}
