import { Inject, Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import { DomainEvents } from '../common/domain-events';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { ConversationRepository } from '../conversations/conversation.repository';
import { ExpiringSet } from '../state/expiring-set';
import { KeyValueStore } from '../state/key-value.store';
import type { UserPresence } from './presence.types';

const LAST_SEEN_TTL_S = 30 * 86_400;
/** How far apart instances' clocks may be without the sweep taking a live connection for a dead one. */
const SWEEP_SKEW_MS = 5_000;
/** Batches one sweep may take (the rest waits for the next). */
const SWEEP_ROUNDS = 10;

/**
 * Presence (CONTRACT §4): a user is online while any of their connections is alive and has
 * heartbeated (or connected) within PRESENCE_TTL_S. Each connection is a member of the user's
 * expiring set; whoever takes the set from empty to non-empty (or back) announces the change,
 * so two instances never announce the same change twice.
 */
@Injectable()
export class PresenceService {
  private readonly ttlMs: number;
  private sweeping = false;

  constructor(
    private readonly connections: ExpiringSet,
    private readonly store: KeyValueStore,
    private readonly events: DomainEvents,
    private readonly clock: Clock,
    private readonly conversations: ConversationRepository,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.ttlMs = config.PRESENCE_TTL_S * 1000;
  }

  /**
   * A connection opened or heartbeated: online when the user had no live connection. If the add
   * itself dropped the user's expired connections (a heartbeat a little late, before any lapse
   * check announced it), it announces the lapse first: contacts get offline, then online, never
   * online twice; and one who read them offline in a presence query meanwhile hears they are back.
   */
  async beat(userId: string, connectionId: string): Promise<void> {
    const { before, purged } = await this.connections.add(key(userId), connectionId, this.ttlMs);
    if (before > 0) return;
    if (purged > 0) await this.announce(userId, 'offline');
    await this.announce(userId, 'online');
  }

  /** A connection closed. If it had already lapsed (and offline was announced then), nothing changes. */
  async disconnected(userId: string, connectionId: string): Promise<void> {
    const { removed, size } = await this.connections.remove(key(userId), connectionId);
    if (removed > 0 && size === 0) await this.announce(userId, 'offline');
  }

  /**
   * Called when this instance sees none of the user's local connections heartbeat in time (and by
   * the sweep and the query, for connections of other instances, expired `olderThanMs` ago).
   */
  async checkLapsed(userId: string, olderThanMs = 0): Promise<void> {
    const { removed, size } = await this.connections.purge(key(userId), olderThanMs);
    if (removed > 0 && size === 0) await this.announce(userId, 'offline');
  }

  /**
   * Announces offline the users whose connections all expired with nobody announcing it: their
   * instance died (the lapse check runs only for an instance's own connections). Every instance runs
   * it periodically; whoever purges a set announces, so a change is announced once. A connection is
   * swept once it expired SWEEP_SKEW_MS ago by this instance's clock (instances' clocks differ), and
   * not within a TTL of a reconnection to Redis (the live connections' heartbeats went to each
   * instance's own memory meanwhile: their sets in Redis look expired until the next heartbeat).
   */
  async sweepExpired(batch = 500): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    const failures: unknown[] = [];
    try {
      for (let round = 0; round < SWEEP_ROUNDS; round++) {
        const due = await this.connections.expired(batch, {
          olderThanMs: SWEEP_SKEW_MS,
          quietMs: this.ttlMs,
        });
        const results = await Promise.allSettled(
          due
            .filter((k) => k.startsWith(KEY_PREFIX))
            .map((k) => this.checkLapsed(k.slice(KEY_PREFIX.length), SWEEP_SKEW_MS)),
        );
        for (const r of results) if (r.status === 'rejected') failures.push(r.reason);
        if (due.length < batch || failures.length) break;
      }
    } finally {
      this.sweeping = false;
    }
    if (failures.length) throw failures[0];
  }

  async isOnline(userIds: string[]): Promise<Map<string, boolean>> {
    const sizes = await this.connections.sizes(userIds.map(key));
    return new Map(userIds.map((id, i) => [id, (sizes[i] ?? 0) > 0]));
  }

  async lastSeen(userIds: string[]): Promise<Map<string, string | null>> {
    const values = await this.store.getMany(userIds.map(seenKey));
    return new Map(userIds.map((id, i) => [id, values[i] ?? null]));
  }

  /**
   * The presence of those of `userIds` whom `callerId` may see: users who share a conversation with
   * them, the ones their presence events reach (not the caller: no event is about oneself). In the
   * order asked, each user once; the others are left out. A snapshot for a client that (re)connects:
   * the `presence` events after it carry what changes.
   *
   * A user whose connections all expired (SWEEP_SKEW_MS ago or more) without anyone announcing it
   * (their instance died before its lapse check ran) is announced offline here, to every contact,
   * before answering.
   */
  async visibleTo(callerId: string, userIds: string[]): Promise<UserPresence[]> {
    const asked = [...new Set(userIds)].filter((id) => id !== callerId);
    const shared = await this.conversations.sharingWith(callerId, asked);
    const visible = asked.filter((id) => shared.has(id));
    if (!visible.length) return [];
    const census = await this.connections.census(visible.map(key));
    const unannounced = visible.filter((_, i) => census[i]!.live === 0 && census[i]!.expired > 0);
    await Promise.all(unannounced.map((id) => this.checkLapsed(id, SWEEP_SKEW_MS)));
    const seen = await this.lastSeen(visible);
    return visible.map((userId, i) => ({
      userId,
      status: census[i]!.live > 0 ? 'online' : 'offline',
      lastSeenAt: seen.get(userId) ?? null,
    }));
  }

  private async announce(userId: string, status: 'online' | 'offline'): Promise<void> {
    const lastSeenAt = this.clock.now().toISOString();
    await this.store.setMany([[seenKey(userId), lastSeenAt]], LAST_SEEN_TTL_S);
    this.events.emit('presence.changed', { userId, status, lastSeenAt });
  }
}

const KEY_PREFIX = 'presence:';
const key = (userId: string) => KEY_PREFIX + userId;
const seenKey = (userId: string) => `seen:${userId}`;
