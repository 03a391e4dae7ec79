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

export class MessageContentDto {
  @ApiProperty({ minLength: 1, maxLength: MAX_TEXT_CHARS, description: '1–4000 characters after trimming' })
  @IsMessageText()
  text!: string;
}

export class SendMessageDto {
  @ApiProperty({
    description: 'client-made id (a UUID); a retry with the same one returns the original',
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
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ description: 'older history: messages with seq < before, newest first' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_SEQ)
  before?: number;

  @ApiPropertyOptional({ description: 'catch-up: messages with seq > after, oldest first' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(MAX_SEQ)
  after?: number;
}

export class ReadDto {
  @ApiProperty({
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
  @ApiProperty() seq!: number;
  @ApiProperty({ type: String, nullable: true }) senderId!: string | null;
  @ApiProperty({ type: String, nullable: true }) clientMessageId!: string | null;
  @ApiProperty({ enum: ['text', 'system'] }) type!: string;
  @ApiProperty({ type: MessageContentDto, nullable: true, description: 'null once deleted' })
  content!: MessageContentDto | null;
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
  @ApiProperty() lastReadSeq!: number;
  @ApiProperty() unreadCount!: number;
}
