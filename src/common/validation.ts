import { ValidationPipe, type ArgumentMetadata, type ValidationError } from '@nestjs/common';
import { AppError } from './errors';

export interface FieldProblem {
  field: string;
  problems: string[];
}

/** Flattens class-validator's tree into `{ field: 'content.text', problems: [...] }` items. */
export function flattenValidationErrors(errors: ValidationError[], prefix = ''): FieldProblem[] {
  return errors.flatMap((error) => {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    const own = error.constraints ? [{ field, problems: Object.values(error.constraints) }] : [];
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}

/** Deeper than any valid request body; bounds the (recursive) transformer and validator. */
export const MAX_BODY_DEPTH = 16;

/** Throws VALIDATION_FAILED for JSON nested deeper than `maxDepth` (checked without recursion). */
export function assertMaxDepth(value: unknown, maxDepth: number): void {
  const stack: [unknown, number][] = [[value, 0]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [v, depth] = item;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= maxDepth) throw new AppError('VALIDATION_FAILED', 'body is nested too deeply');
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
}

/** Bodies nested thousands deep overflow class-transformer's stack (a 500): refused before it sees them. */
class BoundedValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body') assertMaxDepth(value, MAX_BODY_DEPTH);
    return super.transform(value, metadata);
  }
}

/** The global pipe: unknown fields rejected, types converted, errors in the contract's shape. */
export function createValidationPipe(): ValidationPipe {
  return new BoundedValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const details = flattenValidationErrors(errors);
      const first = details[0];
      const message = first ? (first.problems[0] ?? `${first.field} is invalid`) : 'Invalid request';
      return new AppError('VALIDATION_FAILED', message, details);
    },
  });
}
