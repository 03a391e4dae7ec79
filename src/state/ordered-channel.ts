import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { redisScript } from './redis-script';

/**
 * A broadcast channel that delivers each stream's payloads in `seq` order to every subscriber on
 * every instance. Sends commit in seq order, but their "publish" steps may run out of order
 * (two instances, event-loop lag); the channel holds a payload back until the one before it has
 * gone out. A gap that is not filled within `gapMs` (its sender died between commit and publish)
 * is skipped, and clients recover the missing message with `GET …/messages?after=`.
 */
export abstract class OrderedChannel {
  /**
   * Publishes `payload`, the `seq`th of `stream`, once every earlier one has gone out. `quietMs`: how
   * long the stream had been quiet before this payload (its predecessor's age), when known.
   */
  abstract publish(stream: string, seq: number, payload: string, quietMs?: number): Promise<void>;
  abstract subscribe(handler: (payload: string) => void): Promise<void>;
}

/** Positions are forgotten after this long idle. */
const STREAM_TTL_S = 3600;

/**
 * A payload whose predecessor was written at least this long before is not held for it when the
 * stream's position is unknown: that predecessor's publish is long over (or, if its sender died, it
 * would have been skipped after gapMs anyway). So the first message after an idle hour goes out at
 * once, and only a stream that was busy a minute ago waits (Redis lost it: restarted, flushed).
 */
export const QUIET_ENOUGH_MS = 60_000;

const PUBLISH = `
local seq = tonumber(ARGV[1])
local known = redis.call('GET', KEYS[1])
if not known and seq > 1 and ARGV[5] ~= '1' then
  -- Position unknown (the stream is new to Redis: idle past its TTL, or Redis restarted), this is
  -- not the first seq, and its predecessor is recent: that one may still be on its way from another
  -- instance, so this waits like a gap (skipped after gapMs) instead of setting the position past it.
  redis.call('HSET', KEYS[2], seq, ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  return redis.call('HLEN', KEYS[2])
end
-- Unknown but quiet long enough: everything before this seq counts as published.
local last = tonumber(known or (seq - 1))
if seq <= last then
  redis.call('PUBLISH', ARGV[3], ARGV[2])
  return 0
end
redis.call('HSET', KEYS[2], seq, ARGV[2])
local n = last + 1
local p = redis.call('HGET', KEYS[2], n)
while p do
  redis.call('PUBLISH', ARGV[3], p)
  redis.call('HDEL', KEYS[2], n)
  last = n
  n = n + 1
  p = redis.call('HGET', KEYS[2], n)
end
redis.call('SET', KEYS[1], last, 'EX', ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return redis.call('HLEN', KEYS[2])`;

/** Skips the gap: publishes whatever waits, in seq order, if the stream has not moved past `seq` since. */
const SKIP_GAP = `
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if last >= tonumber(ARGV[1]) then return 0 end
local seqs = redis.call('HKEYS', KEYS[2])
local nums = {}
for i, s in ipairs(seqs) do nums[i] = tonumber(s) end
table.sort(nums)
for _, s in ipairs(nums) do
  redis.call('PUBLISH', ARGV[2], redis.call('HGET', KEYS[2], s))
  last = s
end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], last, 'EX', ARGV[3])
return #nums`;

export class RedisOrderedChannel extends OrderedChannel {
  private readonly logger = new Logger('OrderedChannel');
  private readonly publishScript;
  private readonly skipGapScript;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly prefix: string,
    private readonly gapMs = 2000,
  ) {
    super();
    this.publishScript = redisScript(redis, 'chatOrderedPublish', 2, PUBLISH);
    this.skipGapScript = redisScript(redis, 'chatOrderedSkipGap', 2, SKIP_GAP);
  }

  private get channel(): string {
    return this.prefix + 'ordered';
  }

  async publish(stream: string, seq: number, payload: string, quietMs?: number): Promise<void> {
    // One hash tag per stream keeps both keys in one slot (Redis Cluster).
    const keys = [`${this.prefix}ord:{${stream}}:last`, `${this.prefix}ord:{${stream}}:wait`];
    const quiet = quietMs !== undefined && quietMs >= QUIET_ENOUGH_MS ? 1 : 0;
    const waiting = Number(
      await this.publishScript(...keys, seq, payload, this.channel, STREAM_TTL_S, quiet),
    );
    if (waiting > 0) {
      setTimeout(() => {
        this.skipGapScript(...keys, seq, this.channel, STREAM_TTL_S).then(
          (skipped) =>
            Number(skipped) > 0 && this.logger.warn({ stream, seq }, 'skipped a gap in an ordered stream'),
          (err: unknown) => this.logger.warn({ err: String(err) }, 'could not skip a gap'),
        );
      }, this.gapMs).unref();
    }
  }

  async subscribe(handler: (payload: string) => void): Promise<void> {
    this.subscriber.on('message', (channel: string, payload: string) => {
      if (channel === this.channel) handler(payload);
    });
    await this.subscriber.subscribe(this.channel);
  }
}

/** The single-instance channel: the same ordering, in process. */
export class MemoryOrderedChannel extends OrderedChannel {
  private readonly streams = new Map<
    string,
    { last: number; waiting: Map<number, string>; touched: number }
  >();
  private readonly handlers: ((payload: string) => void)[] = [];

  constructor(private readonly gapMs = 2000) {
    super();
  }

  async publish(stream: string, seq: number, payload: string): Promise<void> {
    const now = Date.now();
    let state = this.streams.get(stream);
    if (!state || now - state.touched > STREAM_TTL_S * 1000) {
      state = { last: seq - 1, waiting: new Map(), touched: now };
      this.streams.set(stream, state);
    }
    state.touched = now;
    if (seq <= state.last) return this.deliver(payload);
    state.waiting.set(seq, payload);
    for (
      let next = state.waiting.get(state.last + 1);
      next !== undefined;
      next = state.waiting.get(state.last + 1)
    ) {
      state.waiting.delete(++state.last);
      this.deliver(next);
    }
    if (state.waiting.size) {
      const s = state;
      setTimeout(() => {
        if (s.last >= seq) return;
        for (const n of [...s.waiting.keys()].sort((a, b) => a - b)) {
          this.deliver(s.waiting.get(n)!);
          s.last = n;
        }
        s.waiting.clear();
      }, this.gapMs).unref();
    } else if (this.streams.size > 100_000) {
      this.forgetIdle(now);
    }
  }

  async subscribe(handler: (payload: string) => void): Promise<void> {
    this.handlers.push(handler);
  }

  private deliver(payload: string): void {
    for (const handler of this.handlers) handler(payload);
  }

  private forgetIdle(now: number): void {
    for (const [stream, state] of this.streams)
      if (!state.waiting.size && now - state.touched > 60_000) this.streams.delete(stream);
  }
}
