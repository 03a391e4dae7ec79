import { Module } from '@nestjs/common';
import { ConversationRepository } from '../conversations/conversation.repository';
import { MessageController } from './message.controller';
import { MessageRepository } from './message.repository';
import { MessageService } from './message.service';
import { RetentionService } from './retention.service';

@Module({
  controllers: [MessageController],
  providers: [MessageService, MessageRepository, ConversationRepository, RetentionService],
  exports: [MessageService, MessageRepository, ConversationRepository, RetentionService],
})
export class MessageModule {}
