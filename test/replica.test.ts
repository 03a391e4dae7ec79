// Reads with a read replica (DATABASE_REPLICA_URLS) that has not caught up: which reads may lag and
// which must see every committed write. The "replica" is a migrated database that never receives
// the primary's writes, a replica that lags for ever. A real streaming replica lags by milliseconds
// to seconds; a read of one's own write that went to it would fail in that window, which this makes
// deterministic.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { connectSocket, http, testWorld, token, type TestApp, users } from './support/app';
import { createTestDatabase, type TestDatabase } from './support/db';
import { until } from './support/processes';

describe('with a read replica that lags', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let replica: TestDatabase;
  let app: TestApp;
  let sockets: Socket[] = [];

  before(async () => {
    world = await testWorld();
    replica = await createTestDatabase();
    app = await world.start({ DATABASE_REPLICA_URLS: replica.url });
  });
  after(async () => {
    await world.close();
    await replica.drop();
  });
  afterEach(() => {
    for (const s of sockets) s.close();
    sockets = [];
  });

  async function rest(userId: string, method: string, path: string, body?: unknown) {
    return http(app.url, method, path, { token: await token(userId), body });
  }
  async function group(owner: string, others: string[]): Promise<string> {
    const res = await rest(owner, 'POST', '/conversations', {
      type: 'group',
      title: 'g',
      participantIds: others,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id;
  }
  /** A connected socket of `userId` and every event it receives. */
  async function device(userId: string) {
    const socket = await connectSocket(app.url, await token(userId));
    sockets.push(socket);
    const seen: { event: string; payload: any }[] = [];
    socket.onAny((event: string, payload: unknown) => seen.push({ event, payload }));
    return seen;
  }

  it('a write answers with what it wrote: a new group, a participant added, a role changed, a single GET', async () => {
    const [owner, u2, u3] = users('owner', 'u2', 'u3');
    const id = await group(owner!, [u2!]);
    const added = await rest(owner!, 'POST', `/conversations/${id}/participants`, { userId: u3 });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.deepEqual(
      added.body.participants.map((p: { userId: string }) => p.userId).sort(),
      [owner, u2, u3].sort(),
    );
    const promoted = await rest(owner!, 'PATCH', `/conversations/${id}/participants/${u3}`, {
      role: 'admin',
    });
    assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
    const one = await rest(u3!, 'GET', `/conversations/${id}`);
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.equal(one.body.participants.find((p: { userId: string }) => p.userId === u3).role, 'admin');
  });

  it('the fan-out reads the primary: the participant just added gets conversation:updated', async () => {
    const [alice, bob, carol] = users('alice', 'bob', 'carol');
    const id = await group(alice!, [bob!]);
    const carolSeen = await device(carol!);
    assert.equal(
      (await rest(alice!, 'POST', `/conversations/${id}/participants`, { userId: carol })).status,
      200,
    );
    await until(
      () => carolSeen.some((s) => s.event === 'conversation:updated' && s.payload.id === id),
      'conversation:updated to the new participant',
    );
  });

  it('the catch-up after a message:new (GET …/messages?after=) reads the primary and finds the message', async () => {
    const [alice, bob] = users('alice', 'bob');
    const id = await group(alice!, [bob!]);
    const bobSeen = await device(bob!);
    const sent = await rest(alice!, 'POST', `/conversations/${id}/messages`, {
      clientMessageId: randomUUID(),
      content: { text: 'hello' },
    });
    assert.equal(sent.status, 201);
    await until(
      () => bobSeen.some((s) => s.event === 'message:new' && s.payload.conversationId === id),
      'message:new',
    );
    const page = await rest(bob!, 'GET', `/conversations/${id}/messages?after=0&limit=100`);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    assert.deepEqual(
      page.body.items.map((m: { id: string }) => m.id),
      [sent.body.id],
    );
  });

  it('the chat list and history pages going back are served by the replica (they may lag it)', async () => {
    const [alice, bob] = users('alice', 'bob');
    const id = await group(alice!, [bob!]);
    assert.equal(
      (
        await rest(alice!, 'POST', `/conversations/${id}/messages`, {
          clientMessageId: randomUUID(),
          content: { text: 'x' },
        })
      ).status,
      201,
    );
    const list = await rest(alice!, 'GET', '/conversations');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.items, [], 'the lagging replica has no conversation yet');
    const back = await rest(alice!, 'GET', `/conversations/${id}/messages?before=100`);
    assert.equal(back.status, 200);
    assert.deepEqual(back.body.items, [], 'the lagging replica has no message yet');
  });
});
