// Tokens and message text never reach the logs (CONTRACT §7), checked on the real log output at the
// most verbose level (trace), through the real routes and socket events, and on their error paths
// (validation failures, unknown conversations, oversized text, rate limits, deletes). test/logging.test.ts
// covers the request id and a probe route at info; this covers what users actually send.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { connectSocket, emitAck, http, testWorld, token, type TestApp } from './support/app';

describe('no token and no message text in the logs (trace level, real routes and events)', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  before(async () => {
    world = await testWorld({ redis: true });
    app = await world.start({ LOG_LEVEL: 'trace', MESSAGE_RATE_LIMIT: '3', MESSAGE_RATE_WINDOW_S: '60' });
  });
  after(() => world.close());

  it('after sends, reads, deletes and their failures over REST and sockets', async () => {
    const tag = randomBytes(3).toString('hex');
    const alice = `alice.${tag}`;
    const bob = `bob.${tag}`;
    const aliceToken = await token(alice);
    const bobToken = await token(bob);
    const marks: string[] = [];
    const secret = (what: string) => {
      const m = `SECRET${what}${randomBytes(6).toString('hex')}`;
      marks.push(m);
      return m;
    };

    const conv = await http(app.url, 'POST', '/conversations', {
      token: aliceToken,
      body: { type: 'group', title: secret('title'), participantIds: [bob] },
    });
    assert.equal(conv.status, 201);
    const id: string = conv.body.id;

    // REST: a send, its retry, a read, history, a delete.
    const body = { clientMessageId: randomUUID(), content: { text: secret('rest') } };
    const sent = await http(app.url, 'POST', `/conversations/${id}/messages`, { token: aliceToken, body });
    assert.equal(sent.status, 201);
    assert.equal(
      (await http(app.url, 'POST', `/conversations/${id}/messages`, { token: aliceToken, body })).status,
      200,
    );
    await http(app.url, 'POST', `/conversations/${id}/read`, { token: bobToken, body: { seq: 1 } });
    await http(app.url, 'GET', `/conversations/${id}/messages?after=0`, { token: bobToken });
    await http(app.url, 'GET', '/conversations', { token: bobToken });
    // REST failures carrying text: too long, NUL, an unknown field, a conversation that is not theirs.
    for (const bad of [
      { clientMessageId: randomUUID(), content: { text: secret('long') + 'x'.repeat(4100) } },
      { clientMessageId: randomUUID(), content: { text: `${secret('nul')}\u0000` } },
      { clientMessageId: randomUUID(), content: { text: 'ok' }, extra: secret('unknownfield') },
      { clientMessageId: `${secret('badid')} with spaces`, content: { text: secret('badidtext') } },
    ]) {
      const res = await http(app.url, 'POST', `/conversations/${id}/messages`, {
        token: aliceToken,
        body: bad,
      });
      assert.equal(res.status, 400, JSON.stringify(res.body));
    }
    const notMine = await http(app.url, 'POST', `/conversations/${randomUUID()}/messages`, {
      token: aliceToken,
      body: { clientMessageId: randomUUID(), content: { text: secret('ghost') } },
    });
    assert.equal(notMine.status, 404);
    const badJson = await http(app.url, 'POST', `/conversations/${id}/messages`, {
      token: aliceToken,
      rawBody: `{"content":{"text":"${secret('badjson')}"`,
    });
    assert.equal(badJson.status, 400);

    // Sockets: sends (ok, retried, refused, rate limited), typing, read, unknown events; a delete.
    const a = await connectSocket(app.url, aliceToken);
    const b = await connectSocket(app.url, bobToken);
    try {
      const payload = {
        conversationId: id,
        clientMessageId: randomUUID(),
        content: { text: secret('socket') },
      };
      const ok = await emitAck(a, 'message:send', payload);
      assert.equal(ok.ok, true);
      await emitAck(a, 'message:send', payload);
      const long = await emitAck(a, 'message:send', {
        conversationId: id,
        clientMessageId: randomUUID(),
        content: { text: secret('socketlong') + 'y'.repeat(4100) },
      });
      assert.equal(long.error?.code, 'VALIDATION_FAILED');
      const limited = await emitAck(a, 'message:send', {
        conversationId: id,
        clientMessageId: randomUUID(),
        content: { text: secret('limited') },
      });
      const limited2 = await emitAck(a, 'message:send', {
        conversationId: id,
        clientMessageId: randomUUID(),
        content: { text: secret('limited') },
      });
      assert.ok(
        [limited, limited2].some((r) => r.error?.code === 'RATE_LIMITED'),
        'the rate limit was reached',
      );
      await emitAck(b, 'conversation:read', { conversationId: id, seq: 2 });
      await emitAck(b, 'typing:start', { conversationId: id });
      await emitAck(b, secret('event'), { text: secret('unknownevent') });
      await emitAck(b, 'message:send', {
        conversationId: id,
        content: { text: secret('noid') },
        token: bobToken,
      });
      const del = await http(app.url, 'DELETE', `/conversations/${id}/messages/${ok.data.id}`, {
        token: aliceToken,
      });
      assert.equal(del.status, 204);
    } finally {
      a.close();
      b.close();
    }
    await new Promise((r) => setTimeout(r, 200));

    const all = app.logs.raw.join('\n');
    assert.ok(app.logs.raw.length > 20, 'the logs were captured');
    assert.ok(
      app.logs.lines.some((l) => l.level === 10 || l.level === 20 || /request completed/.test(String(l.msg))),
      'verbose lines were written',
    );
    for (const m of marks) assert.ok(!all.includes(m), `${m.replace(/[0-9a-f]+$/, '')} is in the logs`);
    for (const t of [aliceToken, bobToken])
      for (const part of t.split('.'))
        assert.ok(!all.includes(part), 'a token (or a part of it) is in the logs');
    console.log(`# logs: ${app.logs.raw.length} lines checked for ${marks.length} secret texts and 2 tokens`);
  });
});
