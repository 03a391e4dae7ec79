// The generated OpenAPI document (CONTRACT §7) lists every endpoint of CONTRACT §2–§3 with its
// parameters, request body and response schemas, and the Conversation and Message schemas carry the
// contract's fields.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getMetadataStorage } from 'class-validator';
import { AgentPutDto } from '../src/business/business.dto';
import { ListConversationsQuery } from '../src/conversations/conversation.dto';
import { HistoryQuery, ReadDto } from '../src/messages/message.dto';
import { http, testWorld } from './support/app';

type Schema = Record<string, any>;

const ENDPOINTS: {
  method: string;
  path: string;
  body?: string[];
  ok: string;
  response?: 'Conversation' | 'ConversationList' | 'Message' | 'MessageList' | 'ReadState';
  errors: string[];
  query?: string[];
}[] = [
  {
    method: 'post',
    path: '/conversations',
    body: ['type', 'participantIds', 'title', 'businessId'],
    ok: '201',
    response: 'Conversation',
    errors: ['400', '401', '422'],
  },
  {
    method: 'get',
    path: '/conversations',
    ok: '200',
    response: 'ConversationList',
    errors: ['400', '401'],
    query: ['limit', 'cursor'],
  },
  {
    method: 'get',
    path: '/conversations/{id}',
    ok: '200',
    response: 'Conversation',
    errors: ['400', '401', '404'],
  },
  {
    method: 'post',
    path: '/conversations/{id}/participants',
    body: ['userId', 'role'],
    ok: '200',
    response: 'Conversation',
    errors: ['400', '401', '403', '404', '422'],
  },
  {
    method: 'delete',
    path: '/conversations/{id}/participants/{userId}',
    ok: '204',
    errors: ['400', '401', '403', '404'],
  },
  {
    method: 'patch',
    path: '/conversations/{id}/participants/{userId}',
    body: ['role'],
    ok: '200',
    response: 'Conversation',
    errors: ['400', '401', '403', '404'],
  },
  {
    method: 'post',
    path: '/conversations/{id}/messages',
    body: ['clientMessageId', 'content'],
    ok: '201',
    response: 'Message',
    errors: ['400', '401', '404'],
  },
  {
    method: 'get',
    path: '/conversations/{id}/messages',
    ok: '200',
    response: 'MessageList',
    errors: ['400', '401', '404'],
    query: ['limit', 'before', 'after'],
  },
  {
    method: 'delete',
    path: '/conversations/{id}/messages/{messageId}',
    ok: '204',
    errors: ['400', '401', '403', '404'],
  },
  {
    method: 'post',
    path: '/conversations/{id}/read',
    body: ['seq'],
    ok: '200',
    response: 'ReadState',
    errors: ['400', '401', '404'],
  },
];

type DtoClass = abstract new (...args: never[]) => unknown;

/** The bounds class-validator enforces on a DTO property (@Min / @Max). */
function enforcedBounds(dto: DtoClass, property: string): { minimum?: number; maximum?: number } {
  const bounds: { minimum?: number; maximum?: number } = {};
  for (const m of getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false)) {
    if (m.propertyName !== property) continue;
    if (m.name === 'min') bounds.minimum = m.constraints[0];
    if (m.name === 'max') bounds.maximum = m.constraints[0];
  }
  return bounds;
}

const MESSAGE_FIELDS = [
  'id',
  'conversationId',
  'seq',
  'senderId',
  'clientMessageId',
  'type',
  'content',
  'createdAt',
  'editedAt',
  'deletedAt',
];
const CONVERSATION_FIELDS = [
  'id',
  'type',
  'title',
  'createdAt',
  'lastActivityAt',
  'participants',
  'business',
  'lastMessage',
  'lastSeq',
  'unreadCount',
];

describe('OpenAPI document', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let doc: Schema;

  /** Follows `$ref`s (and a single `allOf`, which is how nullable references are written). */
  function resolve(schema: Schema | undefined): Schema {
    assert.ok(schema, 'a schema');
    if (schema.$ref) {
      const name = String(schema.$ref).replace('#/components/schemas/', '');
      const target = doc.components?.schemas?.[name];
      assert.ok(target, `schema ${name} exists`);
      return resolve(target);
    }
    if (Array.isArray(schema.allOf) && schema.allOf.length === 1) return resolve(schema.allOf[0]);
    return schema;
  }
  const jsonSchema = (content: Schema | undefined) => resolve(content?.['application/json']?.schema);
  const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
  const operations = () =>
    Object.entries(doc.paths as Record<string, Record<string, Schema>>).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => METHODS.includes(method))
        .map(([method, op]) => ({ path, method, op, what: `${method.toUpperCase()} ${path}` })),
    );
  /** A header of a response, its `$ref` (to components.headers) followed. */
  const header = (response: Schema, name: string): Schema | undefined => {
    const h = response.headers?.[name];
    if (!h?.$ref) return h;
    return doc.components?.headers?.[String(h.$ref).replace('#/components/headers/', '')];
  };
  /** Every schema reachable from `roots`, each component once, with where it was reached from. */
  function reachable(roots: { schema: Schema; what: string }[]): { schema: Schema; what: string }[] {
    const seen = new Set<string>();
    const out: { schema: Schema; what: string }[] = [];
    const walk = (schema: Schema | undefined, what: string): void => {
      if (!schema || typeof schema !== 'object') return;
      if (schema.$ref) {
        const name = String(schema.$ref).replace('#/components/schemas/', '');
        if (seen.has(name)) return;
        seen.add(name);
        return walk(doc.components.schemas[name], name);
      }
      out.push({ schema, what });
      for (const [key, value] of Object.entries((schema.properties ?? {}) as Record<string, Schema>))
        walk(value, `${what}.${key}`);
      walk(schema.items, `${what}[]`);
      for (const s of [...(schema.allOf ?? []), ...(schema.oneOf ?? []), ...(schema.anyOf ?? [])])
        walk(s, what);
      if (typeof schema.additionalProperties === 'object') walk(schema.additionalProperties, `${what}.*`);
    };
    for (const r of roots) walk(r.schema, r.what);
    return out;
  }
  const props = (schema: Schema) => Object.keys(schema.properties ?? {});

  function assertFields(schema: Schema, fields: string[], what: string): void {
    assert.equal(schema.type, 'object', what);
    for (const f of fields) {
      assert.ok(f in (schema.properties ?? {}), `${what} has ${f}`);
      assert.ok((schema.required ?? []).includes(f), `${what}.${f} is required`);
    }
  }

  function assertMessage(schema: Schema, what: string): void {
    assertFields(schema, MESSAGE_FIELDS, what);
    assert.deepEqual([...schema.properties.type.enum].sort(), ['system', 'text'], `${what}.type`);
    assert.ok(schema.properties.senderId.nullable, `${what}.senderId nullable`);
    assert.ok(schema.properties.content.nullable, `${what}.content nullable`);
    assert.ok(schema.properties.deletedAt.nullable, `${what}.deletedAt nullable`);
    assert.ok(schema.properties.editedAt.nullable, `${what}.editedAt nullable`);
    assert.ok(['integer', 'number'].includes(schema.properties.seq.type), `${what}.seq numeric`);
    assert.ok('text' in resolve(schema.properties.content).properties, `${what}.content.text`);
  }

  function assertConversation(schema: Schema, what: string): void {
    assertFields(schema, CONVERSATION_FIELDS, what);
    assert.deepEqual(
      [...schema.properties.type.enum].sort(),
      ['business', 'direct', 'group'],
      `${what}.type`,
    );
    assert.ok(schema.properties.title.nullable, `${what}.title nullable`);
    assert.ok(schema.properties.lastMessage.nullable, `${what}.lastMessage nullable`);
    assertMessage(resolve(schema.properties.lastMessage), `${what}.lastMessage`);
    assert.equal(schema.properties.participants.type, 'array');
    const participant = resolve(schema.properties.participants.items);
    assertFields(
      participant,
      ['userId', 'role', 'joinedAt', 'lastReadSeq', 'profile'],
      `${what}.participants[]`,
    );
    for (const role of ['owner', 'admin', 'member', 'customer', 'agent'])
      assert.ok(participant.properties.role.enum.includes(role), `role ${role}`);
    assert.ok(participant.properties.profile.nullable, 'profile nullable');
    assertFields(resolve(participant.properties.profile), ['displayName', 'avatarUrl'], 'profile');
  }

  function assertList(schema: Schema, item: (s: Schema, what: string) => void, what: string): void {
    assertFields(schema, ['items', 'nextCursor'], what);
    assert.equal(schema.properties.items.type, 'array');
    assert.ok(schema.properties.nextCursor.nullable, `${what}.nextCursor nullable`);
    item(resolve(schema.properties.items.items), `${what}.items[]`);
  }

  before(async () => {
    world = await testWorld();
    const app = await world.start();
    const res = await http(app.url, 'GET', '/docs/openapi.json');
    assert.equal(res.status, 200);
    doc = res.body;
  });
  after(() => world.close());

  it('is an OpenAPI 3 document with bearer authentication', () => {
    assert.match(doc.openapi, /^3\./);
    const schemes = Object.values(doc.components?.securitySchemes ?? {}) as Schema[];
    assert.ok(schemes.some((s) => s.type === 'http' && s.scheme === 'bearer'));
    assert.ok(Array.isArray(doc.security) && doc.security.length > 0, 'bearer required by default');
  });

  for (const e of ENDPOINTS) {
    it(`${e.method.toUpperCase()} ${e.path}`, () => {
      const op = doc.paths?.[e.path]?.[e.method];
      assert.ok(op, `${e.method} ${e.path} is documented`);
      assert.ok(op.summary || op.description, 'described');

      const params: Schema[] = op.parameters ?? [];
      for (const name of e.path.match(/\{(\w+)\}/g)?.map((p) => p.slice(1, -1)) ?? []) {
        const p = params.find((x) => x.in === 'path' && x.name === name);
        assert.ok(p, `path parameter ${name}`);
        assert.equal(p.required, true);
      }
      for (const name of e.query ?? []) {
        const q = params.find((x) => x.in === 'query' && x.name === name);
        assert.ok(q, `query parameter ${name}`);
        assert.notEqual(q.required, true, `${name} optional`);
      }
      if (e.query?.includes('limit')) {
        const limit = resolve(params.find((x) => x.name === 'limit')!.schema);
        assert.equal(limit.minimum, 1);
        assert.equal(limit.maximum, 100);
      }

      if (e.body) {
        assert.ok(op.requestBody, 'request body');
        const body = jsonSchema(op.requestBody.content);
        assert.deepEqual(props(body).sort(), [...e.body].sort(), 'request body fields');
      } else assert.equal(op.requestBody, undefined);

      const ok = op.responses?.[e.ok];
      assert.ok(ok, `${e.ok} response`);
      if (e.response) {
        const schema = jsonSchema(ok.content);
        if (e.response === 'Conversation') assertConversation(schema, 'Conversation');
        if (e.response === 'Message') assertMessage(schema, 'Message');
        if (e.response === 'ConversationList') assertList(schema, assertConversation, 'ConversationList');
        if (e.response === 'MessageList') assertList(schema, assertMessage, 'MessageList');
        if (e.response === 'ReadState') assertFields(schema, ['lastReadSeq', 'unreadCount'], 'ReadState');
      } else assert.equal(ok.content, undefined, 'no body');

      for (const status of e.errors) {
        const err = op.responses?.[status];
        assert.ok(err, `${status} documented`);
        assert.equal(
          err.content?.['application/json']?.schema?.$ref,
          '#/components/schemas/Error',
          `${status} is an Error`,
        );
      }
    });
  }

  it('GET /presence (extension): a required userIds list, users with userId, status and lastSeenAt', () => {
    const op = doc.paths?.['/presence']?.get;
    assert.ok(op, 'documented');
    assert.match(op.description ?? '', /left out/);
    const userIds = (op.parameters as Schema[]).find((x) => x.in === 'query' && x.name === 'userIds');
    assert.ok(userIds, 'userIds query parameter');
    assert.equal(userIds.required, true);
    const list = resolve(jsonSchema(op.responses['200'].content));
    assertFields(list, ['users'], 'PresenceList');
    assert.equal(list.properties.users.type, 'array');
    const user = resolve(list.properties.users.items);
    assertFields(user, ['userId', 'status', 'lastSeenAt'], 'UserPresence');
    assert.deepEqual(user.properties.status.enum, ['online', 'offline']);
    assert.equal(user.properties.lastSeenAt.nullable, true);
    for (const status of ['400', '401'])
      assert.equal(
        op.responses[status]?.content?.['application/json']?.schema?.$ref,
        '#/components/schemas/Error',
      );
  });

  it('documents the idempotent retry (200) of a send and the existing direct conversation (200)', () => {
    const send = doc.paths['/conversations/{id}/messages'].post.responses['200'];
    assertMessage(jsonSchema(send.content), 'retry');
    const direct = doc.paths['/conversations'].post.responses['200'];
    assertConversation(jsonSchema(direct.content), 'existing direct');
  });

  it('has the contract’s error shape', () => {
    const error = doc.components.schemas.Error;
    assert.deepEqual([...error.required].sort(), ['code', 'message', 'requestId', 'statusCode']);
    assert.deepEqual(Object.keys(error.properties).sort(), [
      'code',
      'details',
      'message',
      'requestId',
      'statusCode',
    ]);
    assert.equal(error.additionalProperties, false);
    for (const code of [
      'VALIDATION_FAILED',
      'UNAUTHENTICATED',
      'FORBIDDEN',
      'NOT_FOUND',
      'CONFLICT',
      'PAYLOAD_TOO_LARGE',
      'LIMIT_EXCEEDED',
      'RATE_LIMITED',
      'SERVICE_UNAVAILABLE',
      'INTERNAL',
    ])
      assert.ok(error.properties.code.enum.includes(code), code);
  });

  it('describes the request bodies’ constraints', () => {
    const create = resolve(doc.paths['/conversations'].post.requestBody.content['application/json'].schema);
    assert.deepEqual([...create.properties.type.enum].sort(), ['business', 'direct', 'group']);
    assert.deepEqual(create.required, ['type']);
    const send = resolve(
      doc.paths['/conversations/{id}/messages'].post.requestBody.content['application/json'].schema,
    );
    assert.deepEqual([...send.required].sort(), ['clientMessageId', 'content']);
    const content = resolve(send.properties.content);
    assert.equal(content.properties.text.maxLength, 4000);
    assert.equal(content.properties.text.minLength, 1);
    const read = resolve(
      doc.paths['/conversations/{id}/read'].post.requestBody.content['application/json'].schema,
    );
    assert.deepEqual(read.required, ['seq']);
    const patch = resolve(
      doc.paths['/conversations/{id}/participants/{userId}'].patch.requestBody.content['application/json']
        .schema,
    );
    assert.deepEqual([...patch.properties.role.enum].sort(), ['admin', 'member']);
  });
  it('public routes (@Public) need no token: security [] overrides the document-wide bearer requirement', () => {
    assert.deepEqual(doc.security, [{ bearer: [] }]);
    const open = ['GET /health/live', 'GET /health/ready', 'GET /metrics'];
    for (const { op, what } of operations()) {
      if (open.includes(what)) assert.deepEqual(op.security, [], `${what}: security []`);
      else assert.equal(op.security, undefined, `${what} keeps the bearer requirement`);
    }
    for (const what of open)
      assert.ok(
        operations().some((o) => o.what === what),
        `${what} documented`,
      );
  });

  it('operations endpoints document their answers: health as JSON, metrics as text', () => {
    const live = doc.paths['/health/live'].get.responses['200'];
    assert.deepEqual(jsonSchema(live.content).properties.status.enum, ['ok']);
    const ready = doc.paths['/health/ready'].get.responses;
    for (const status of ['200', '503']) {
      const body = jsonSchema(ready[status].content);
      assertFields(body, ['status', 'details'], `ready ${status}`);
      assert.deepEqual([...body.properties.status.enum].sort(), ['degraded', 'error', 'ok']);
    }
    const metrics = doc.paths['/metrics'].get.responses['200'];
    assert.equal(metrics.content?.['text/plain']?.schema?.type, 'string');
  });

  it('every response declares x-request-id; 429 and 503 errors declare Retry-After in seconds', () => {
    let errors429 = 0;
    for (const { op, what } of operations()) {
      for (const [status, response] of Object.entries(op.responses as Record<string, Schema>)) {
        const id = header(response, 'x-request-id');
        assert.ok(id, `${what} ${status}: x-request-id`);
        assert.equal(id.required, true, `${what} ${status}: x-request-id always there`);
        assert.equal(id.schema?.type, 'string');
        assert.equal(id.schema?.pattern, '^[A-Za-z0-9._:-]{1,128}$');
        const isError = response.content?.['application/json']?.schema?.$ref === '#/components/schemas/Error';
        if (isError && (status === '429' || status === '503')) {
          const retry = header(response, 'Retry-After');
          assert.ok(retry, `${what} ${status}: Retry-After`);
          assert.equal(retry.schema?.type, 'integer', `${what} ${status}: Retry-After in whole seconds`);
          assert.equal(retry.schema?.minimum, 1);
        }
        if (status === '429') errors429++;
      }
      const param = (op.parameters as Schema[]).find((p) =>
        p.$ref
          ? doc.components.parameters[String(p.$ref).replace('#/components/parameters/', '')]?.name ===
            'x-request-id'
          : p.name === 'x-request-id',
      );
      assert.ok(param, `${what}: the optional x-request-id request header`);
    }
    assert.ok(errors429 >= 15, 'the guarded routes document 429');
  });

  it('documents the status codes the service answers beyond the endpoint list', () => {
    const put = doc.paths['/businesses/{id}'].put.responses;
    for (const status of ['200', '201'])
      assertFields(
        jsonSchema(put[status]?.content),
        ['id', 'timeZone', 'hours', 'queueLength', 'agents'],
        status,
      );

    const create = doc.paths['/conversations'].post;
    assert.match(`${create.summary} ${create.description}`, /business/, 'the summary names business chats');
    assert.match(create.responses['200'].description, /direct/);
    assert.match(create.responses['200'].description, /business/);
    assert.equal(
      create.responses['404']?.content?.['application/json']?.schema?.$ref,
      '#/components/schemas/Error',
    );
    assert.match(create.responses['404'].description, /business/);
  });

  it('503 SERVICE_UNAVAILABLE on every route backed by the database, the message send saying to retry', () => {
    const open = new Set(['/health/live', '/health/ready', '/metrics']);
    for (const { path, op, what } of operations()) {
      if (open.has(path)) continue;
      const unavailable = op.responses['503'];
      assert.ok(unavailable, `${what}: 503`);
      assert.equal(
        unavailable.content?.['application/json']?.schema?.$ref,
        '#/components/schemas/Error',
        what,
      );
      assert.match(unavailable.description, /SERVICE_UNAVAILABLE/, what);
    }
    const send = doc.paths['/conversations/{id}/messages'].post.responses['503'];
    assert.match(send.description, /overload/);
    assert.match(send.description, /same clientMessageId/);
  });

  it('request body schemas, nested ones included, refuse unknown fields; response schemas stay open', () => {
    const bodies = operations()
      .filter(({ op }) => op.requestBody)
      .map(({ op, what }) => ({ schema: op.requestBody.content['application/json'].schema, what }));
    assert.ok(bodies.length >= 8, 'request bodies');
    const inRequests = reachable(bodies).filter(({ schema }) => schema.properties);
    for (const { schema, what } of inRequests)
      assert.equal(schema.additionalProperties, false, `${what}: additionalProperties false`);
    const names = new Set(inRequests.map(({ what }) => what));
    for (const name of ['CreateConversationDto', 'SendMessageDto', 'MessageContentDto', 'ReadDto'])
      assert.ok(names.has(name), `${name} is a request body schema`);
    for (const name of ['AddParticipantDto', 'BusinessPutDto', 'OpeningRangeDto', 'AgentPutDto'])
      assert.ok(names.has(name), `${name} is a request body schema`);

    const responses = operations().flatMap(({ op, what }) =>
      Object.entries(op.responses as Record<string, Schema>).flatMap(([status, r]) =>
        Object.values((r.content ?? {}) as Record<string, Schema>).map((media) => ({
          schema: media.schema,
          what: `${what} ${status}`,
        })),
      ),
    );
    const inResponses = reachable(responses).filter(({ what }) => what !== 'Error');
    assert.ok(
      inResponses.some(({ what }) => what === 'MessageDto.content'),
      'message content reached',
    );
    for (const { schema, what } of inResponses)
      assert.notEqual(schema.additionalProperties, false, `${what}: responses may gain fields`);
  });

  it('integer fields are integers, with the bounds the service enforces', () => {
    // No field of this API is fractional: every number in the document is an integer.
    const everything = reachable(
      Object.keys(doc.components.schemas).map((name) => ({
        schema: { $ref: `#/components/schemas/${name}` },
        what: name,
      })),
    );
    for (const { what, schema } of everything)
      assert.notEqual(schema.type, 'number', `${what} is an integer`);
    for (const { op, what } of operations())
      for (const p of (op.parameters ?? []) as Schema[])
        assert.notEqual(p.schema?.type, 'number', `${what} ${p.name} is an integer`);

    const params = (path: string) => doc.paths[path].get.parameters as Schema[];
    const param = (path: string, name: string) => params(path).find((p) => p.name === name)!.schema;
    const expect = (schema: Schema, dto: DtoClass, property: string, what: string) => {
      assert.equal(schema.type, 'integer', what);
      const bounds = enforcedBounds(dto, property);
      assert.ok(bounds.minimum !== undefined && bounds.maximum !== undefined, `${what}: validated`);
      assert.equal(schema.minimum, bounds.minimum, `${what} minimum`);
      assert.equal(schema.maximum, bounds.maximum, `${what} maximum`);
    };
    for (const name of ['limit', 'before', 'after'])
      expect(param('/conversations/{id}/messages', name), HistoryQuery, name, `history ${name}`);
    expect(param('/conversations', 'limit'), ListConversationsQuery, 'limit', 'chat list limit');
    expect(doc.components.schemas.ReadDto.properties.seq, ReadDto, 'seq', 'ReadDto.seq');
    expect(doc.components.schemas.AgentPutDto.properties.capacity, AgentPutDto, 'capacity', 'capacity');
    assert.equal(enforcedBounds(HistoryQuery, 'before').minimum, 1);
    assert.equal(enforcedBounds(HistoryQuery, 'after').minimum, 0);

    const s = doc.components.schemas;
    for (const [schema, field] of [
      ['MessageDto', 'seq'],
      ['ConversationDto', 'lastSeq'],
      ['ConversationDto', 'unreadCount'],
      ['ParticipantDto', 'lastReadSeq'],
      ['BusinessInfoDto', 'queuePosition'],
      ['ReadStateDto', 'lastReadSeq'],
      ['ReadStateDto', 'unreadCount'],
      ['AgentViewDto', 'capacity'],
      ['AgentViewDto', 'load'],
      ['BusinessViewDto', 'queueLength'],
    ] as const)
      assert.equal(s[schema].properties[field].type, 'integer', `${schema}.${field}`);
    assert.equal(s.BusinessInfoDto.properties.queuePosition.nullable, true);
  });

  it('clientMessageId: any 1–64 characters from [A-Za-z0-9._:-], a UUID recommended', () => {
    const id = doc.components.schemas.SendMessageDto.properties.clientMessageId;
    assert.equal(id.type, 'string');
    assert.equal(id.pattern, '^[A-Za-z0-9._:-]{1,64}$');
    assert.equal(id.minLength, 1);
    assert.equal(id.maxLength, 64);
    assert.match(id.description, /1–64 characters/);
    assert.match(id.description, /UUID[^.]*recommended/);
    assert.doesNotMatch(id.description, /\(a UUID\)/);
    assert.match(id.example, /^[0-9a-f-]{36}$/);
  });

  it('path parameters say what they accept: UUIDs for conversations and messages, external ids for users', () => {
    for (const { path, op, what } of operations())
      for (const p of (op.parameters as Schema[]).filter((x) => x.in === 'path')) {
        const uuid = p.name === 'messageId' || (p.name === 'id' && path.startsWith('/conversations'));
        if (uuid) assert.equal(p.schema.format, 'uuid', `${what} ${p.name}`);
        else assert.equal(p.schema.pattern, '^[A-Za-z0-9._:-]{1,64}$', `${what} ${p.name}`);
      }
  });
});
