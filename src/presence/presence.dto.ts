import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsString, Matches } from 'class-validator';
import { EXTERNAL_ID } from '../common/validators';

/** The most users one presence query may name. */
export const PRESENCE_QUERY_MAX = 100;

/** `userIds` as one comma-separated parameter (`?userIds=a,b`) or repeated (`?userIds=a&userIds=b`). */
const commaList = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string'
    ? value.split(',')
    : Array.isArray(value) && value.every((v) => typeof v === 'string')
      ? value.flatMap((v: string) => v.split(','))
      : value;

/** `userIds`: 1–PRESENCE_QUERY_MAX user ids (`shape` says what the list must be, for the error). */
function UserIdList(shape: string): PropertyDecorator {
  return applyDecorators(
    IsArray({ message: `userIds must be ${shape}` }),
    ArrayMinSize(1, { message: 'userIds must name at least one user' }),
    ArrayMaxSize(PRESENCE_QUERY_MAX, { message: `userIds must name at most ${PRESENCE_QUERY_MAX} users` }),
    IsString({ each: true }),
    Matches(EXTERNAL_ID, {
      each: true,
      message: 'each of userIds must be 1-64 characters from [A-Za-z0-9._:-]',
    }),
  );
}

export class PresenceQuery {
  @ApiProperty({
    type: String,
    description: `comma-separated user ids, 1–${PRESENCE_QUERY_MAX}`,
    example: 'u2,u3',
  })
  @Transform(commaList)
  @UserIdList('a comma-separated list of user ids')
  userIds!: string[];
}

/** `presence:query` over the socket: the same list, as a JSON array. */
export class PresenceQueryEvent {
  @UserIdList('an array of user ids')
  userIds!: string[];
}

export class UserPresenceDto {
  @ApiProperty({ example: 'u2' }) userId!: string;
  @ApiProperty({ enum: ['online', 'offline'] }) status!: 'online' | 'offline';
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'when the status last changed (as in the `presence` event); null when not known (never connected, or not in the last 30 days)',
  })
  lastSeenAt!: string | null;
}

export class PresenceListDto {
  @ApiProperty({
    type: [UserPresenceDto],
    description:
      'in the order asked, each user once; users who share no conversation with the caller, and the caller, are left out',
  })
  users!: UserPresenceDto[];
}
