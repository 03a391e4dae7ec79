import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { ERROR_CODES } from './common/errors';

/** `/docs` (interactive) and `/docs/openapi.json`, generated from the controllers and DTOs. */
export function setupOpenApi(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('Chat service')
    .setDescription(
      [
        'Direct, group and business chat over REST and Socket.IO. The wire contract is CONTRACT.md; this document',
        'is generated from the code and agrees with it.',
        '',
        'Errors always have the shape `{ statusCode, code, message, requestId, details? }` with `code` one of',
        ERROR_CODES.map((c) => `\`${c}\``).join(', ') + '. Every response carries `x-request-id`.',
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
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs/openapi.json',
    yamlDocumentUrl: 'docs/openapi.yaml',
  });
}
