import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { http, testWorld, token, type TestApp } from './support/app';

describe('smoke', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  before(async () => {
    world = await testWorld();
    app = await world.start();
  });
  after(() => world.close());

  it('direct, send, history, read, list', async () => {
    const a = await token('alice');
    const b = await token('bob');
    const c = await http(app.url, 'POST', '/conversations', {
      token: a,
      body: { type: 'direct', participantIds: ['bob'] },
    });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const again = await http(app.url, 'POST', '/conversations', {
      token: b,
      body: { type: 'direct', participantIds: ['alice'] },
    });
    assert.equal(again.status, 200);
    assert.equal(again.body.id, c.body.id);
    const id = c.body.id;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        http(app.url, 'POST', `/conversations/${id}/messages`, {
          token: a,
          body: { clientMessageId: randomUUID(), content: { text: `m${i}` } },
        }),
      ),
    );
    if (results[0]!.status !== 201) console.log(app.logs.raw.filter((l) => l.includes('error')).slice(0, 3));
    assert.deepEqual(
      results.map((r) => r.status),
      Array(20).fill(201),
    );
    assert.deepEqual(
      results.map((r) => r.body.seq).sort((x, y) => x - y),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    const list = await http(app.url, 'GET', '/conversations', { token: b });
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.equal(list.body.items[0].unreadCount, 20);
    assert.equal(list.body.items[0].lastSeq, 20);
    const read = await http(app.url, 'POST', `/conversations/${id}/read`, { token: b, body: { seq: 15 } });
    assert.deepEqual(read.body, { lastReadSeq: 15, unreadCount: 5 });
    const hist = await http(app.url, 'GET', `/conversations/${id}/messages?after=10&limit=5`, { token: b });
    assert.deepEqual(
      hist.body.items.map((m: any) => m.seq),
      [11, 12, 13, 14, 15],
    );
    assert.equal(hist.body.nextCursor, '15');
    const del = await http(
      app.url,
      'DELETE',
      `/conversations/${id}/messages/${results.find((r) => r.body.seq === 20)!.body.id}`,
      { token: a },
    );
    assert.equal(del.status, 204);
    const list2 = await http(app.url, 'GET', '/conversations', { token: b });
    assert.equal(list2.body.items[0].unreadCount, 4);
    assert.equal(list2.body.items[0].lastMessage.content, null);
    assert.equal(list2.body.items[0].participants[0].profile.displayName.length > 0, true);
  });
});
