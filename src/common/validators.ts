import { ParseUUIDPipe } from '@nestjs/common';
import { AppError } from './errors';

/** User and business ids: 1–64 characters from [A-Za-z0-9._:-] (CONTRACT §0). */
export const EXTERNAL_ID = /^[A-Za-z0-9._:-]{1,64}$/;
export const EXTERNAL_ID_MESSAGE = '$property must be 1-64 characters from [A-Za-z0-9._:-]';

/** `:id` path parameters that must be UUIDs; anything else is a VALIDATION_FAILED. */
export const UuidParam = new ParseUUIDPipe({
  exceptionFactory: () =>
    new AppError('VALIDATION_FAILED', 'id must be a UUID', [{ field: 'id', problems: ['must be a UUID'] }]),
});
