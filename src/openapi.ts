import type { INestApplication, Type } from '@nestjs/common';
import { ModulesContainer, Reflector } from '@nestjs/core';
import {
  DocumentBuilder,
  SwaggerModule,
  type OpenAPIObject,
  type OperationObject,
  type ReferenceObject,
  type SchemaObject,
} from '@nestjs/swagger';
import { Public } from './auth/auth.guard';
import { REQUEST_ID_PARAMETER, RESPONSE_HEADERS } from './common/api-errors';
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
        ERROR_CODES.map((c) => `\`${c}\``).join(', ') + '. Every response carries `x-request-id`;',
        '429 and 503 answers carry `Retry-After` (seconds). Request bodies with unknown fields are refused',
        '(400 `VALIDATION_FAILED`), so their schemas say `additionalProperties: false`; response schemas may gain',
        'fields (clients ignore what they do not know). `/health/*` and `/metrics` need no token.',
        '',
        'Extensions to the contract (none changes what it defines):',
        '- With tracing on (see docs/TRACING.md), every response carries a W3C `traceresponse` header',
        '  (`00-<trace-id>-<span-id>-<flags>`), and an incoming `traceparent` is honoured.',
        '- Socket.IO: a client event may carry trace context in an optional argument between the payload',
        "  and the ack: `emit(event, payload, { traceparent }, ack)`; the payload's validation is unchanged.",
        '- Socket.IO: `session:end { reason }` (`token_expired`, `rate_limited`, `server_shutdown`) comes',
        '  just before the server closes a connection; a `RATE_LIMITED` ack error carries `retryAfterS`.',
        '- `SERVICE_UNAVAILABLE` (503, or in an ack) to a message send means the message was not written: retry',
        '  it with the same `clientMessageId`.',
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
  const document = SwaggerModule.createDocument(app, config, {
    // Pinned (it is the default): publicOperationIds finds operations by it.
    operationIdFactory: (controllerKey, methodKey) => `${controllerKey}_${methodKey}`,
  });
  document.components ??= {};
  document.components.schemas ??= {};
  document.components.headers = { ...document.components.headers, ...RESPONSE_HEADERS };
  document.components.parameters = { ...document.components.parameters, RequestId: REQUEST_ID_PARAMETER };
  document.components.schemas.Error = {
    type: 'object',
    required: ['statusCode', 'code', 'message', 'requestId'],
    additionalProperties: false,
    properties: {
      statusCode: { type: 'integer', example: 400 },
      code: { type: 'string', enum: ERROR_CODES },
      message: { type: 'string' },
      requestId: { type: 'string', description: 'the same as the `x-request-id` response header' },
      details: { type: 'array', items: {} },
    },
  };
  const open = publicOperationIds(app);
  for (const operation of operations(document)) {
    // @Public() routes override the document-wide bearer requirement.
    if (operation.operationId && open.has(operation.operationId)) operation.security = [];
    operation.parameters = [...(operation.parameters ?? []), { $ref: '#/components/parameters/RequestId' }];
    for (const response of Object.values(operation.responses ?? {})) {
      if (!response || '$ref' in response) continue;
      response.headers = {
        'x-request-id': { $ref: '#/components/headers/RequestId' },
        ...response.headers,
      };
    }
  }
  closeRequestBodySchemas(document);
  return document;
}

function operations(document: OpenAPIObject): OperationObject[] {
  const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
  return Object.values(document.paths).flatMap((item) =>
    methods.flatMap((method) => (item[method] ? [item[method]] : [])),
  );
}

/** The operationIds (`Controller_method`) of the routes marked @Public(). */
function publicOperationIds(app: INestApplication): Set<string> {
  const reflector = new Reflector();
  const key = Public().KEY;
  const ids = new Set<string>();
  for (const module of app.get(ModulesContainer, { strict: false }).values())
    for (const { metatype } of module.controllers.values()) {
      const controller = metatype as Type | null;
      if (!controller?.prototype) continue;
      for (const name of Object.getOwnPropertyNames(controller.prototype)) {
        const handler: unknown = Object.getOwnPropertyDescriptor(controller.prototype, name)?.value;
        if (name === 'constructor' || typeof handler !== 'function') continue;
        if (reflector.getAllAndOverride<boolean>(key, [handler, controller]))
          ids.add(`${controller.name}_${name}`);
      }
    }
  return ids;
}

/**
 * The validation pipe refuses unknown fields in request bodies, nested objects included (CONTRACT §0):
 * every object schema a request body reaches says `additionalProperties: false`. Response schemas stay
 * open (the service may add fields), so a schema may not serve both: responses use their own classes.
 */
function closeRequestBodySchemas(document: OpenAPIObject): void {
  const schemas = document.components?.schemas ?? {};
  const seen = new Set<string>();
  const visit = (schema: SchemaObject | ReferenceObject | undefined): void => {
    if (!schema) return;
    if ('$ref' in schema) {
      const name = schema.$ref.replace('#/components/schemas/', '');
      if (seen.has(name)) return;
      seen.add(name);
      return visit(schemas[name]);
    }
    if (schema.properties) {
      schema.additionalProperties ??= false;
      Object.values(schema.properties).forEach(visit);
    }
    visit(schema.items);
    [...(schema.allOf ?? []), ...(schema.oneOf ?? []), ...(schema.anyOf ?? [])].forEach(visit);
  };
  for (const operation of operations(document)) {
    const body = operation.requestBody;
    if (!body || '$ref' in body) continue;
    for (const media of Object.values(body.content)) visit(media.schema);
  }
}
