import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { EXTERNAL_ID, EXTERNAL_ID_MESSAGE } from '../common/validators';
import { DAYS, type Day } from './hours';

/** One opening range in a request: unknown fields are refused. */
export class OpeningRangeDto {
  @ApiProperty({ enum: DAYS })
  @IsIn(DAYS)
  day!: Day;

  @ApiProperty({ example: '09:00', description: 'HH:MM local time', pattern: '^\\d{2}:\\d{2}$' })
  @IsString()
  @Matches(/^\d{2}:\d{2}$/, { message: 'open must be HH:MM' })
  open!: string;

  @ApiProperty({
    example: '17:00',
    description:
      'HH:MM local time, after open; 24:00 is the end of the day. A range never crosses midnight: split it.',
    pattern: '^\\d{2}:\\d{2}$',
  })
  @IsString()
  @Matches(/^\d{2}:\d{2}$/, { message: 'close must be HH:MM' })
  close!: string;
}

/** One opening range as the service answers it (responses may gain fields). */
export class OpeningRangeViewDto {
  @ApiProperty({ enum: DAYS }) day!: Day;
  @ApiProperty({ example: '09:00', description: 'HH:MM local time' }) open!: string;
  @ApiProperty({ example: '17:00', description: 'HH:MM local time; 24:00 is the end of the day' })
  close!: string;
}

export class BusinessPutDto {
  @ApiProperty({ example: 'Europe/Berlin', description: 'IANA time zone', maxLength: 64 })
  @IsString()
  @MaxLength(64)
  timeZone!: string;

  @ApiProperty({
    type: [OpeningRangeDto],
    maxItems: 70,
    description: 'weekly opening hours; several ranges a day allowed, not overlapping',
  })
  @IsArray()
  @ArrayMaxSize(70)
  @ValidateNested({ each: true })
  @Type(() => OpeningRangeDto)
  hours!: OpeningRangeDto[];
}

export class AgentPutDto {
  @ApiPropertyOptional({
    type: 'integer',
    default: 5,
    minimum: 0,
    maximum: 1000,
    description: 'max concurrent conversations',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1000)
  capacity?: number;
}

export class TransferDto {
  @ApiProperty({ example: 'agent-2', pattern: EXTERNAL_ID.source, description: 'an agent of the business' })
  @Matches(EXTERNAL_ID, { message: EXTERNAL_ID_MESSAGE })
  agentId!: string;
}

export class AgentViewDto {
  @ApiProperty() userId!: string;
  @ApiProperty({ type: 'integer', minimum: 0, description: 'max concurrent conversations' })
  capacity!: number;
  @ApiProperty({ type: 'integer', minimum: 0, description: 'conversations assigned now' }) load!: number;
  @ApiProperty({ enum: ['online', 'offline'] }) presence!: string;
}

export class BusinessViewDto {
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'IANA time zone' }) timeZone!: string;
  @ApiProperty({ type: [OpeningRangeViewDto] }) hours!: OpeningRangeViewDto[];
  @ApiProperty({ type: 'integer', minimum: 0, description: 'conversations waiting in the queue' })
  queueLength!: number;
  @ApiProperty({ type: [AgentViewDto] }) agents!: AgentViewDto[];
}
