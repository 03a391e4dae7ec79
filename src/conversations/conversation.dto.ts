import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsArray, IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { EXTERNAL_ID, EXTERNAL_ID_MESSAGE } from '../common/validators';
import { MessageDto } from '../messages/message.dto';

export class CreateConversationDto {
  @ApiProperty({
    enum: ['direct', 'group', 'business'],
    description:
      'direct: `participantIds` (one other user) only; group: `title` and `participantIds`; business: `businessId` only',
  })
  @IsIn(['direct', 'group', 'business'])
  type!: 'direct' | 'group' | 'business';

  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', pattern: EXTERNAL_ID.source },
    description:
      'user ids. direct: exactly one other user; group: 1–7 others (at most 8 with the creator, else 422 LIMIT_EXCEEDED)',
    example: ['u2'],
  })
  @IsOptional()
  @IsArray()
  @Matches(EXTERNAL_ID, { each: true, message: EXTERNAL_ID_MESSAGE })
  participantIds?: string[];

  @ApiPropertyOptional({
    description: 'group only (required there): 1–100 characters, no control characters, not blank',
    minLength: 1,
    maxLength: 100,
    example: 'Trip',
  })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  @Matches(/^[^\p{Cc}\p{Cs}]*$/u, { message: 'title must not contain control characters' })
  title?: string;

  @ApiPropertyOptional({
    description: 'business only (required there): an existing business, else 404 NOT_FOUND',
    pattern: EXTERNAL_ID.source,
    example: 'b1',
  })
  @IsOptional()
  @Matches(EXTERNAL_ID, { message: EXTERNAL_ID_MESSAGE })
  businessId?: string;
}

export class ListConversationsQuery {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ description: "opaque, from the previous page's nextCursor" })
  @IsOptional()
  @IsString()
  cursor?: string;
}

export class AddParticipantDto {
  @ApiProperty({ example: 'u9', pattern: EXTERNAL_ID.source })
  @Matches(EXTERNAL_ID, { message: EXTERNAL_ID_MESSAGE })
  userId!: string;

  @ApiPropertyOptional({
    enum: ['member', 'admin'],
    default: 'member',
    description: 'admin: by the owner only',
  })
  @IsOptional()
  @IsIn(['member', 'admin'])
  role?: 'member' | 'admin';
}

export class UpdateParticipantDto {
  @ApiProperty({ enum: ['member', 'admin'], description: 'not for the owner themself' })
  @IsIn(['member', 'admin'])
  role!: 'member' | 'admin';
}

export class ProfileDto {
  @ApiProperty() displayName!: string;
  @ApiProperty({ type: String, nullable: true }) avatarUrl!: string | null;
}

export class ParticipantDto {
  @ApiProperty() userId!: string;
  @ApiProperty({ enum: ['owner', 'admin', 'member', 'customer', 'agent'] }) role!: string;
  @ApiProperty({ format: 'date-time' }) joinedAt!: string;
  @ApiProperty({ type: 'integer', minimum: 0, description: 'the last seq this participant has read' })
  lastReadSeq!: number;
  @ApiProperty({
    type: ProfileDto,
    nullable: true,
    description: 'null when the profile service could not answer',
  })
  profile!: ProfileDto | null;
}

export class BusinessInfoDto {
  @ApiProperty({ example: 'b1' }) id!: string;
  @ApiProperty({
    type: ProfileDto,
    nullable: true,
    description: 'null when the profile service could not answer',
  })
  profile!: ProfileDto | null;
  @ApiProperty({ enum: ['assigned', 'queued', 'closed', 'resolved'] }) status!: string;
  @ApiProperty({ type: String, nullable: true }) assignedAgentId!: string | null;
  @ApiProperty({
    type: 'integer',
    minimum: 1,
    nullable: true,
    description: 'position in the queue (1 = next) while queued, else null',
  })
  queuePosition!: number | null;
  @ApiProperty({ enum: ['normal', 'high'] }) priority!: string;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'when a closed business opens next',
  })
  opensAt!: string | null;
}

export class ConversationDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: ['direct', 'group', 'business'] }) type!: string;
  @ApiProperty({ type: String, nullable: true, description: 'groups only, else null' }) title!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) lastActivityAt!: string;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'an extension: when a sender last deleted a message of the conversation (null: never). A delete changes neither lastSeq nor lastActivityAt; a client back from being away reads the conversations whose lastDeletedAt moved to learn what was deleted meanwhile',
  })
  lastDeletedAt!: string | null;
  @ApiProperty({ type: [ParticipantDto] }) participants!: ParticipantDto[];
  @ApiProperty({
    type: BusinessInfoDto,
    nullable: true,
    description: 'business conversations only (CONTRACT §2), else null',
  })
  business!: BusinessInfoDto | null;
  @ApiProperty({
    type: MessageDto,
    nullable: true,
    description: 'the newest message, null when there is none',
  })
  lastMessage!: MessageDto | null;
  @ApiProperty({ type: 'integer', minimum: 0, description: 'the seq of the newest message, 0 when none' })
  lastSeq!: number;
  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description: "messages after the caller's lastReadSeq, not theirs, not deleted",
  })
  unreadCount!: number;
}

export class ConversationListDto {
  @ApiProperty({ type: [ConversationDto] }) items!: ConversationDto[];
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'pass it as `cursor` for the next page; null on the last page',
  })
  nextCursor!: string | null;
}
