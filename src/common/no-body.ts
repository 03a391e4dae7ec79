import { UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { AppError } from './errors';

/**
 * Refuses a request body on a route that takes none, as the validation pipe refuses unknown fields
 * where there is a body DTO (CONTRACT §0: unknown JSON fields are rejected with VALIDATION_FAILED).
 * No body and `{}` pass. A route guard: it runs after authentication, as a body DTO's pipe does.
 */
class NoBodyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const body: unknown = context.switchToHttp().getRequest<Request>().body;
    if (body === undefined) return true;
    if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
      const fields = Object.keys(body);
      if (!fields.length) return true;
      throw new AppError(
        'VALIDATION_FAILED',
        `property ${fields[0]} should not exist`,
        fields.map((field) => ({ field, problems: [`property ${field} should not exist`] })),
      );
    }
    throw new AppError('VALIDATION_FAILED', 'this endpoint takes no request body', [
      { field: 'body', problems: ['this endpoint takes no request body'] },
    ]);
  }
}

/** The route takes no request body: a body with fields is a VALIDATION_FAILED. */
export const TakesNoBody = () => UseGuards(NoBodyGuard);
