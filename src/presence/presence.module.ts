import { Module } from '@nestjs/common';
import { MessageModule } from '../messages/message.module';
import { PresenceController } from './presence.controller';
import { PresenceService } from './presence.service';
import { TypingService } from './typing.service';

@Module({
  imports: [MessageModule],
  controllers: [PresenceController],
  providers: [PresenceService, TypingService],
  exports: [PresenceService, TypingService],
})
export class PresenceModule {}
