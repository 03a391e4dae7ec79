import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentUser } from '../auth/auth.guard';
import type { AuthUser } from '../auth/token-verifier';
import { ApiErrors } from '../common/api-errors';
import { PresenceListDto, PresenceQuery } from './presence.dto';
import { PresenceService } from './presence.service';

@ApiTags('presence')
@Controller('presence')
export class PresenceController {
  constructor(private readonly presence: PresenceService) {}

  @Get()
  @ApiOperation({
    summary: 'The presence of the users named (a snapshot, e.g. after a reconnect)',
    description:
      'Extension of the contract. Answers for the users who share a conversation with the caller (those whose ' +
      '`presence` events reach the caller); the others, the caller included, are left out, not refused. ' +
      '`lastSeenAt` is when the status last changed, the same value as in the `presence` event that announced it. ' +
      'Read it after the socket connects: from then on the events carry every change, so an event received since ' +
      'the connect is at least as new as the answer (the answer may have been read before it). ' +
      'Also over Socket.IO as `presence:query { userIds: [...] }`.',
  })
  @ApiOkResponse({ type: PresenceListDto })
  @ApiErrors('VALIDATION_FAILED', 'SERVICE_UNAVAILABLE')
  async query(@CurrentUser() user: AuthUser, @Query() query: PresenceQuery): Promise<PresenceListDto> {
    return { users: await this.presence.visibleTo(user.id, query.userIds) };
  }
}
