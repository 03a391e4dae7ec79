import { ParseUUIDPipe, type PipeTransform } from '@nestjs/common';
import { AppError } from './errors';

/** User and business ids: 1–64 characters from [A-Za-z0-9._:-] (CONTRACT §0). */
export const EXTERNAL_ID = /^[A-Za-z0-9._:-]{1,64}$/;
export const EXTERNAL_ID_MESSAGE = '$property must be 1-64 characters from [A-Za-z0-9._:-]';

/** `:id` path parameters that must be UUIDs; anything else is a VALIDATION_FAILED. */
export const UuidParam = new ParseUUIDPipe({
  exceptionFactory: () =>
    new AppError('VALIDATION_FAILED', 'id must be a UUID', [{ field: 'id', problems: ['must be a UUID'] }]),
});

/** `:userId` path parameters: a malformed user id is a VALIDATION_FAILED, like a malformed UUID. */
export const ExternalIdParam: PipeTransform<string, string> = {
  transform(value: string): string {
    if (typeof value === 'string' && EXTERNAL_ID.test(value)) return value;
    throw new AppError('VALIDATION_FAILED', 'userId must be 1-64 characters from [A-Za-z0-9._:-]', [
      { field: 'userId', problems: ['must be 1-64 characters from [A-Za-z0-9._:-]'] },
    ]);
  },
};
