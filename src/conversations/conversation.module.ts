import { Module } from '@nestjs/common';
import { BusinessConversationController } from '../business/business.controller';
import { BusinessModule } from '../business/business.module';
import { MessageModule } from '../messages/message.module';
import { ConversationController } from './conversation.controller';
import { ConversationService } from './conversation.service';

@Module({
  imports: [MessageModule, BusinessModule],
  controllers: [ConversationController, BusinessConversationController],
  providers: [ConversationService],
  exports: [ConversationService],
})
export class ConversationModule {}
