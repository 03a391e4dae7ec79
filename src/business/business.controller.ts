import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Res } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentUser, Roles } from '../auth/auth.guard';
import type { AuthUser } from '../auth/token-verifier';
import { ApiErrors, ApiExternalIdParam, ApiUuidParam } from '../common/api-errors';
import { AppError } from '../common/errors';
import { EXTERNAL_ID, UuidParam } from '../common/validators';
import { ConversationDto } from '../conversations/conversation.dto';
import { ConversationService } from '../conversations/conversation.service';
import type { Conversation } from '../conversations/conversation.types';
import { AgentPutDto, BusinessPutDto, BusinessViewDto, TransferDto } from './business.dto';
import { BusinessService, type BusinessView } from './business.service';
import { TakesNoBody } from '../common/no-body';

function externalId(value: string, field: string): string {
  if (!EXTERNAL_ID.test(value))
    throw new AppError('VALIDATION_FAILED', `${field} must be 1-64 characters from [A-Za-z0-9._:-]`, [
      { field, problems: ['invalid id'] },
    ]);
  return value;
}

@ApiTags('business administration')
@ApiExternalIdParam('id', 'the business id', 'b1')
@Roles('admin')
@Controller('businesses/:id')
export class BusinessController {
  constructor(private readonly business: BusinessService) {}

  @Put()
  @ApiOperation({ summary: 'Create or update a business: time zone and weekly opening hours (admin)' })
  @ApiCreatedResponse({ type: BusinessViewDto, description: 'created' })
  @ApiOkResponse({ type: BusinessViewDto, description: 'updated' })
  @ApiErrors(
    'VALIDATION_FAILED',
    { code: 'FORBIDDEN', description: 'FORBIDDEN: the token has no admin role' },
    'PAYLOAD_TOO_LARGE',
    'SERVICE_UNAVAILABLE',
  )
  async put(
    @Param('id') id: string,
    @Body() body: BusinessPutDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<BusinessView> {
    const { view, created } = await this.business.put(externalId(id, 'id'), body);
    res.status(created ? 201 : 200);
    return view;
  }

  @Get()
  @ApiOperation({ summary: "A business with its queue length and each agent's load and presence (admin)" })
  @ApiOkResponse({ type: BusinessViewDto })
  @ApiErrors(
    'VALIDATION_FAILED',
    { code: 'FORBIDDEN', description: 'FORBIDDEN: the token has no admin role' },
    'NOT_FOUND',
    'SERVICE_UNAVAILABLE',
  )
  get(@Param('id') id: string): Promise<BusinessView> {
    return this.business.get(externalId(id, 'id'));
  }

  @Put('agents/:userId')
  @ApiOperation({ summary: 'Add an agent or change their capacity (default 5) (admin)' })
  @ApiExternalIdParam('userId', 'the agent')
  @ApiOkResponse({ type: BusinessViewDto })
  @ApiErrors(
    'VALIDATION_FAILED',
    { code: 'FORBIDDEN', description: 'FORBIDDEN: the token has no admin role' },
    { code: 'NOT_FOUND', description: 'NOT_FOUND: no such business' },
    'PAYLOAD_TOO_LARGE',
    'SERVICE_UNAVAILABLE',
  )
  putAgent(
    @Param('id') id: string,
    @Param('userId') userId: string,
    @Body() body: AgentPutDto,
  ): Promise<BusinessView> {
    return this.business.putAgent(externalId(id, 'id'), externalId(userId, 'userId'), body);
  }

  @Delete('agents/:userId')
  @TakesNoBody()
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove an agent; their conversations are re-queued ahead of newer ones (admin)' })
  @ApiExternalIdParam('userId', 'the agent')
  @ApiNoContentResponse({ description: 'removed' })
  @ApiErrors(
    'VALIDATION_FAILED',
    { code: 'FORBIDDEN', description: 'FORBIDDEN: the token has no admin role' },
    { code: 'NOT_FOUND', description: 'NOT_FOUND: no such business, or the user is not its agent' },
    'SERVICE_UNAVAILABLE',
  )
  async removeAgent(@Param('id') id: string, @Param('userId') userId: string): Promise<void> {
    await this.business.removeAgent(externalId(id, 'id'), externalId(userId, 'userId'));
  }
}

@ApiTags('business conversations')
@ApiUuidParam('id', 'the business conversation')
@Controller('conversations/:id')
export class BusinessConversationController {
  constructor(
    private readonly business: BusinessService,
    private readonly conversations: ConversationService,
  ) {}

  @Post('resolve')
  @TakesNoBody()
  @HttpCode(200)
  @ApiOperation({ summary: "Resolve (the assigned agent, or an admin); frees the agent's capacity" })
  @ApiOkResponse({ type: ConversationDto, description: 'the conversation after the change' })
  @ApiErrors(
    'VALIDATION_FAILED',
    'FORBIDDEN',
    'NOT_FOUND',
    { code: 'CONFLICT', description: 'CONFLICT: the conversation is not assigned' },
    'SERVICE_UNAVAILABLE',
  )
  async resolve(@CurrentUser() user: AuthUser, @Param('id', UuidParam) id: string): Promise<Conversation> {
    const { customerId } = await this.business.resolve(user, id);
    return this.view(user, id, customerId);
  }

  @Post('escalate')
  @TakesNoBody()
  @HttpCode(200)
  @ApiOperation({ summary: 'Escalate to priority high (an agent of the business, or an admin)' })
  @ApiOkResponse({ type: ConversationDto })
  @ApiErrors('VALIDATION_FAILED', 'FORBIDDEN', 'NOT_FOUND', 'SERVICE_UNAVAILABLE')
  async escalate(@CurrentUser() user: AuthUser, @Param('id', UuidParam) id: string): Promise<Conversation> {
    const { customerId } = await this.business.escalate(user, id);
    return this.view(user, id, customerId);
  }

  @Post('transfer')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Transfer to another agent of the business with free capacity (an agent, or an admin)',
  })
  @ApiOkResponse({ type: ConversationDto })
  @ApiErrors(
    'VALIDATION_FAILED',
    'FORBIDDEN',
    'NOT_FOUND',
    {
      code: 'CONFLICT',
      description: 'CONFLICT: that agent has no free capacity, or the conversation is resolved',
    },
    'PAYLOAD_TOO_LARGE',
    'SERVICE_UNAVAILABLE',
  )
  async transfer(
    @CurrentUser() user: AuthUser,
    @Param('id', UuidParam) id: string,
    @Body() body: TransferDto,
  ): Promise<Conversation> {
    const { customerId } = await this.business.transfer(user, id, body.agentId);
    return this.view(user, id, customerId);
  }

  /**
   * The conversation after the change, as the caller sees it; an admin or agent who is not (or no
   * longer) in it sees the customer's view without an unread count of their own.
   */
  private async view(user: AuthUser, id: string, customerId: string): Promise<Conversation> {
    try {
      return await this.conversations.getFor(user.id, id);
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'NOT_FOUND') throw err;
      return { ...(await this.conversations.getFor(customerId, id)), unreadCount: 0 };
    }
  }
}
