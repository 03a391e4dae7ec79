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
      'Extension of the contract. Answers for the users who share a conversation with the caller (whose `presence` ' +
      'events reach the caller) and for the caller; the others are left out, not refused. `lastSeenAt` is when the ' +
      'status last changed, as in the `presence` event: of an answer and an event about the same user, the one ' +
      'with the later `lastSeenAt` is the current one. Also over Socket.IO as `presence:query { userIds: [...] }`.',
  })
  @ApiOkResponse({ type: PresenceListDto })
  @ApiErrors('VALIDATION_FAILED')
  async query(@CurrentUser() user: AuthUser, @Query() query: PresenceQuery): Promise<PresenceListDto> {
    return { users: await this.presence.visibleTo(user.id, query.userIds) };
  }
}
