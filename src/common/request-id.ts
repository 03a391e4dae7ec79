import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Echoes a valid incoming `x-request-id`, or makes one (CONTRACT §0). */
export function requestIdFor(incoming: unknown): string {
  return typeof incoming === 'string' && VALID_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * The first middleware of the app, ahead of the body parser, so that every response, errors
 * of the parser included, carries the id, and the logger reuses it.
 */
export function requestIdMiddleware(req: Request, res: Response, next: NextFunction): void {
  const id = requestIdFor(req.headers['x-request-id']);
  (req as Request & { id: string }).id = id;
  res.setHeader('x-request-id', id);
  next();
}
