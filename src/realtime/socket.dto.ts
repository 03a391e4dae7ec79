import { plainToInstance } from 'class-transformer';
import { IsInt, Matches, Max, Min, validate } from 'class-validator';
import { AppError } from '../common/errors';
import { assertPlainJson, flattenValidationErrors } from '../common/validation';
import { SendMessageDto } from '../messages/message.dto';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UUID_MESSAGE = 'conversationId must be a UUID';

/** `message:send`: the REST body plus the conversation. */
export class SendMessageEvent extends SendMessageDto {
  @Matches(UUID, { message: UUID_MESSAGE })
  conversationId!: string;
}

export class ReadEvent {
  @Matches(UUID, { message: UUID_MESSAGE })
  conversationId!: string;

  @IsInt()
  @Min(0)
  @Max(2 ** 31 - 1)
  seq!: number;
}

export class TypingEvent {
  @Matches(UUID, { message: UUID_MESSAGE })
  conversationId!: string;
}

/** `presence:heartbeat` takes `{}` (or nothing). */
export class HeartbeatEvent {}

/** Deeper than any valid payload. */
const MAX_DEPTH = 8;

/** Validates a socket payload with the same rules as REST bodies (unknown fields rejected). */
export async function validatePayload<T extends object>(cls: new () => T, payload: unknown): Promise<T> {
  if (payload === undefined && cls === (HeartbeatEvent as unknown)) return new cls();
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload))
    throw new AppError('VALIDATION_FAILED', 'payload must be an object');
  assertPlainJson(payload, MAX_DEPTH, 'payload');
  // class-validator calls an object of a class without decorated properties an "unknown value".
  if (cls === (HeartbeatEvent as unknown)) {
    const [extra] = Object.keys(payload);
    if (extra === undefined) return new cls();
    throw new AppError('VALIDATION_FAILED', `property ${extra} should not exist`, [
      { field: extra, problems: [`property ${extra} should not exist`] },
    ]);
  }
  const instance = plainToInstance(cls, payload);
  const errors = await validate(instance, {
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
  });
  if (errors.length) {
    const details = flattenValidationErrors(errors);
    throw new AppError('VALIDATION_FAILED', details[0]?.problems[0] ?? 'payload is invalid', details);
  }
  return instance;
}
