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
}

/** The key outlives its deadline by this much, so that a late `clearIfDue` still finds it. */
const GRACE_MS = 60_000;

const SET = `
local v = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if v and tonumber(v) > tonumber(ARGV[3]) then return 1 end
return 0`;

const CLEAR_IF_DUE = `
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`;

export class RedisDeadlines extends Deadlines {
  private readonly setScript;
  private readonly clearIfDueScript;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    super();
    this.setScript = redisScript(redis, 'chatDeadlineSet', 1, SET);
    this.clearIfDueScript = redisScript(redis, 'chatDeadlineClearIfDue', 1, CLEAR_IF_DUE);
  }

  async set(key: string, deadlineMs: number, nowMs: number): Promise<boolean> {
    const ttl = Math.max(1, deadlineMs - nowMs) + GRACE_MS;
    return Number(await this.setScript(this.prefix + key, deadlineMs, ttl, nowMs)) === 0;
  }

  async get(key: string): Promise<number | undefined> {
    const v = await this.redis.get(this.prefix + key);
    return v === null ? undefined : Number(v);
  }

  async clear(key: string): Promise<boolean> {
    return (await this.redis.del(this.prefix + key)) > 0;
  }

  async clearIfDue(key: string, nowMs: number): Promise<boolean> {
    return Number(await this.clearIfDueScript(this.prefix + key, nowMs)) === 1;
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
}
