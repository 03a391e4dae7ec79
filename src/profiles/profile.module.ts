import { Global, Module } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { HttpProfileSource } from './profile.client';
import { MockProfileSource } from './profile.mock';
import { ResilientProfileSource } from './profile.resilience';
import { PROFILE_CACHE_TTL_S, PROFILE_SOURCE, ProfileService } from './profile.service';

@Global()
@Module({
  providers: [
    {
      provide: PROFILE_SOURCE,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        config.PROFILE_SERVICE_URL
          ? new ResilientProfileSource(new HttpProfileSource(config.PROFILE_SERVICE_URL), {
              timeoutMs: config.PROFILE_TIMEOUT_MS,
            })
          : new MockProfileSource(),
    },
    {
      provide: PROFILE_CACHE_TTL_S,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => config.PROFILE_CACHE_TTL_S,
    },
    ProfileService,
  ],
  exports: [ProfileService],
})
export class ProfileModule {}
