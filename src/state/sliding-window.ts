import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import { redisScript } from './redis-script';

export interface WindowVerdict {
  allowed: boolean;
  /** When refused: milliseconds until the oldest hit leaves the window. */
  retryAfterMs: number;
}

/**
 * Sliding-window rate limits (a log of hits per key): at most `limit` hits in any `windowMs`.
 * Shared by all of a user's connections, and across instances with Redis.
 */
export abstract class SlidingWindow {
  abstract hit(key: string, limit: number, windowMs: number): Promise<WindowVerdict>;
}

const HIT = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  return { 1, 0 }
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return { 0, tonumber(oldest[2]) + window - now }`;

export class RedisSlidingWindow extends SlidingWindow {
  private counter = 0;
  private readonly instance = randomBytes(4).toString('hex');

  private readonly script;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    super();
    this.script = redisScript(redis, 'chatSlidingWindowHit', 1, HIT);
  }

  async hit(key: string, limit: number, windowMs: number): Promise<WindowVerdict> {
    const member = `${Date.now()}:${this.instance}:${this.counter++}`;
    const [allowed, retryAfterMs] = (await this.script(
      this.prefix + key,
      Date.now(),
      windowMs,
      limit,
      member,
    )) as [number, number];
    return { allowed: allowed === 1, retryAfterMs: Math.max(0, retryAfterMs) };
  }
}

export class MemorySlidingWindow extends SlidingWindow {
  /** Each key's hits, with the window they are counted in (keys of different limits differ). */
  private readonly logs = new Map<string, { times: number[]; windowMs: number }>();
  private sweeps = 0;

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  async hit(key: string, limit: number, windowMs: number): Promise<WindowVerdict> {
    const now = this.now();
    const times = (this.logs.get(key)?.times ?? []).filter((t) => t > now - windowMs);
    if (++this.sweeps % 10_000 === 0) this.dropIdle(now);
    if (times.length < limit) {
      times.push(now);
      this.logs.set(key, { times, windowMs });
      return { allowed: true, retryAfterMs: 0 };
    }
    this.logs.set(key, { times, windowMs });
    return { allowed: false, retryAfterMs: times[0]! + windowMs - now };
  }

  /** Forgets the keys with no hit left in their own window. */
  private dropIdle(now: number): void {
    for (const [key, { times, windowMs }] of this.logs)
      if (!times.length || times[times.length - 1]! <= now - windowMs) this.logs.delete(key);
  }
}
