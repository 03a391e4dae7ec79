import type { IncomingMessage } from 'node:http';
import type { Params } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import type { AppConfig } from '../config/env';
import { requestIdFor } from '../common/request-id';
import { logTraceFields } from './spans';
import { tracingEnabled } from './tracing';

/** Header and field paths that may carry credentials; never written to a log. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'token',
  '*.token',
];

/**
 * pino JSON logs, one object per line. Every line of a request carries its `requestId`
 * (the request-id middleware set `req.id` before the logger runs). Request bodies are never logged,
 * so message text never reaches the logs. With tracing on, every line written inside a traced
 * operation (a request, a socket event, a send) also carries its `traceId` and `spanId`.
 */
export function loggerParams(config: AppConfig, stream?: DestinationStream): Params {
  const options = {
    level: config.LOG_LEVEL,
    quietReqLogger: true,
    customAttributeKeys: { reqId: 'requestId' },
    genReqId: (req: IncomingMessage) =>
      (req as IncomingMessage & { id?: string }).id ?? requestIdFor(req.headers['x-request-id']),
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    customLogLevel: (_req: IncomingMessage, res: { statusCode: number }, err?: Error) =>
      err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
    autoLogging: { ignore: (req: IncomingMessage) => req.url === '/health/live' || req.url === '/metrics' },
    ...(tracingEnabled() && { mixin: logTraceFields }),
  } as const;
  return { pinoHttp: stream ? [options, stream] : options, renameContext: 'context' } as Params;
}
