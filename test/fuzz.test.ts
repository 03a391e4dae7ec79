// Input fuzzing (fast-check) of every REST body, path id, query and cursor, and of every socket
// event payload: generated junk, near-valid shapes with one field wrong, SQL-looking and oversized
// ids and cursors, deep nesting. Never a 5xx / INTERNAL, every error in the contract's shape, and
// no connected client (the fuzzing one included: its frames stay under 64 KB) is disconnected.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Socket } from 'socket.io-client';
import { ERROR_STATUS } from '../src/common/errors';
import { connectSocket, emitAck, http, nextEvent, testWorld, token, type TestApp } from './support/app';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);

const SQLISH = [
  "' OR '1'='1",
  '1; DROP TABLE messages; --',
  "00000000-0000-0000-0000-000000000000' OR 1=1 --",
  "') UNION SELECT id, content FROM messages --",
  '$1',
  '%',
  '_',
  '\\',
  '\u0000',
  '%00',
  '../../etc/passwd',
  'NaN',
  '-1',
  '1e309',
  '99999999999999999999999',
  '0x7fffffff',
  'null',
  '{"seq":1}',
  'eyJzZXEiOjF9', // base64 of {"seq":1}
  'eyJzZXEiOiInIE9SIDE9MSAtLSJ9', // base64 of {"seq":"' OR 1=1 --"}
  '__proto__',
  'constructor',
];

/** Ids: valid-looking, SQL-looking, unicode, empty, oversized. */
const idish = fc.oneof(
  fc.uuid(),
  fc.constantFrom(...SQLISH),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ minLength: 65, maxLength: 3000 }),
  fc.stringMatching(/^[A-Za-z0-9._:-]{1,70}$/),
);
const numberish = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 2 ** 31, 2 ** 53, Number.MAX_SAFE_INTEGER + 2, 1e308),
  fc.constantFrom(...SQLISH),
  fc.string({ maxLength: 30 }),
);
const junk = fc.anything({ maxDepth: 3, maxKeys: 6, withNullPrototype: true, withBigInt: false });
/** A value for a field: usually of a plausible kind, sometimes anything. */
const field = fc.oneof(idish, numberish, junk, fc.constant(undefined));
const text = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ minLength: 3990, maxLength: 4100 }),
  fc.constantFrom('', '   ', '\u0000', '\ud800', 'a\u0000b', ...SQLISH),
  junk,
);
/** A record that is almost right: the expected keys with fuzzed values, sometimes extra keys. */
const shaped = (fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc.oneof(
    fc.record(fields, { requiredKeys: [] }),
    fc
      .tuple(
        fc.record(fields, { requiredKeys: [] }),
        fc.dictionary(fc.string({ maxLength: 10 }), junk, { maxKeys: 2 }),
      )
      .map(([a, b]) => ({ ...b, ...a })),
    junk,
  );

const ALL_DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const hours = fc.oneof(
  fc.array(
    fc.record(
      {
        day: fc.oneof(fc.constantFrom(...ALL_DAYS), field),
        open: fc.oneof(fc.constantFrom('00:00', '09:00', '24:00', '25:00', '9:0', '23:59'), field),
        close: fc.oneof(fc.constantFrom('00:00', '17:00', '24:00', '99:99'), field),
      },
      { requiredKeys: [] },
    ),
    { maxLength: 20 },
  ),
  junk,
);

/** Deeply nested and otherwise hostile raw bodies, sent to every endpoint that takes a body. */
const RAW_BODIES = [
  '['.repeat(20_000) + ']'.repeat(20_000),
  '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000),
  '{"content":' + '{"text":'.repeat(5000) + '"x"' + '}'.repeat(5000) + '}',
  '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}',
  '{"seq":1e999}',
  '"just a string"',
  'null',
  '[]',
  '{"a":1,"a":2}',
  '\u0000',
  '{',
];

describe('input fuzzing (fast-check)', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  const tag = randomBytes(3).toString('hex');
  const alice = `alice.${tag}`;
  const bob = `bob.${tag}`;
  const carol = `carol.${tag}`;
  const root = `root.${tag}`;
  let direct: string;
  let group: string;
  let messageId: string;
  let aliceToken: string;
  let adminToken: string;
  let fuzzer: Socket;
  let bystander: Socket;
  const drops: string[] = [];
  let tried = 0;
  const statuses = new Map<number, number>();

  before(async () => {
    world = await testWorld();
    app = await world.start({ LOG_LEVEL: 'warn' });
    aliceToken = await token(alice);
    adminToken = await token(root, { admin: true });
    const d = await http(app.url, 'POST', '/conversations', {
      token: aliceToken,
      body: { type: 'direct', participantIds: [bob] },
    });
    direct = d.body.id;
    const g = await http(app.url, 'POST', '/conversations', {
      token: aliceToken,
      body: { type: 'group', title: 'fuzz', participantIds: [bob, carol] },
    });
    group = g.body.id;
    const m = await http(app.url, 'POST', `/conversations/${group}/messages`, {
      token: aliceToken,
      body: { clientMessageId: randomUUID(), content: { text: 'seed' } },
    });
    messageId = m.body.id;
    fuzzer = await connectSocket(app.url, aliceToken);
    bystander = await connectSocket(app.url, await token(carol));
    fuzzer.on('disconnect', (r) => drops.push(`fuzzer: ${r}`));
    bystander.on('disconnect', (r) => drops.push(`bystander: ${r}`));
  });
  after(async () => {
    fuzzer?.close();
    bystander?.close();
    await world.close();
  });

  const convId = () => fc.oneof(fc.constant(direct), fc.constant(group), idish);
  const seg = (v: unknown) => encodeURIComponent(String(v));

  /** The checks on every REST answer. */
  function check(where: string, res: { status: number; body: any }) {
    tried++;
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    assert.ok(res.status < 500, `${where}: ${res.status} ${JSON.stringify(res.body)}`);
    if (res.status >= 400 && res.status !== 431) {
      assert.equal(typeof res.body, 'object', `${where}: not a JSON error body`);
      assert.deepEqual(
        Object.keys(res.body)
          .filter((k) => k !== 'details')
          .sort(),
        ['code', 'message', 'requestId', 'statusCode'],
        where,
      );
      assert.equal(
        ERROR_STATUS[res.body.code as keyof typeof ERROR_STATUS],
        res.status,
        `${where}: code/status`,
      );
    }
  }

  const rest = (method: string, path: string, body: unknown, tok = aliceToken) =>
    http(app.url, method, path, body === undefined ? { token: tok } : { token: tok, body });

  const endpoints: { name: string; arb: () => fc.Arbitrary<[string, string, unknown, string?]> }[] = [
    {
      name: 'POST /conversations',
      arb: () =>
        shaped({
          type: fc.oneof(fc.constantFrom('direct', 'group', 'business'), field),
          participantIds: fc.oneof(fc.array(idish, { maxLength: 12 }), field),
          title: fc.oneof(text, field),
          businessId: idish,
        }).map((b) => ['POST', '/conversations', b]),
    },
    {
      name: 'GET /conversations',
      arb: () =>
        fc
          .record(
            { limit: numberish, cursor: fc.oneof(idish, fc.string({ minLength: 500, maxLength: 5000 })) },
            { requiredKeys: [] },
          )
          .map((q) => [
            'GET',
            `/conversations?${new URLSearchParams(q as Record<string, string>)}`,
            undefined,
          ]),
    },
    {
      name: 'GET /conversations/:id',
      arb: () => convId().map((id) => ['GET', `/conversations/${seg(id)}`, undefined]),
    },
    {
      name: 'POST /conversations/:id/participants',
      arb: () =>
        fc
          .tuple(
            convId(),
            shaped({
              userId: idish,
              role: fc.oneof(fc.constantFrom('member', 'admin', 'owner', 'agent'), field),
            }),
          )
          .map(([id, b]) => ['POST', `/conversations/${seg(id)}/participants`, b]),
    },
    {
      name: 'DELETE /conversations/:id/participants/:userId',
      // Never the fixture's own members (that would change the fixture, not probe it).
      arb: () =>
        fc
          .tuple(
            convId(),
            idish.filter((u) => ![alice, bob, carol].includes(u)),
          )
          .map(([id, u]) => ['DELETE', `/conversations/${seg(id)}/participants/${seg(u)}`, undefined]),
    },
    {
      name: 'PATCH /conversations/:id/participants/:userId',
      arb: () =>
        fc
          .tuple(
            convId(),
            fc.oneof(fc.constant(bob), idish),
            shaped({ role: fc.oneof(fc.constantFrom('member', 'admin', 'owner'), field) }),
          )
          .map(([id, u, b]) => ['PATCH', `/conversations/${seg(id)}/participants/${seg(u)}`, b]),
    },
    {
      name: 'POST /conversations/:id/messages',
      arb: () =>
        fc
          .tuple(
            convId(),
            shaped({
              clientMessageId: fc.oneof(fc.uuid(), idish),
              content: fc.oneof(shaped({ text, format: field }), field),
            }),
          )
          .map(([id, b]) => ['POST', `/conversations/${seg(id)}/messages`, b]),
    },
    {
      name: 'GET /conversations/:id/messages',
      arb: () =>
        fc
          .tuple(
            convId(),
            fc.record(
              { limit: numberish, before: numberish, after: numberish, cursor: idish },
              { requiredKeys: [] },
            ),
          )
          .map(([id, q]) => [
            'GET',
            `/conversations/${seg(id)}/messages?${new URLSearchParams(q as Record<string, string>)}`,
            undefined,
          ]),
    },
    {
      name: 'DELETE /conversations/:id/messages/:messageId',
      arb: () =>
        fc
          .tuple(
            convId(),
            idish.filter((m) => m !== messageId),
          )
          .map(([id, m]) => ['DELETE', `/conversations/${seg(id)}/messages/${seg(m)}`, undefined]),
    },
    {
      name: 'POST /conversations/:id/read',
      arb: () =>
        fc
          .tuple(convId(), shaped({ seq: numberish }))
          .map(([id, b]) => ['POST', `/conversations/${seg(id)}/read`, b]),
    },
    {
      name: 'POST /conversations/:id/{resolve,escalate,transfer}',
      arb: () =>
        fc
          .tuple(
            convId(),
            fc.constantFrom('resolve', 'escalate', 'transfer'),
            shaped({ agentId: idish }),
            fc.boolean(),
          )
          .map(([id, action, b, asAdmin]) => [
            'POST',
            `/conversations/${seg(id)}/${action}`,
            action === 'transfer' ? b : undefined,
            asAdmin ? 'admin' : undefined,
          ]),
    },
    {
      name: 'PUT /businesses/:id',
      arb: () =>
        fc
          .tuple(
            idish,
            shaped({
              timeZone: fc.oneof(fc.constantFrom('UTC', 'Europe/Berlin', 'Mars/Olympus', ''), field),
              hours,
            }),
          )
          .map(([id, b]) => ['PUT', `/businesses/${seg(id)}`, b, 'admin']),
    },
    {
      name: 'GET /businesses/:id',
      arb: () => idish.map((id) => ['GET', `/businesses/${seg(id)}`, undefined, 'admin']),
    },
    {
      name: 'PUT|DELETE /businesses/:id/agents/:userId',
      arb: () =>
        fc
          .tuple(idish, idish, shaped({ capacity: numberish }), fc.boolean())
          .map(([b, u, body, del]) =>
            del
              ? ['DELETE', `/businesses/${seg(b)}/agents/${seg(u)}`, undefined, 'admin']
              : ['PUT', `/businesses/${seg(b)}/agents/${seg(u)}`, body, 'admin'],
          ),
    },
  ];

  for (const endpoint of endpoints) {
    it(`REST ${endpoint.name}: ${RUNS} generated inputs, never a 5xx`, async () => {
      await fc.assert(
        fc.asyncProperty(endpoint.arb(), async ([method, path, body, who]) => {
          const res = await rest(method, path, body, who === 'admin' ? adminToken : aliceToken);
          check(`${method} ${path.slice(0, 200)} ${JSON.stringify(body)?.slice(0, 300)}`, res);
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('REST: hostile raw bodies (deep nesting, prototype keys, not JSON) on every endpoint that takes one', async () => {
    const targets: [string, string, string][] = [
      ['POST', '/conversations', aliceToken],
      ['POST', `/conversations/${group}/participants`, aliceToken],
      ['PATCH', `/conversations/${group}/participants/${bob}`, aliceToken],
      ['POST', `/conversations/${direct}/messages`, aliceToken],
      ['POST', `/conversations/${direct}/read`, aliceToken],
      ['POST', `/conversations/${direct}/transfer`, adminToken],
      ['PUT', `/businesses/fuzz.${tag}`, adminToken],
      ['PUT', `/businesses/fuzz.${tag}/agents/${bob}`, adminToken],
    ];
    for (const [method, path, tok] of targets)
      for (const raw of RAW_BODIES) {
        const res = await http(app.url, method, path, { token: tok, rawBody: raw });
        check(`${method} ${path} raw ${raw.slice(0, 40)}`, res);
        assert.notEqual(res.status, 200, `${method} ${path} accepted ${raw.slice(0, 40)}`);
        assert.notEqual(res.status, 201, `${method} ${path} accepted ${raw.slice(0, 40)}`);
      }
  });

  const EVENTS: { event: string; arb: () => fc.Arbitrary<unknown> }[] = [
    {
      event: 'message:send',
      arb: () =>
        shaped({
          conversationId: convId(),
          clientMessageId: fc.oneof(fc.uuid(), idish),
          content: fc.oneof(shaped({ text }), field),
        }),
    },
    { event: 'conversation:read', arb: () => shaped({ conversationId: convId(), seq: numberish }) },
    { event: 'typing:start', arb: () => shaped({ conversationId: convId() }) },
    { event: 'typing:stop', arb: () => shaped({ conversationId: convId() }) },
    { event: 'presence:heartbeat', arb: () => fc.oneof(shaped({ at: field }), junk) },
    {
      event: 'presence:query',
      arb: () => fc.oneof(shaped({ userIds: fc.oneof(fc.array(idish, { maxLength: 120 }), field) }), junk),
    },
    { event: 'an unknown event', arb: () => junk },
  ];

  for (const { event, arb } of EVENTS) {
    it(`socket ${event}: ${RUNS} generated payloads, never INTERNAL, nobody disconnected`, async () => {
      const codes = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(fc.string({ maxLength: 20 }), arb(), async (name, payload) => {
          const ev = event === 'an unknown event' ? `x:${name}` : event;
          const ack: any = await emitAck(fuzzer, ev, payload);
          tried++;
          assert.equal(typeof ack, 'object', `${ev}: ack ${JSON.stringify(ack)}`);
          if (ack.ok) return;
          codes.set(ack.error.code, (codes.get(ack.error.code) ?? 0) + 1);
          assert.ok(ack.error.code in ERROR_STATUS, `${ev}: unknown code ${JSON.stringify(ack)}`);
          assert.notEqual(ack.error.code, 'INTERNAL', `${ev} ${JSON.stringify(payload)?.slice(0, 300)}`);
          assert.notEqual(ack.error.code, 'SERVICE_UNAVAILABLE', `${ev}: ${JSON.stringify(ack)}`);
        }),
        { numRuns: RUNS },
      );
      assert.deepEqual(drops, []);
    });
  }

  it('afterwards: nobody was disconnected, the bystander still gets messages, nothing was logged as an internal error', async () => {
    assert.deepEqual(drops, [], 'a connection was dropped');
    // This message's own message:new: one the fuzzing sent may still be on its way (fanned out after its ack).
    const clientMessageId = randomUUID();
    const got = nextEvent(
      bystander,
      'message:new',
      15_000,
      (m: any) => m.clientMessageId === clientMessageId,
    );
    const sent = await emitAck(fuzzer, 'message:send', {
      conversationId: group,
      clientMessageId,
      content: { text: 'still here' },
    });
    assert.equal(sent.ok, true, JSON.stringify(sent));
    assert.equal((await got).id, sent.data.id);
    const internal = app.logs.lines.filter((l) => Number(l.level) >= 50);
    assert.deepEqual(
      internal.map((l) => l.msg),
      [],
      'errors were logged',
    );
    console.log(`# fuzz: ${tried} inputs, REST statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  });
});
