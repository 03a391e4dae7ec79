import { Module } from '@nestjs/common';
import { MessageModule } from '../messages/message.module';
import { PresenceModule } from '../presence/presence.module';
import { BusinessController } from './business.controller';
import { BusinessRepository } from './business.repository';
import { BusinessService } from './business.service';
import { RoutingService } from './routing.service';

@Module({
  imports: [MessageModule, PresenceModule],
  controllers: [BusinessController],
  providers: [BusinessRepository, BusinessService, RoutingService],
  exports: [BusinessRepository, BusinessService, RoutingService],
})
export class BusinessModule {}
