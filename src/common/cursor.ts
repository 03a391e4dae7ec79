import { AppError } from './errors';

/** Opaque cursors: base64url JSON arrays. A cursor that does not decode to the expected shape is a 400. */
export function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts), 'utf8').toString('base64url');
}

export function decodeCursor<T extends (string | number)[]>(
  cursor: string,
  check: (parts: unknown[]) => parts is T,
): T {
  const bad = () =>
    new AppError('VALIDATION_FAILED', 'cursor is malformed', [
      { field: 'cursor', problems: ['malformed cursor'] },
    ]);
  if (cursor.length > 512 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(parsed) || !check(parsed)) throw bad();
  return parsed;
}
