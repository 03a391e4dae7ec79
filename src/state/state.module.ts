import { Global, Module } from '@nestjs/common';
import { Deadlines, MemoryDeadlines, RedisDeadlines } from './deadlines';
import { ExpiringSet, MemoryExpiringSet, RedisExpiringSet } from './expiring-set';
import { KeyValueStore, MemoryKeyValueStore, RedisKeyValueStore } from './key-value.store';
import { MemoryOrderedChannel, OrderedChannel, RedisOrderedChannel } from './ordered-channel';
import { withFallback } from './fallback';
import { RedisService } from './redis.service';
import { MemorySlidingWindow, RedisSlidingWindow, SlidingWindow } from './sliding-window';

/**
 * Shared state behind one interface each: with REDIS_URL, in Redis (correct across instances);
 * without, in process (single instance).
 */
@Global()
@Module({
  providers: [
    RedisService,
    {
      provide: KeyValueStore,
      inject: [RedisService],
      useFactory: (redis: RedisService) =>
        redis.client
          ? withFallback<KeyValueStore>(
              'kv',
              new RedisKeyValueStore(redis.timed!, redis.key('kv:')),
              new MemoryKeyValueStore(),
              redis.ready,
            )
          : new MemoryKeyValueStore(),
    },
    {
      provide: ExpiringSet,
      inject: [RedisService],
      useFactory: (redis: RedisService) =>
        redis.client
          ? withFallback<ExpiringSet>(
              'presence',
              new RedisExpiringSet(redis.client, redis.key('set:')),
              new MemoryExpiringSet(),
              redis.ready,
            )
          : new MemoryExpiringSet(),
    },
    {
      provide: Deadlines,
      inject: [RedisService],
      useFactory: (redis: RedisService) =>
        redis.client
          ? withFallback<Deadlines>(
              'typing',
              new RedisDeadlines(redis.client, redis.key('dl:')),
              new MemoryDeadlines(),
              redis.ready,
            )
          : new MemoryDeadlines(),
    },
    {
      provide: SlidingWindow,
      inject: [RedisService],
      useFactory: (redis: RedisService) =>
        redis.client
          ? withFallback<SlidingWindow>(
              'rate-limit',
              new RedisSlidingWindow(redis.timed!, redis.key('rl:')),
              new MemorySlidingWindow(),
              redis.ready,
            )
          : new MemorySlidingWindow(),
    },
    {
      provide: OrderedChannel,
      inject: [RedisService],
      useFactory: (redis: RedisService) =>
        redis.client
          ? withFallback<OrderedChannel>(
              'fan-out',
              new RedisOrderedChannel(
                redis.client,
                redis.duplicate('ordered-sub', { subscriber: true }),
                redis.key(''),
              ),
              new MemoryOrderedChannel(),
              redis.ready,
              ['subscribe'],
            )
          : new MemoryOrderedChannel(),
    },
  ],
  exports: [RedisService, KeyValueStore, ExpiringSet, Deadlines, SlidingWindow, OrderedChannel],
})
export class StateModule {}
