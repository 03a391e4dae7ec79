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

export class OpeningRangeDto {
  @ApiProperty({ enum: DAYS })
  @IsIn(DAYS)
  day!: Day;

  @ApiProperty({ example: '09:00', description: 'HH:MM local time' })
  @IsString()
  @Matches(/^\d{2}:\d{2}$/, { message: 'open must be HH:MM' })
  open!: string;

  @ApiProperty({
    example: '17:00',
    description:
      'HH:MM local time, after open; 24:00 is the end of the day. A range never crosses midnight: split it.',
  })
  @IsString()
  @Matches(/^\d{2}:\d{2}$/, { message: 'close must be HH:MM' })
  close!: string;
}

export class BusinessPutDto {
  @ApiProperty({ example: 'Europe/Berlin', description: 'IANA time zone' })
  @IsString()
  @MaxLength(64)
  timeZone!: string;

  @ApiProperty({
    type: [OpeningRangeDto],
    description: 'weekly opening hours; several ranges a day allowed, not overlapping',
  })
  @IsArray()
  @ArrayMaxSize(70)
  @ValidateNested({ each: true })
  @Type(() => OpeningRangeDto)
  hours!: OpeningRangeDto[];
}

export class AgentPutDto {
  @ApiPropertyOptional({ default: 5, minimum: 0, maximum: 1000, description: 'max concurrent conversations' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1000)
  capacity?: number;
}

export class TransferDto {
  @ApiProperty({ example: 'agent-2' })
  @Matches(EXTERNAL_ID, { message: EXTERNAL_ID_MESSAGE })
  agentId!: string;
}

export class AgentViewDto {
  @ApiProperty() userId!: string;
  @ApiProperty() capacity!: number;
  @ApiProperty() load!: number;
  @ApiProperty({ enum: ['online', 'offline'] }) presence!: string;
}

export class BusinessViewDto {
  @ApiProperty() id!: string;
  @ApiProperty() timeZone!: string;
  @ApiProperty({ type: [OpeningRangeDto] }) hours!: OpeningRangeDto[];
  @ApiProperty() queueLength!: number;
  @ApiProperty({ type: [AgentViewDto] }) agents!: AgentViewDto[];
}
