import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
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
import { ApiErrors, ApiUuidParam } from '../common/api-errors';
import { UuidParam } from '../common/validators';
import {
  HistoryQuery,
  MessageDto,
  MessageListDto,
  ReadDto,
  ReadStateDto,
  SendMessageDto,
} from './message.dto';
import { MessageService } from './message.service';
import type { Message, ReadState } from './message.types';
import { TakesNoBody } from '../common/no-body';

@ApiTags('messages')
@ApiUuidParam('id', 'the conversation')
@Controller('conversations/:id')
export class MessageController {
  constructor(private readonly messages: MessageService) {}

  @Post('messages')
  @ApiOperation({
    summary: 'Send a message. Idempotent on clientMessageId: a retry returns 200 with the original',
    description:
      "The server assigns `seq` (1, 2, 3, … per conversation, no gaps). Sending moves the sender's read pointer to it.",
  })
  @ApiCreatedResponse({ type: MessageDto, description: 'stored' })
  @ApiOkResponse({
    type: MessageDto,
    description: 'a retry: the original message; nothing stored or broadcast',
  })
  @ApiErrors(
    'VALIDATION_FAILED',
    'NOT_FOUND',
    {
      code: 'CONFLICT',
      description: 'CONFLICT: the sender used this clientMessageId for a message in another conversation',
    },
    'PAYLOAD_TOO_LARGE',
    {
      code: 'SERVICE_UNAVAILABLE',
      description:
        'SERVICE_UNAVAILABLE: too busy to take the message (sends refused under overload) or PostgreSQL is ' +
        'unavailable. The message was not written: retry after `Retry-After` seconds with the same clientMessageId.',
    },
  )
  async send(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidParam) id: string,
    @Body() body: SendMessageDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<Message> {
    const { message, created } = await this.messages.send(user, id, body);
    res.status(created ? 201 : 200);
    return message;
  }

  @Get('messages')
  @ApiOperation({
    summary:
      'History: `before` (newest first, default) or `after` (oldest first, for catch-up after a reconnect)',
    description:
      'Deleted messages appear as tombstones (`content: null`, `deletedAt` set). Messages past retention are gone.',
  })
  @ApiOkResponse({ type: MessageListDto })
  @ApiErrors('VALIDATION_FAILED', 'NOT_FOUND', 'SERVICE_UNAVAILABLE')
  history(@CurrentUser() user: AuthUser, @Param('id', UuidParam) id: string, @Query() query: HistoryQuery) {
    return this.messages.history(user, id, query);
  }

  @Delete('messages/:messageId')
  @TakesNoBody()
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a message (sender only); it stays in history as a tombstone' })
  @ApiUuidParam('messageId')
  @ApiNoContentResponse({ description: 'deleted (also when it already was)' })
  @ApiErrors('VALIDATION_FAILED', 'FORBIDDEN', 'NOT_FOUND', 'SERVICE_UNAVAILABLE')
  async delete(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidParam) id: string,
    @Param('messageId', UuidParam) messageId: string,
  ): Promise<void> {
    await this.messages.delete(user, id, messageId);
  }

  @Post('read')
  @HttpCode(200)
  @ApiOperation({ summary: "Move the caller's read pointer (never backwards; clamped to lastSeq)" })
  @ApiOkResponse({ type: ReadStateDto })
  @ApiErrors('VALIDATION_FAILED', 'NOT_FOUND', 'PAYLOAD_TOO_LARGE', 'SERVICE_UNAVAILABLE')
  read(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidParam) id: string,
    @Body() body: ReadDto,
  ): Promise<ReadState> {
    return this.messages.markRead(user, id, body.seq);
  }
}
