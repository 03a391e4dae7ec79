import { Module, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { ScheduleModule } from '@nestjs/schedule';
import { AuthModule } from './auth/auth.module';
import { CommonModule } from './common/common.module';
import { AppConfigModule } from './config/config.module';
import type { AppConfig } from './config/env';
import { ConversationModule } from './conversations/conversation.module';
import { DatabaseModule } from './database/database.module';
import { MessageModule } from './messages/message.module';
import { ProfileModule } from './profiles/profile.module';
import { loggerParams } from './observability/logger';
import { ObservabilityModule } from './observability/observability.module';
import { RealtimeModule } from './realtime/realtime.module';
import { StateModule } from './state/state.module';

export interface AppModuleOptions {
  config: AppConfig;
  databaseUrl: string;
  /** Where JSON logs go; stdout when unset. Tests pass a stream to read them. */
  logStream?: DestinationStream;
  /** Further modules (tests mount probe controllers this way). */
  extraImports?: DynamicModule['imports'];
}

@Module({})
export class AppModule {
  static forRoot({ config, databaseUrl, logStream, extraImports = [] }: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        LoggerModule.forRoot(loggerParams(config, logStream)),
        DatabaseModule.forRoot(databaseUrl),
        ScheduleModule.forRoot(),
        CommonModule,
        StateModule,
        ObservabilityModule,
        AuthModule,
        ProfileModule,
        ConversationModule,
        MessageModule,
        RealtimeModule,
        ...extraImports,
      ],
    };
  }
}
