// The generated OpenAPI document (CONTRACT §7) lists every endpoint of CONTRACT §2–§3 with its
// parameters, request body and response schemas, and the Conversation and Message schemas carry the
// contract's fields.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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
});
