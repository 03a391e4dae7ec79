// DATABASE_STATEMENT_TIMEOUT_MS: a request held up in PostgreSQL (here, a send waiting for a row lock
// another session keeps) gets SERVICE_UNAVAILABLE with Retry-After once the timeout passes, instead of
// hanging; nothing of it was written, and its retry with the same clientMessageId succeeds once the
// lock is gone. Real app, real PostgreSQL.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import { connectSocket, directPair, emitAck, http, testWorld, token, type TestApp } from './support/app';

describe('DATABASE_STATEMENT_TIMEOUT_MS', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  let locker: Client;

  before(async () => {
    world = await testWorld();
    // Long enough that no statement of a loaded CI box reaches it, short enough for a test.
    app = await world.start({ DATABASE_STATEMENT_TIMEOUT_MS: '1000' });
    locker = new Client({ connectionString: world.db.url });
    await locker.connect();
  });
  after(async () => {
    await locker?.end().catch(() => undefined);
    await world?.close();
  });

  /** Keeps the conversation's row locked (as a long transaction elsewhere would) until `release`. */
  async function lockConversation(conv: string): Promise<{ release(): Promise<void> }> {
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM conversations WHERE id = $1 FOR UPDATE', [conv]);
    return { release: async () => void (await locker.query('ROLLBACK')) };
  }

  async function rows(conv: string): Promise<number> {
    const { rows } = await locker.query<{ n: string }>(
      'SELECT count(*) AS n FROM messages WHERE conversation_id = $1',
      [conv],
    );
    return Number(rows[0]!.n);
  }

  it('a REST send stuck behind a lock answers 503 with Retry-After; its retry succeeds once the lock is gone', async () => {
    const { alice, conv } = await directPair(app.url);
    const tok = await token(alice);
    const send = (clientMessageId: string) =>
      http(app.url, 'POST', `/conversations/${conv}/messages`, {
        token: tok,
        body: { clientMessageId, content: { text: 'behind a lock' } },
      });
    const lock = await lockConversation(conv);
    const clientMessageId = randomUUID();
    let held;
    try {
      held = await send(clientMessageId);
    } finally {
      await lock.release();
    }
    assert.equal(held.status, 503, JSON.stringify(held.body));
    assert.equal(held.body.code, 'SERVICE_UNAVAILABLE');
    assert.ok(Number(held.headers.get('retry-after')) > 0, 'Retry-After');
    assert.equal(await rows(conv), 0, 'nothing was written');

    const retried = await send(clientMessageId);
    assert.equal(retried.status, 201, JSON.stringify(retried.body));
    assert.equal(retried.body.seq, 1);
    assert.equal(await rows(conv), 1);
  });

  it('a socket send stuck behind a lock is acked SERVICE_UNAVAILABLE, and the connection stays up', async () => {
    const { alice, conv } = await directPair(app.url);
    const socket = await connectSocket(app.url, await token(alice));
    try {
      const lock = await lockConversation(conv);
      let ack;
      try {
        ack = await emitAck(socket, 'message:send', {
          conversationId: conv,
          clientMessageId: randomUUID(),
          content: { text: 'behind a lock' },
        });
      } finally {
        await lock.release();
      }
      assert.equal(ack.ok, false, JSON.stringify(ack));
      assert.equal(ack.error.code, 'SERVICE_UNAVAILABLE');
      assert.equal(await rows(conv), 0);
      const after = await emitAck(socket, 'message:send', {
        conversationId: conv,
        clientMessageId: randomUUID(),
        content: { text: 'after' },
      });
      assert.equal(after.ok, true, JSON.stringify(after));
      assert.ok(socket.connected);
    } finally {
      socket.close();
    }
  });
});
