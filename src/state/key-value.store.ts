import type Redis from 'ioredis';

/** String values with a time to live, shared across instances with Redis, per process without. */
export abstract class KeyValueStore {
  abstract getMany(keys: string[]): Promise<(string | null)[]>;
  abstract setMany(entries: [key: string, value: string][], ttlS: number): Promise<void>;
}

export class RedisKeyValueStore extends KeyValueStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    super();
  }

  async getMany(keys: string[]): Promise<(string | null)[]> {
    if (!keys.length) return [];
    return this.redis.mget(keys.map((k) => this.prefix + k));
  }

  async setMany(entries: [string, string][], ttlS: number): Promise<void> {
    if (!entries.length || ttlS <= 0) return;
    const pipeline = this.redis.pipeline();
    for (const [key, value] of entries) pipeline.set(this.prefix + key, value, 'EX', ttlS);
    await pipeline.exec();
  }
}

/** In-process store for single-instance mode; bounded, the oldest entries go first. */
export class MemoryKeyValueStore extends KeyValueStore {
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();

  constructor(
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  async getMany(keys: string[]): Promise<(string | null)[]> {
    const now = this.now();
    return keys.map((key) => {
      const entry = this.entries.get(key);
      if (!entry) return null;
      if (entry.expiresAt <= now) {
        this.entries.delete(key);
        return null;
      }
      return entry.value;
    });
  }

  async setMany(entries: [string, string][], ttlS: number): Promise<void> {
    if (ttlS <= 0) return;
    const expiresAt = this.now() + ttlS * 1000;
    for (const [key, value] of entries) {
      this.entries.delete(key);
      this.entries.set(key, { value, expiresAt });
    }
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}
