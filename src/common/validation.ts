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

/** Keys the transformer would silently drop or turn into a prototype change instead of rejecting. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Rejects (VALIDATION_FAILED) what class-transformer cannot safely see, before it sees it: JSON
 * nested deeper than `maxDepth` (its recursion overflows the stack), objects that are not plain
 * JSON, prototype keys. Walks without recursion. `what` names the input in the messages.
 */
export function assertPlainJson(value: unknown, maxDepth: number, what: string): void {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path: '', depth: 0 }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { value: v, path, depth } = item;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= maxDepth) throw new AppError('VALIDATION_FAILED', `${what} is nested too deeply`);
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== Array.prototype && proto !== null)
      throw new AppError('VALIDATION_FAILED', `${path || what} must be plain JSON`);
    for (const key of Object.keys(v)) {
      const field = path ? `${path}.${key}` : key;
      if (FORBIDDEN_KEYS.has(key))
        throw new AppError('VALIDATION_FAILED', `property ${field} should not exist`, [
          { field, problems: [`property ${field} should not exist`] },
        ]);
      stack.push({ value: (v as Record<string, unknown>)[key], path: field, depth: depth + 1 });
    }
  }
}

/** Bodies nested thousands deep overflow class-transformer's stack (a 500): refused before it sees them. */
class BoundedValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body') assertPlainJson(value, MAX_BODY_DEPTH, 'body');
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
