import type Redis from 'ioredis';
import { redisScript } from './redis-script';

/**
 * Sets whose members expire individually (presence: a user's live connections, each kept alive
 * by its heartbeats). Each mutation purges expired members first and reports sizes, so that the
 * caller that takes a set from empty to non-empty (or back) is the one that announces it.
 */
export abstract class ExpiringSet {
  /**
   * Drops the expired members, then adds or refreshes `member` until now + ttl; returns the live size
   * before the add and how many expired members it dropped. Whoever purges a set empty announces it:
   * an add that found only expired members (none live) both ends and starts the set.
   */
  abstract add(key: string, member: string, ttlMs: number): Promise<{ before: number; purged: number }>;
  /**
   * Removes `member` (and drops expired members); returns how many members this took out and the
   * live size after. `removed` is 0 when the member had already been purged as expired.
   */
  abstract remove(key: string, member: string): Promise<{ removed: number; size: number }>;
  /**
   * Drops the members expired at least `olderThanMs` ago (default: expired at all); returns how many
   * were dropped and the size after (which counts members expired more recently than that).
   */
  abstract purge(key: string, olderThanMs?: number): Promise<{ removed: number; size: number }>;
  /** Live sizes of several sets. */
  abstract sizes(keys: string[]): Promise<number[]>;
  /** For several sets: the live members, and the expired ones nobody has purged yet. Purges nothing. */
  abstract census(keys: string[]): Promise<{ live: number; expired: number }[]>;
  /**
   * Up to `limit` sets of other processes whose members have all expired at least `olderThanMs` ago
   * and that nobody has purged since (the process died without removing them), to purge: whoever
   * purges one announces it. Nothing within `quietMs` of a (re)connection to the shared store: while
   * it was away, the heartbeats of live members went elsewhere, and they have not come back yet.
   */
  abstract expired(limit: number, opts: { olderThanMs: number; quietMs: number }): Promise<string[]>;
}

/** KEYS: the set, the index. The TTL is the same for every add of a set: its latest add's expiry is the set's. */
const ADD = `
local purged = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[5])
return { before, purged }`;

/** KEYS: the set, the index. An emptied set leaves the index. */
const REMOVE = `
local removed = redis.call('ZREM', KEYS[1], ARGV[2])
removed = removed + redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local size = redis.call('ZCARD', KEYS[1])
if size == 0 then redis.call('ZREM', KEYS[2], ARGV[3]) end
return { removed, size }`;

/**
 * How long a set whose members all expired stays in Redis for the sweep to find (and announce).
 * The key's own expiry only collects what nobody swept (every instance down that long).
 */
const KEEP_EXPIRED_MS = 3_600_000;

/**
 * KEYS: the set, the index. An emptied set leaves the index; one with members left is indexed at
 * its latest member's expiry (an add with a shorter TTL, or a clock behind, may have set it earlier).
 */
const PURGE = `
local removed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local size = redis.call('ZCARD', KEYS[1])
if size == 0 then
  redis.call('ZREM', KEYS[2], ARGV[2])
else
  local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('ZADD', KEYS[2], latest[2], ARGV[2])
end
return { removed, size }`;

/**
 * In Redis each set is a sorted set of members by expiry. An index (one sorted set of set keys by
 * their latest expiry, written by the same script as each add; in a Cluster every key of the service
 * shares one slot, see RedisService) lets any instance find the sets whose members all expired
 * unannounced.
 */
export class RedisExpiringSet extends ExpiringSet {
  private readonly addScript;
  private readonly removeScript;
  private readonly purgeScript;
  private readonly index: string;
  /** When the connection to Redis last became ready (for `expired`'s quiet period). */
  private readySince: number;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.addScript = redisScript(redis, 'chatExpiringSetAdd2', 2, ADD);
    this.removeScript = redisScript(redis, 'chatExpiringSetRemove2', 2, REMOVE);
    this.purgeScript = redisScript(redis, 'chatExpiringSetPurge2', 2, PURGE);
    // Set keys have a colon (`presence:<user>`): this name is no set's.
    this.index = `${prefix}expiries`;
    this.readySince = this.now();
    redis.on('ready', () => (this.readySince = this.now()));
  }

  async add(key: string, member: string, ttlMs: number): Promise<{ before: number; purged: number }> {
    const now = this.now();
    const [before, purged] = (await this.addScript(
      this.prefix + key,
      this.index,
      now,
      now + ttlMs,
      member,
      ttlMs + KEEP_EXPIRED_MS,
      key,
    )) as [number, number];
    return { before, purged };
  }

  async remove(key: string, member: string): Promise<{ removed: number; size: number }> {
    const [removed, size] = (await this.removeScript(
      this.prefix + key,
      this.index,
      this.now(),
      member,
      key,
    )) as [number, number];
    return { removed, size };
  }

  async purge(key: string, olderThanMs = 0): Promise<{ removed: number; size: number }> {
    const cutoff = this.now() - olderThanMs;
    const [removed, size] = (await this.purgeScript(this.prefix + key, this.index, cutoff, key)) as [
      number,
      number,
    ];
    return { removed, size };
  }

  async expired(limit: number, { olderThanMs, quietMs }: { olderThanMs: number; quietMs: number }) {
    const now = this.now();
    if (now - this.readySince < quietMs) return [];
    return this.redis.zrangebyscore(this.index, '-inf', now - olderThanMs, 'LIMIT', 0, limit);
  }

  async sizes(keys: string[]): Promise<number[]> {
    if (!keys.length) return [];
    const now = this.now();
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.zcount(this.prefix + key, `(${now}`, '+inf');
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, n]) => (err ? 0 : Number(n)));
  }

  async census(keys: string[]): Promise<{ live: number; expired: number }[]> {
    if (!keys.length) return [];
    const now = this.now();
    const pipeline = this.redis.pipeline();
    for (const key of keys) {
      pipeline.zcount(this.prefix + key, `(${now}`, '+inf');
      pipeline.zcount(this.prefix + key, '-inf', now);
    }
    const results = (await pipeline.exec()) ?? [];
    const count = (i: number) => {
      const [err, n] = results[i] ?? [null, 0];
      return err ? 0 : Number(n);
    };
    return keys.map((_, i) => ({ live: count(2 * i), expired: count(2 * i + 1) }));
  }
}

export class MemoryExpiringSet extends ExpiringSet {
  private readonly sets = new Map<string, Map<string, number>>();

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  /** The set, without its members expired by `cutoff` (now by default). */
  private live(key: string, cutoff = this.now()): { set: Map<string, number>; removed: number } {
    const set = this.sets.get(key) ?? new Map<string, number>();
    let removed = 0;
    for (const [member, expiresAt] of set) {
      if (expiresAt <= cutoff) {
        set.delete(member);
        removed++;
      }
    }
    if (set.size) this.sets.set(key, set);
    else this.sets.delete(key);
    return { set, removed };
  }

  async add(key: string, member: string, ttlMs: number): Promise<{ before: number; purged: number }> {
    const { set, removed } = this.live(key);
    const before = set.size;
    set.set(member, this.now() + ttlMs);
    this.sets.set(key, set);
    return { before, purged: removed };
  }

  async remove(key: string, member: string): Promise<{ removed: number; size: number }> {
    const had = this.sets.get(key)?.delete(member) ? 1 : 0;
    const { set, removed } = this.live(key);
    return { removed: had + removed, size: set.size };
  }

  async purge(key: string, olderThanMs = 0): Promise<{ removed: number; size: number }> {
    const { set, removed } = this.live(key, this.now() - olderThanMs);
    return { removed, size: set.size };
  }

  /** Counts without purging, as the Redis one does: purging is for whoever then announces the change. */
  async sizes(keys: string[]): Promise<number[]> {
    return (await this.census(keys)).map((c) => c.live);
  }

  /**
   * None: every set in this process's memory is its own (one instance without Redis, or the
   * instance's own view while Redis is down), and its own lapse check purges them.
   */
  async expired(): Promise<string[]> {
    return [];
  }

  async census(keys: string[]): Promise<{ live: number; expired: number }[]> {
    const now = this.now();
    return keys.map((key) => {
      const counts = { live: 0, expired: 0 };
      for (const expiresAt of this.sets.get(key)?.values() ?? [])
        counts[expiresAt > now ? 'live' : 'expired']++;
      return counts;
    });
  }
}
