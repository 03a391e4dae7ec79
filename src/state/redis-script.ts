import type Redis from 'ioredis';

/** A Lua script run with EVALSHA (ioredis loads it on first use and after a Redis restart). */
export function redisScript(redis: Redis, name: string, numberOfKeys: number, lua: string) {
  if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua });
  const command = (redis as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[
    name
  ]!;
  return (...args: (string | number)[]): Promise<unknown> => command.apply(redis, args);
}
