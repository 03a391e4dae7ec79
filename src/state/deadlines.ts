import type Redis from 'ioredis';
import { redisScript } from './redis-script';

/**
 * Flags that hold until a deadline (typing: "u1 is typing in c1 until t"). Expiry is decided by
 * whoever calls `clearIfDue` first after the deadline, so exactly one caller announces the end,
 * whichever instance it runs on.
 */
export abstract class Deadlines {
  /**
   * Sets (or extends) the flag until `deadlineMs`; true if it was not set before, or only with a
   * deadline already passed at `nowMs` (its end never announced: the instance that would have
   * announced it died): either way a new start.
   */
  abstract set(key: string, deadlineMs: number, nowMs: number): Promise<boolean>;
  /** The flag's deadline, or undefined when it is not set. */
  abstract get(key: string): Promise<number | undefined>;
  /** Clears the flag; true if it was set. */
  abstract clear(key: string): Promise<boolean>;
  /** Clears the flag if its deadline has passed; true for the one caller that cleared it. */
  abstract clearIfDue(key: string, nowMs: number): Promise<boolean>;
  /**
   * Clears up to `limit` flags whose deadline is `olderThanMs` or more past `nowMs` and returns their
   * keys, each to one caller only: the flags whose own timer was on an instance that went away (the
   * instance that sets a flag times it; the others find what it left behind here).
   */
  abstract clearOverdue(nowMs: number, olderThanMs: number, limit: number): Promise<string[]>;
}

/** The key outlives its deadline by this much, so that a late `clearIfDue` still finds it. */
const GRACE_MS = 60_000;

/** KEYS: the flag, the index of deadlines (the flags' names by deadline). */
const SET = `
local v = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[4])
if v and tonumber(v) > tonumber(ARGV[3]) then return 1 end
return 0`;

/** KEYS: the flag, the index. */
const CLEAR = `
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])`;

/** KEYS: the flag, the index. */
const CLEAR_IF_DUE = `
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
if not v then redis.call('ZREM', KEYS[2], ARGV[2]) end
return 0`;

/**
 * KEYS: the index. ARGV: the flags' prefix, the cutoff, the limit, now. Clears the overdue flags it
 * finds and returns their names; drops index entries whose flag is gone or was renewed past now
 * (a renewal re-indexes it at its new deadline, so such an entry is only ever stale).
 */
const CLEAR_OVERDUE = `
local names = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local cleared = {}
for _, name in ipairs(names) do
  local v = redis.call('GET', ARGV[1] .. name)
  if v and tonumber(v) <= tonumber(ARGV[4]) then
    redis.call('DEL', ARGV[1] .. name)
    cleared[#cleared + 1] = name
  end
  if not v or tonumber(v) <= tonumber(ARGV[4]) then redis.call('ZREM', KEYS[1], name) end
end
return cleared`;

/**
 * In Redis each flag is a key holding its deadline (expiring GRACE_MS after it), and an index (one
 * sorted set of flag names by deadline, written by the same scripts; in a Cluster every key of the
 * service shares one slot, see RedisService) lets any instance find the flags left overdue.
 */
export class RedisDeadlines extends Deadlines {
  private readonly setScript;
  private readonly clearScript;
  private readonly clearIfDueScript;
  private readonly clearOverdueScript;
  private readonly index: string;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    super();
    this.index = `${prefix}deadlines`;
    this.setScript = redisScript(redis, 'chatDeadlineSet', 2, SET);
    this.clearScript = redisScript(redis, 'chatDeadlineClear', 2, CLEAR);
    this.clearIfDueScript = redisScript(redis, 'chatDeadlineClearIfDue', 2, CLEAR_IF_DUE);
    this.clearOverdueScript = redisScript(redis, 'chatDeadlineClearOverdue', 1, CLEAR_OVERDUE);
  }

  async set(key: string, deadlineMs: number, nowMs: number): Promise<boolean> {
    const ttl = Math.max(1, deadlineMs - nowMs) + GRACE_MS;
    return Number(await this.setScript(this.prefix + key, this.index, deadlineMs, ttl, nowMs, key)) === 0;
  }

  async get(key: string): Promise<number | undefined> {
    const v = await this.redis.get(this.prefix + key);
    return v === null ? undefined : Number(v);
  }

  async clear(key: string): Promise<boolean> {
    return Number(await this.clearScript(this.prefix + key, this.index, key)) > 0;
  }

  async clearIfDue(key: string, nowMs: number): Promise<boolean> {
    return Number(await this.clearIfDueScript(this.prefix + key, this.index, nowMs, key)) === 1;
  }

  async clearOverdue(nowMs: number, olderThanMs: number, limit: number): Promise<string[]> {
    return (await this.clearOverdueScript(
      this.index,
      this.prefix,
      nowMs - olderThanMs,
      limit,
      nowMs,
    )) as string[];
  }
}

export class MemoryDeadlines extends Deadlines {
  private readonly flags = new Map<string, number>();

  async set(key: string, deadlineMs: number, nowMs: number): Promise<boolean> {
    const before = this.flags.get(key);
    this.flags.set(key, deadlineMs);
    return before === undefined || before <= nowMs;
  }

  async get(key: string): Promise<number | undefined> {
    return this.flags.get(key);
  }

  async clear(key: string): Promise<boolean> {
    return this.flags.delete(key);
  }

  async clearIfDue(key: string, nowMs: number): Promise<boolean> {
    const deadline = this.flags.get(key);
    if (deadline === undefined || deadline > nowMs) return false;
    this.flags.delete(key);
    return true;
  }

  /** One process: every flag it set has its timer here, so nothing is ever left overdue by another. */
  async clearOverdue(): Promise<string[]> {
    return [];
  }
}
