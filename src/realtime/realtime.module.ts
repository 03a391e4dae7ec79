import { Module } from '@nestjs/common';
import { ConversationModule } from '../conversations/conversation.module';
import { MessageModule } from '../messages/message.module';
import { PresenceModule } from '../presence/presence.module';
import { ChatGateway } from './chat.gateway';
import { Fanout } from './fanout.service';

@Module({
  imports: [MessageModule, ConversationModule, PresenceModule],
  providers: [ChatGateway, Fanout],
})
export class RealtimeModule {}
