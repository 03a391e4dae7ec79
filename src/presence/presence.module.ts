import { Module } from '@nestjs/common';
import { MessageModule } from '../messages/message.module';
import { PresenceService } from './presence.service';
import { TypingService } from './typing.service';

@Module({
  imports: [MessageModule],
  providers: [PresenceService, TypingService],
  exports: [PresenceService, TypingService],
})
export class PresenceModule {}
