// Malformed socket input (CONTRACT §4): every bad payload gets a VALIDATION_FAILED ack (NOT_FOUND when
// the shape is valid but the conversation is not the caller's), the socket stays usable, and no other
// client is ever disconnected; an oversized or unparsable frame closes only the connection that sent it.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { connectSocket, emitAck, http, testWorld, token, type TestApp } from './support/app';
import { until } from './support/processes';

/** A payload with an own `__proto__` / `constructor` key, as JSON.parse (the server's parser) makes it. */
const raw = (json: string) => JSON.parse(json) as unknown;

describe('malformed socket input', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  const tag = randomBytes(3).toString('hex');
  const alice = `alice.${tag}`;
  const bob = `bob.${tag}`;
  const carol = `carol.${tag}`;
  let aliceBob: string;
  let bobCarol: string;
  let a: Socket;
  let b: Socket;
  const drops: string[] = [];
  const bobGot: any[] = [];

  before(async () => {
    world = await testWorld();
    app = await world.start();
    const conv = async (from: string, to: string) => {
      const res = await http(app.url, 'POST', '/conversations', {
        token: await token(from),
        body: { type: 'direct', participantIds: [to] },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.id as string;
    };
    aliceBob = await conv(alice, bob);
    bobCarol = await conv(bob, carol);
    a = await connectSocket(app.url, await token(alice));
    b = await connectSocket(app.url, await token(bob));
    a.on('disconnect', (reason) => drops.push(`alice: ${reason}`));
    b.on('disconnect', (reason) => drops.push(`bob: ${reason}`));
    b.on('message:new', (m) => bobGot.push(m));
  });
  after(async () => {
    a?.close();
    b?.close();
    await world.close();
  });

  const valid = (text = 'hi') => ({
    conversationId: aliceBob,
    clientMessageId: randomUUID(),
    content: { text },
  });

  /** Sends a valid message and checks that it is stored and reaches bob: the socket still works. */
  async function stillWorks(socket: Socket, what: string): Promise<void> {
    const payload = valid(`after ${what}`);
    const ack = await emitAck(socket, 'message:send', payload);
    assert.equal(ack.ok, true, `${what}: ${JSON.stringify(ack)}`);
    await until(
      () => bobGot.some((m) => m.clientMessageId === payload.clientMessageId),
      `bob to get ${what}`,
    );
  }

  function assertRefused(ack: any, code: string, what: string): void {
    assert.equal(ack?.ok, false, `${what}: ${JSON.stringify(ack)}`);
    assert.equal(ack.error.code, code, `${what}: ${JSON.stringify(ack)}`);
    assert.equal(typeof ack.error.message, 'string', what);
    assert.ok(ack.error.message.length > 0, what);
    assert.doesNotMatch(ack.error.message, /\bat .*\.(ts|js):\d+|RangeError|TypeError|SELECT/, what);
    for (const key of Object.keys(ack.error))
      assert.ok(['code', 'message', 'details', 'retryAfterS'].includes(key), `${what}: unexpected ${key}`);
  }

  it('answers each of 40+ malformed payloads with VALIDATION_FAILED, and the socket keeps working', async () => {
    const c = () => aliceBob;
    const id = () => randomUUID();
    const cases: [string, string, unknown][] = [
      ['send: null', 'message:send', null],
      ['send: string', 'message:send', 'hello'],
      ['send: number', 'message:send', 42],
      ['send: boolean', 'message:send', true],
      ['send: array', 'message:send', [valid()]],
      ['send: empty object', 'message:send', {}],
      ['send: only conversationId', 'message:send', { conversationId: c() }],
      ['send: no clientMessageId', 'message:send', { conversationId: c(), content: { text: 'x' } }],
      ['send: no content', 'message:send', { conversationId: c(), clientMessageId: id() }],
      ['send: content string', 'message:send', { conversationId: c(), clientMessageId: id(), content: 'hi' }],
      ['send: content null', 'message:send', { conversationId: c(), clientMessageId: id(), content: null }],
      [
        'send: content array',
        'message:send',
        { conversationId: c(), clientMessageId: id(), content: ['hi'] },
      ],
      ['send: content empty', 'message:send', { conversationId: c(), clientMessageId: id(), content: {} }],
      [
        'send: text number',
        'message:send',
        { conversationId: c(), clientMessageId: id(), content: { text: 42 } },
      ],
      [
        'send: text array',
        'message:send',
        { conversationId: c(), clientMessageId: id(), content: { text: ['a'] } },
      ],
      [
        'send: text blank',
        'message:send',
        { conversationId: c(), clientMessageId: id(), content: { text: ' \n ' } },
      ],
      ['send: text 4001 chars', 'message:send', valid('x'.repeat(4001))],
      ['send: text 60 KB', 'message:send', valid('y'.repeat(60_000))],
      ['send: bad uuid', 'message:send', { ...valid(), conversationId: 'not-a-uuid' }],
      ['send: uuid number', 'message:send', { ...valid(), conversationId: 12345 }],
      ['send: uuid object', 'message:send', { ...valid(), conversationId: { $ne: null } }],
      ['send: clientMessageId with space', 'message:send', { ...valid(), clientMessageId: 'has space' }],
      ['send: clientMessageId 65 chars', 'message:send', { ...valid(), clientMessageId: 'x'.repeat(65) }],
      ['send: clientMessageId object', 'message:send', { ...valid(), clientMessageId: { nested: true } }],
      ['send: unknown field', 'message:send', { ...valid(), admin: true }],
      [
        'send: unknown field in content',
        'message:send',
        { ...valid(), content: { text: 'hi', html: '<b>' } },
      ],
      [
        'send: nested junk',
        'message:send',
        { ...valid(), content: { text: { a: { b: [1, { c: null }, [[[{ d: 'e' }]]]] } } } },
      ],
      ['send: nested junk under unknown key', 'message:send', { ...valid(), x: { y: [{ z: [{}] }] } }],
      [
        'send: __proto__',
        'message:send',
        raw(
          `{"conversationId":"${c()}","clientMessageId":"${id()}","content":{"text":"hi"},"__proto__":{"isAdmin":true}}`,
        ),
      ],
      [
        'send: constructor',
        'message:send',
        raw(
          `{"conversationId":"${c()}","clientMessageId":"${id()}","content":{"text":"hi"},"constructor":{"prototype":{"isAdmin":true}}}`,
        ),
      ],
      [
        'send: __proto__ in content',
        'message:send',
        raw(
          `{"conversationId":"${c()}","clientMessageId":"${id()}","content":{"text":"hi","__proto__":{"x":1}}}`,
        ),
      ],
      [
        'send: constructor in content',
        'message:send',
        raw(
          `{"conversationId":"${c()}","clientMessageId":"${id()}","content":{"text":"hi","constructor":"x"}}`,
        ),
      ],
      ['send: binary', 'message:send', Buffer.from('{"conversationId":"x"}')],
      ['send: binary text', 'message:send', { ...valid(), content: { text: Buffer.from('hi') } }],
      ['read: negative seq', 'conversation:read', { conversationId: c(), seq: -1 }],
      ['read: huge seq', 'conversation:read', { conversationId: c(), seq: 2 ** 31 }],
      ['read: 1e300 seq', 'conversation:read', { conversationId: c(), seq: 1e300 }],
      ['read: fractional seq', 'conversation:read', { conversationId: c(), seq: 1.5 }],
      ['read: string seq', 'conversation:read', { conversationId: c(), seq: '3' }],
      ['read: null seq', 'conversation:read', { conversationId: c(), seq: null }],
      ['read: no seq', 'conversation:read', { conversationId: c() }],
      ['read: bad uuid', 'conversation:read', { conversationId: 'c1', seq: 1 }],
      ['read: unknown field', 'conversation:read', { conversationId: c(), seq: 1, force: true }],
      ['read: array', 'conversation:read', [c(), 1]],
      [
        'read: __proto__',
        'conversation:read',
        raw(`{"conversationId":"${c()}","seq":1,"__proto__":{"seq":-1}}`),
      ],
      ['typing:start: empty', 'typing:start', {}],
      ['typing:start: uuid in array', 'typing:start', { conversationId: [c()] }],
      ['typing:start: unknown field', 'typing:start', { conversationId: c(), isTyping: false }],
      ['typing:start: constructor', 'typing:start', raw(`{"conversationId":"${c()}","constructor":1}`)],
      ['typing:stop: string', 'typing:stop', c()],
      ['typing:stop: null', 'typing:stop', null],
      ['heartbeat: unknown field', 'presence:heartbeat', { status: 'away' }],
      ['heartbeat: string', 'presence:heartbeat', 'ping'],
      ['unknown event', 'message:edit', valid()],
      ['unknown event admin', 'admin:shutdown', {}],
      ['unknown event constructor', 'constructor', {}],
      ['unknown event toString', 'toString', {}],
      ['unknown event __proto__', '__proto__', {}],
      ['unknown event hasOwnProperty', 'hasOwnProperty', 'x'],
    ];
    assert.ok(cases.length >= 20);
    for (const [what, event, payload] of cases) {
      const ack = await emitAck(a, event, payload);
      assertRefused(ack, 'VALIDATION_FAILED', what);
      assert.equal(a.connected, true, `${what}: still connected`);
    }
    // Without any payload at all.
    for (const event of ['message:send', 'conversation:read', 'typing:start', 'typing:stop']) {
      const ack = await a.timeout(5000).emitWithAck(event);
      assertRefused(ack, 'VALIDATION_FAILED', `${event} without payload`);
    }
    await stillWorks(a, 'the malformed payloads');
    // 4000 characters is still fine (the limit is not off by one).
    assert.equal((await emitAck(a, 'message:send', valid('z'.repeat(4000)))).ok, true);

    // Nothing malformed was stored, nothing failed inside, nobody was dropped, nothing was polluted.
    const history = await http(app.url, 'GET', `/conversations/${aliceBob}/messages?after=0&limit=100`, {
      token: await token(alice),
    });
    assert.deepEqual(
      history.body.items.map((m: any) => m.content.text.length),
      ['after the malformed payloads'.length, 4000],
    );
    assert.deepEqual(drops, []);
    assert.equal(({} as any).isAdmin, undefined);
    const internal = app.logs.lines.filter((l) => Number(l.level) >= 50);
    assert.deepEqual(internal, [], 'no error was logged');
  });

  it('answers NOT_FOUND when the shape is valid but the conversation is not the caller’s', async () => {
    for (const conversationId of [bobCarol, randomUUID()]) {
      const cases: [string, unknown][] = [
        ['message:send', { conversationId, clientMessageId: randomUUID(), content: { text: 'hi' } }],
        ['conversation:read', { conversationId, seq: 1 }],
        ['typing:start', { conversationId }],
        ['typing:stop', { conversationId }],
      ];
      for (const [event, payload] of cases)
        assertRefused(await emitAck(a, event, payload), 'NOT_FOUND', event);
    }
    await stillWorks(a, 'the NOT_FOUNDs');
    const bobCarolHistory = await http(app.url, 'GET', `/conversations/${bobCarol}/messages?after=0`, {
      token: await token(bob),
    });
    assert.deepEqual(bobCarolHistory.body.items, []);
    assert.deepEqual(drops, []);
  });

  it('a payload nested thousands deep is refused, not a crash', async () => {
    // Built by hand: a JSON encoder would recurse as deep as the transformer does. ~30 KB, under the frame cap.
    const depth = 5000;
    const junk = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    // A Socket.IO EVENT packet with an ack id (engine.io adds its own message prefix).
    const frame = (ackId: number, body: string) => `2${ackId}["message:send",${body}]`;
    const acks = new Map<number, any>();
    const engine = (a.io as any).engine;
    const onMessage = (data: unknown) => {
      const m = typeof data === 'string' ? /^3(\d+)(\[.*)$/s.exec(data) : null;
      if (m) acks.set(Number(m[1]), JSON.parse(m[2]!)[0]);
    };
    engine.on('message', onMessage);
    try {
      const base = `{"conversationId":"${aliceBob}","clientMessageId":"${randomUUID()}"`;
      engine.send(frame(900_001, `${base},"content":{"text":"hi"},"junk":${junk}}`));
      engine.send(frame(900_002, `${base},"content":${junk}}`));
      engine.send(
        frame(900_003, `${base},"content":{"text":${'['.repeat(depth * 2)}${']'.repeat(depth * 2)}}}`),
      );
      await until(() => acks.size === 3, 'three acks');
    } finally {
      engine.off('message', onMessage);
    }
    for (const [n, ack] of acks) assertRefused(ack, 'VALIDATION_FAILED', `deep payload ${n}`);
    await stillWorks(a, 'the deep payloads');
    assert.deepEqual(drops, []);
  });

  it('a frame over 64 KB, or one that cannot be parsed, closes only the connection that sent it', async () => {
    const victims = await Promise.all([
      connectSocket(app.url, await token(alice)),
      connectSocket(app.url, await token(carol)),
    ]);
    const [big, garbage] = victims;
    const closed = new Map<Socket, string>();
    for (const s of victims) s.on('disconnect', (reason) => closed.set(s, reason));
    try {
      big!.emit('message:send', valid('x'.repeat(70_000)), () =>
        assert.fail('an oversized frame got an ack'),
      );
      (garbage!.io as any).engine.send('2["message:send",{"conversationId":');
      await until(() => closed.size === 2, 'both offending connections to close');
      assert.equal(big!.connected, false);
      assert.equal(garbage!.connected, false);
      // Everybody else is still here and working: alice's other connection sends, bob receives.
      assert.equal(a.connected, true);
      assert.equal(b.connected, true);
      await stillWorks(a, 'the oversized frame');
      const fromBob = await emitAck(b, 'message:send', {
        conversationId: aliceBob,
        clientMessageId: randomUUID(),
        content: { text: 'bob is fine' },
      });
      assert.equal(fromBob.ok, true, JSON.stringify(fromBob));
      assert.deepEqual(drops, []);
      // The 70 KB message was never stored.
      const history = await http(app.url, 'GET', `/conversations/${aliceBob}/messages?limit=100`, {
        token: await token(alice),
      });
      assert.ok(history.body.items.every((m: any) => m.content.text.length <= 4000));
    } finally {
      for (const s of victims) s.close();
    }
  });
});
