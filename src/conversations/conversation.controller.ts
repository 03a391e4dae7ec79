import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentUser } from '../auth/auth.guard';
import type { AuthUser } from '../auth/token-verifier';
import { ApiErrors, ApiExternalIdParam, ApiUuidParam } from '../common/api-errors';
import { ExternalIdParam, UuidParam } from '../common/validators';
import {
  AddParticipantDto,
  ConversationDto,
  ConversationListDto,
  CreateConversationDto,
  ListConversationsQuery,
  UpdateParticipantDto,
} from './conversation.dto';
import { ConversationService } from './conversation.service';
import type { Conversation } from './conversation.types';
import { TakesNoBody } from '../common/no-body';

@ApiTags('conversations')
@Controller('conversations')
export class ConversationController {
  constructor(private readonly conversations: ConversationService) {}

  @Post()
  @ApiOperation({
    summary:
      'Create a direct, group or business conversation (an existing direct or business one is returned with 200)',
    description:
      'direct: `{ type, participantIds: [other] }`, at most one per pair of users. group: `{ type, title, ' +
      'participantIds }`, 2–8 participants with the creator. business: `{ type, businessId }`, one per customer ' +
      'and business; opening it routes it (CONTRACT §5).',
  })
  @ApiCreatedResponse({ type: ConversationDto, description: 'created' })
  @ApiOkResponse({
    type: ConversationDto,
    description:
      "direct: the pair's existing conversation; business: the caller's existing conversation with that business",
  })
  @ApiErrors(
    'VALIDATION_FAILED',
    { code: 'NOT_FOUND', description: 'NOT_FOUND: business: no business with that businessId' },
    'PAYLOAD_TOO_LARGE',
    {
      code: 'LIMIT_EXCEEDED',
      description: 'LIMIT_EXCEEDED: group: more than 8 participants, the creator included',
    },
    'SERVICE_UNAVAILABLE',
  )
  async create(
    @CurrentUser() user: AuthUser,
    @Body() body: CreateConversationDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<Conversation> {
    const { conversation, created } = await this.conversations.create(user, body);
    res.status(created ? 201 : 200);
    return conversation;
  }

  @Get()
  @ApiOperation({
    summary: "The caller's chat list, most recent activity first, with unread counts and profiles",
  })
  @ApiOkResponse({ type: ConversationListDto })
  @ApiErrors('VALIDATION_FAILED', 'SERVICE_UNAVAILABLE')
  list(@CurrentUser() user: AuthUser, @Query() query: ListConversationsQuery) {
    return this.conversations.list(user, query.limit, query.cursor);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One conversation (404 when the caller is not a participant)' })
  @ApiUuidParam('id')
  @ApiOkResponse({ type: ConversationDto })
  @ApiErrors('VALIDATION_FAILED', 'NOT_FOUND', 'SERVICE_UNAVAILABLE')
  get(@CurrentUser() user: AuthUser, @Param('id', UuidParam) id: string): Promise<Conversation> {
    return this.conversations.get(user, id);
  }

  @Post(':id/participants')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Add a participant to a group (owner or admin; an admin only by the owner; at most 8 participants)',
  })
  @ApiUuidParam('id')
  @ApiOkResponse({ type: ConversationDto })
  @ApiErrors(
    'VALIDATION_FAILED',
    {
      code: 'FORBIDDEN',
      description: 'FORBIDDEN: not the owner or an admin, an admin added by an admin, or not a group',
    },
    'NOT_FOUND',
    { code: 'CONFLICT', description: 'CONFLICT: already a participant' },
    { code: 'LIMIT_EXCEEDED', description: 'LIMIT_EXCEEDED: the group has 8 participants already' },
    'PAYLOAD_TOO_LARGE',
    'SERVICE_UNAVAILABLE',
  )
  addParticipant(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidParam) id: string,
    @Body() body: AddParticipantDto,
  ): Promise<Conversation> {
    return this.conversations.addParticipant(user, id, body);
  }

  @Delete(':id/participants/:userId')
  @TakesNoBody()
  @HttpCode(204)
  @ApiOperation({
    summary: 'Remove a participant (the owner: anyone; an admin: members) or leave (the user themself)',
    description: 'When the owner leaves, the longest-standing admin (else member) becomes the owner.',
  })
  @ApiUuidParam('id')
  @ApiExternalIdParam('userId')
  @ApiNoContentResponse({ description: 'removed' })
  @ApiErrors('VALIDATION_FAILED', 'FORBIDDEN', 'NOT_FOUND', 'SERVICE_UNAVAILABLE')
  async removeParticipant(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidParam) id: string,
    @Param('userId', ExternalIdParam) userId: string,
  ): Promise<void> {
    await this.conversations.removeParticipant(user, id, userId);
  }

  @Patch(':id/participants/:userId')
  @ApiOperation({ summary: "Change a participant's role (owner only, not their own)" })
  @ApiUuidParam('id')
  @ApiExternalIdParam('userId')
  @ApiOkResponse({ type: ConversationDto })
  @ApiErrors('VALIDATION_FAILED', 'FORBIDDEN', 'NOT_FOUND', 'PAYLOAD_TOO_LARGE', 'SERVICE_UNAVAILABLE')
  updateParticipant(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidParam) id: string,
    @Param('userId', ExternalIdParam) userId: string,
    @Body() body: UpdateParticipantDto,
  ): Promise<Conversation> {
    return this.conversations.updateParticipant(user, id, userId, body);
  }
}
