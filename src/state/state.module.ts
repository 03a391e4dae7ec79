import { Global, Module } from '@nestjs/common';
import { KeyValueStore, MemoryKeyValueStore, RedisKeyValueStore } from './key-value.store';
import { RedisService } from './redis.service';

@Global()
@Module({
  providers: [
    RedisService,
    {
      provide: KeyValueStore,
      inject: [RedisService],
      useFactory: (redis: RedisService) =>
        redis.client ? new RedisKeyValueStore(redis.client, redis.key('kv:')) : new MemoryKeyValueStore(),
    },
  ],
  exports: [RedisService, KeyValueStore],
})
export class StateModule {}
