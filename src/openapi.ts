import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { ERROR_CODES } from './common/errors';

/** `/docs` (interactive) and `/docs/openapi.json`, generated from the controllers and DTOs. */
export function setupOpenApi(app: INestApplication): void {
  SwaggerModule.setup('docs', app, createOpenApiDocument(app), {
    jsonDocumentUrl: 'docs/openapi.json',
    yamlDocumentUrl: 'docs/openapi.yaml',
  });
}

/** The OpenAPI document of the app's controllers; the client SDK's types are generated from it. */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Chat service')
    .setDescription(
      [
        'Direct, group and business chat over REST and Socket.IO. The wire contract is CONTRACT.md; this document',
        'is generated from the code and agrees with it.',
        '',
        'Errors always have the shape `{ statusCode, code, message, requestId, details? }` with `code` one of',
        ERROR_CODES.map((c) => `\`${c}\``).join(', ') + '. Every response carries `x-request-id`.',
        '',
        'Extensions to the contract (none changes what it defines):',
        '- With tracing on (see docs/TRACING.md), every response carries a W3C `traceresponse` header',
        '  (`00-<trace-id>-<span-id>-<flags>`), and an incoming `traceparent` is honoured.',
        '- Socket.IO: a client event may carry trace context in an optional argument between the payload',
        "  and the ack: `emit(event, payload, { traceparent }, ack)`; the payload's validation is unchanged.",
        '- Socket.IO: `session:end { reason }` (`token_expired`, `rate_limited`, `server_shutdown`) comes',
        '  just before the server closes a connection; a `RATE_LIMITED` ack error carries `retryAfterS`.',
        '- `SERVICE_UNAVAILABLE` (503, or in an ack) means the message was not written: retry it with',
        '  the same `clientMessageId`.',
        "- Socket.IO: with `auth: { token, echo: false }` in the handshake, a connection's own messages sent with",
        '  an ack come back only in the ack, not again as `message:new` (default: they do, see SOCKET_ECHO).',
        '- `GET /presence` and the Socket.IO event `presence:query { userIds }` (same answer in the ack): the current',
        '  presence of contacts, for a client that (re)connects; `presence` events carry the changes after it.',
      ].join('\n'),
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .addSecurityRequirements('bearer')
    .build();
  const document = SwaggerModule.createDocument(app, config);
  document.components ??= {};
  document.components.schemas ??= {};
  document.components.schemas.Error = {
    type: 'object',
    required: ['statusCode', 'code', 'message', 'requestId'],
    additionalProperties: false,
    properties: {
      statusCode: { type: 'integer', example: 400 },
      code: { type: 'string', enum: ERROR_CODES },
      message: { type: 'string' },
      requestId: { type: 'string' },
      details: { type: 'array', items: {} },
    },
  };
  return document;
}
