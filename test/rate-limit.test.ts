// Rate limits (CONTRACT §4, §0) on two instances sharing Redis: MESSAGE_RATE_LIMIT=5 per
// MESSAGE_RATE_WINDOW_S=2 on message:send per user (all connections, all instances), the disconnect
// of a client that keeps going, and REST_RATE_LIMIT=3 answering 429 with Retry-After.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { connectSocket, emitAck, http, testWorld, token, type TestApp, users } from './support/app';
import { until } from './support/processes';

const LIMIT = 5;
const WINDOW_S = 2;
const REST_LIMIT = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('rate limits (two instances, Redis)', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let a: TestApp;
  let b: TestApp;
  let sockets: Socket[] = [];

  before(async () => {
    world = await testWorld({ redis: true });
    const env = {
      MESSAGE_RATE_LIMIT: String(LIMIT),
      MESSAGE_RATE_WINDOW_S: String(WINDOW_S),
      REST_RATE_LIMIT: String(REST_LIMIT),
      REST_RATE_WINDOW_S: '10',
    };
    [a, b] = await Promise.all([world.start(env), world.start(env)]);
  });
  after(() => world.close());
  afterEach(() => {
    for (const s of sockets) s.close();
    sockets = [];
  });

  async function connect(app: TestApp, userId: string): Promise<Socket> {
    const s = await connectSocket(app.url, await token(userId));
    sockets.push(s);
    return s;
  }
  /** The conversation is created by `owner` (each REST call counts against that user's REST limit). */
  async function direct(owner: string, other: string): Promise<string> {
    const res = await http(a.url, 'POST', '/conversations', {
      token: await token(owner),
      body: { type: 'direct', participantIds: [other] },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id;
  }
  const send = (s: Socket, conversationId: string) =>
    emitAck(s, 'message:send', { conversationId, clientMessageId: randomUUID(), content: { text: 'hi' } });
  const outcome = (acks: any[]) => acks.map((x) => (x.ok ? 'ok' : x.error.code)).sort();
  const expected = (ok: number, limited: number) =>
    [...Array<string>(ok).fill('ok'), ...Array<string>(limited).fill('RATE_LIMITED')].sort();
  async function stored(conversationId: string, asUser: string): Promise<number> {
    const res = await http(b.url, 'GET', `/conversations/${conversationId}/messages?limit=100`, {
      token: await token(asUser),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.items.length;
  }

  it('the 6th message:send within the window is RATE_LIMITED; once the window has slid, sends succeed again', async () => {
    const [sender, peer] = users('sender', 'peer');
    const conv = await direct(peer!, sender!);
    const s = await connect(a, sender!);
    // Sent together, so that all six fall well within one window however slow the machine is.
    const acks = await Promise.all(Array.from({ length: LIMIT + 1 }, () => send(s, conv)));
    assert.deepEqual(outcome(acks), expected(LIMIT, 1));
    const refused = acks.find((x) => !x.ok);
    assert.equal(typeof refused.error.message, 'string');
    assert.ok(Number.isInteger(refused.error.retryAfterS), JSON.stringify(refused));
    assert.ok(
      refused.error.retryAfterS >= 1 && refused.error.retryAfterS <= WINDOW_S,
      JSON.stringify(refused),
    );
    assert.equal((await send(s, conv)).error?.code, 'RATE_LIMITED', 'still within the window');

    await sleep(WINDOW_S * 1000 + 300);
    const again = await send(s, conv);
    assert.equal(again.ok, true, JSON.stringify(again));
    assert.equal(s.connected, true);
    assert.equal(await stored(conv, peer!), LIMIT + 1, 'refused sends stored nothing');
  });

  it('the limit is per user: shared by two connections on one instance, and by connections on two instances', async () => {
    const [one, two, peer] = users('one', 'two', 'peer');
    const convOne = await direct(peer!, one!);
    const convTwo = await direct(two!, peer!);

    const [s1, s2] = await Promise.all([connect(a, one!), connect(a, one!)]);
    const sameInstance = await Promise.all([
      ...Array.from({ length: 3 }, () => send(s1, convOne)),
      ...Array.from({ length: 3 }, () => send(s2, convOne)),
    ]);
    assert.deepEqual(outcome(sameInstance), expected(LIMIT, 1));

    const [t1, t2] = await Promise.all([connect(a, two!), connect(b, two!)]);
    const twoInstances = await Promise.all([
      ...Array.from({ length: 3 }, () => send(t1, convTwo)),
      ...Array.from({ length: 3 }, () => send(t2, convTwo)),
    ]);
    assert.deepEqual(outcome(twoInstances), expected(LIMIT, 1));
    // Another user is not affected by either.
    const [p1] = await Promise.all([connect(b, peer!)]);
    assert.equal((await send(p1, convOne)).ok, true);
  });

  it('a client that keeps going far past the limit gets session:end {reason:"rate_limited"} and is disconnected; others are unaffected', async () => {
    const [spammer, peer] = users('spammer', 'peer');
    const conv = await direct(peer!, spammer!);
    const [s, peerA, peerB] = await Promise.all([connect(a, spammer!), connect(a, peer!), connect(b, peer!)]);
    const ends: unknown[] = [];
    let disconnect: { reason: string; refusedInARow: number } | undefined;
    let refusedInARow = 0;
    s.on('session:end', (p) => ends.push(p));
    s.on('disconnect', (reason) => (disconnect = { reason, refusedInARow }));
    const peerDrops: string[] = [];
    for (const p of [peerA, peerB]) p.on('disconnect', (reason) => peerDrops.push(reason));

    assert.deepEqual(
      outcome(await Promise.all(Array.from({ length: LIMIT }, () => send(s, conv)))),
      expected(LIMIT, 0),
    );
    // One at a time, so that the refusals in a row can be counted; counted in the ack callback itself, which
    // runs as the ack arrives (before the disconnect that follows it). Should the window slide meanwhile on a
    // slow machine, a send goes through, the count restarts, and the loop simply goes on.
    for (let i = 0; i < 60 && s.connected; i++) {
      const answered = await new Promise<boolean>((resolve) => {
        const payload = { conversationId: conv, clientMessageId: randomUUID(), content: { text: 'spam' } };
        s.timeout(5000).emit('message:send', payload, (err: Error | null, ack: any) => {
          if (err) return resolve(false); // no ack: the connection went away
          if (ack.ok) refusedInARow = 0;
          else {
            assert.equal(ack.error.code, 'RATE_LIMITED', JSON.stringify(ack));
            refusedInARow++;
          }
          resolve(true);
        });
      });
      if (!answered) break;
    }
    await until(() => disconnect !== undefined, 'the spammer to be disconnected');
    assert.deepEqual(ends, [{ reason: 'rate_limited' }]);
    assert.equal(disconnect!.reason, 'io server disconnect');
    assert.equal(
      disconnect!.refusedInARow,
      LIMIT + 1,
      'disconnected after more than `limit` refusals in a row, not before',
    );

    // The peer, on both instances, is still connected and can send and receive.
    assert.deepEqual(peerDrops, []);
    assert.equal(peerA.connected && peerB.connected, true);
    const fromPeer = await send(peerB, conv);
    assert.equal(fromPeer.ok, true, JSON.stringify(fromPeer));
  });

  it('a connection flooding typing, reads or heartbeats gets RATE_LIMITED past 100 of one kind per 10 s, stays connected, and can send the others', async () => {
    const [alice, bob] = users('alice', 'bob');
    const conv = await direct(alice!, bob!);
    const s = await connect(a, alice!);
    const acks = await Promise.all(
      Array.from({ length: 105 }, () => emitAck(s, 'typing:start', { conversationId: conv })),
    );
    const refused = acks.filter((x) => !x.ok);
    assert.equal(acks.filter((x) => x.ok).length, 100, JSON.stringify(refused[0]));
    assert.equal(refused.length, 5);
    for (const r of refused) {
      assert.equal(r.error.code, 'RATE_LIMITED');
      assert.ok(r.error.retryAfterS >= 1 && r.error.retryAfterS <= 10, JSON.stringify(r));
    }
    assert.equal(s.connected, true);
    assert.equal((await emitAck(s, 'presence:heartbeat', {})).ok, true, 'another kind is counted apart');
    assert.equal((await emitAck(s, 'conversation:read', { conversationId: conv, seq: 0 })).ok, true);
    const other = await connect(a, alice!);
    assert.equal((await emitAck(other, 'typing:start', { conversationId: conv })).ok, true, 'per connection');
  });

  it('REST: the 4th request within the window is 429 RATE_LIMITED with the error shape and a Retry-After header, across instances', async () => {
    const [caller, other] = users('caller', 'other');
    const auth = await token(caller!);
    const results = await Promise.all(
      Array.from({ length: REST_LIMIT + 1 }, (_, i) =>
        http(i % 2 ? b.url : a.url, 'GET', '/conversations', { token: auth }),
      ),
    );
    assert.deepEqual(results.map((r) => r.status).sort(), [...Array<number>(REST_LIMIT).fill(200), 429]);
    const limited = results.find((r) => r.status === 429)!;
    assert.deepEqual(Object.keys(limited.body).sort(), ['code', 'message', 'requestId', 'statusCode']);
    assert.equal(limited.body.statusCode, 429);
    assert.equal(limited.body.code, 'RATE_LIMITED');
    assert.equal(typeof limited.body.message, 'string');
    assert.equal(limited.body.requestId, limited.headers.get('x-request-id'));
    const retryAfter = limited.headers.get('retry-after');
    assert.match(retryAfter ?? '', /^\d+$/, `Retry-After: ${retryAfter}`);
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 10, `Retry-After: ${retryAfter}`);
    // Per user: another user is served.
    const served = await http(b.url, 'GET', '/conversations', { token: await token(other!) });
    assert.equal(served.status, 200);
    // Health checks are not rate-limited per user (no token).
    assert.equal((await http(a.url, 'GET', '/health/live')).status, 200);
  });
});
