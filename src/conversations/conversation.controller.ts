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
import { ApiErrors } from '../common/api-errors';
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
    summary: 'Create a direct or group conversation (a direct one is returned with 200 if the pair has one)',
  })
  @ApiCreatedResponse({ type: ConversationDto, description: 'created' })
  @ApiOkResponse({ type: ConversationDto, description: 'direct: the existing conversation of the pair' })
  @ApiErrors('VALIDATION_FAILED', 'LIMIT_EXCEEDED')
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
  @ApiErrors('VALIDATION_FAILED')
  list(@CurrentUser() user: AuthUser, @Query() query: ListConversationsQuery) {
    return this.conversations.list(user, query.limit, query.cursor);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One conversation (404 when the caller is not a participant)' })
  @ApiOkResponse({ type: ConversationDto })
  @ApiErrors('VALIDATION_FAILED', 'NOT_FOUND')
  get(@CurrentUser() user: AuthUser, @Param('id', UuidParam) id: string): Promise<Conversation> {
    return this.conversations.get(user, id);
  }

  @Post(':id/participants')
  @HttpCode(200)
  @ApiOperation({ summary: 'Add a participant to a group (owner or admin; at most 8 participants)' })
  @ApiOkResponse({ type: ConversationDto })
  @ApiErrors('VALIDATION_FAILED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT', 'LIMIT_EXCEEDED')
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
  @ApiOperation({ summary: 'Remove a participant (owner/admin) or leave (the user themself)' })
  @ApiNoContentResponse()
  @ApiErrors('VALIDATION_FAILED', 'FORBIDDEN', 'NOT_FOUND')
  async removeParticipant(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidParam) id: string,
    @Param('userId', ExternalIdParam) userId: string,
  ): Promise<void> {
    await this.conversations.removeParticipant(user, id, userId);
  }

  @Patch(':id/participants/:userId')
  @ApiOperation({ summary: "Change a participant's role (owner only)" })
  @ApiOkResponse({ type: ConversationDto })
  @ApiErrors('VALIDATION_FAILED', 'FORBIDDEN', 'NOT_FOUND')
  updateParticipant(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidParam) id: string,
    @Param('userId', ExternalIdParam) userId: string,
    @Body() body: UpdateParticipantDto,
  ): Promise<Conversation> {
    return this.conversations.updateParticipant(user, id, userId, body);
  }
}
