import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsDefined,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateNested,
  registerDecorator,
  type ValidationOptions,
} from 'class-validator';
import { MAX_TEXT_CHARS, normalizeText } from './message-text';

const MAX_SEQ = 2 ** 31 - 1;

/** 1–4000 characters (code points) once trimmed. */
function IsMessageText(options?: ValidationOptions) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isMessageText',
      target: target.constructor,
      propertyName,
      options,
      validator: {
        validate: (value: unknown) => typeof value === 'string' && normalizeText(value).ok,
        defaultMessage: (args) => {
          const r = typeof args?.value === 'string' ? normalizeText(args.value) : undefined;
          return r && !r.ok ? r.problem : 'content.text must be a string';
        },
      },
    });
}

/** `content` of a message sent (request): unknown fields are refused. */
export class MessageContentDto {
  @ApiProperty({
    minLength: 1,
    maxLength: MAX_TEXT_CHARS,
    description: '1–4000 characters (code points) after trimming',
    example: 'hi',
  })
  @IsMessageText()
  text!: string;
}

/** `content` of a message as clients get it: the service may add fields later (CONTRACT §3). */
export class MessageContentViewDto {
  @ApiProperty({ description: 'the text, trimmed (1–4000 characters)', example: 'hi' })
  text!: string;
}

export class SendMessageDto {
  @ApiProperty({
    description:
      'A client-made id for the send: 1–64 characters from `[A-Za-z0-9._:-]` (a fresh UUID per message is ' +
      'recommended). A retry with the same one from the same sender returns the original message (200) and ' +
      'stores nothing; used by the sender for a message in another conversation, it is a 409 CONFLICT.',
    minLength: 1,
    maxLength: 64,
    pattern: '^[A-Za-z0-9._:-]{1,64}$',
    example: '0190f2a0-6f0e-7c3e-9a51-2f4f6c1d2e3f',
  })
  @IsString()
  @Matches(/^[A-Za-z0-9._:-]{1,64}$/, {
    message: 'clientMessageId must be 1-64 characters from [A-Za-z0-9._:-]',
  })
  clientMessageId!: string;

  @ApiProperty({ type: MessageContentDto })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => MessageContentDto)
  content!: MessageContentDto;
}

export class HistoryQuery {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: MAX_SEQ,
    description:
      'older history: messages with seq < before, newest first (the default, from the newest, when neither ' +
      '`before` nor `after` is given). Not with `after`.',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_SEQ)
  before?: number;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 0,
    maximum: MAX_SEQ,
    description: 'catch-up: messages with seq > after, oldest first. Not with `before`.',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(MAX_SEQ)
  after?: number;
}

export class ReadDto {
  @ApiProperty({
    type: 'integer',
    minimum: 0,
    maximum: MAX_SEQ,
    description: 'the last seq read; never moves the pointer back; clamped to lastSeq',
    example: 42,
  })
  @IsInt()
  @Min(0)
  @Max(MAX_SEQ)
  seq!: number;
}

export class MessageDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) conversationId!: string;
  @ApiProperty({
    type: 'integer',
    minimum: 1,
    description: 'assigned by the server: 1, 2, 3, … per conversation, no gaps',
  })
  seq!: number;
  @ApiProperty({ type: String, nullable: true, description: 'null for system messages' })
  senderId!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description: "the sender's clientMessageId; null for system messages",
  })
  clientMessageId!: string | null;
  @ApiProperty({ enum: ['text', 'system'] }) type!: string;
  @ApiProperty({ type: MessageContentViewDto, nullable: true, description: 'null once deleted' })
  content!: MessageContentViewDto | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) editedAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) deletedAt!: string | null;
}

export class MessageListDto {
  @ApiProperty({ type: [MessageDto] }) items!: MessageDto[];
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'the seq to pass as the next `before` (or `after`) when more messages exist, else null',
  })
  nextCursor!: string | null;
}

export class ReadStateDto {
  @ApiProperty({ type: 'integer', minimum: 0 }) lastReadSeq!: number;
  @ApiProperty({ type: 'integer', minimum: 0 }) unreadCount!: number;
}
