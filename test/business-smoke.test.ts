import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectSocket, http, testWorld, token, type TestApp } from './support/app';
import { until } from './support/processes';

const ALWAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((day) => ({
  day,
  open: '00:00',
  close: '24:00',
}));

describe('business smoke', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  before(async () => {
    world = await testWorld();
    app = await world.start();
  });
  after(() => world.close());

  it('assigns, queues, resolves and drains', async () => {
    const admin = await token('root', { admin: true });
    const put = await http(app.url, 'PUT', '/businesses/shop', {
      token: admin,
      body: { timeZone: 'Europe/Berlin', hours: ALWAYS },
    });
    if (put.status !== 201)
      console.log(
        app.logs.raw
          .filter((l) => l.includes('unhandled'))
          .join('\n')
          .slice(0, 1500),
      );
    assert.equal(put.status, 201, JSON.stringify(put.body));
    assert.equal(
      (await http(app.url, 'PUT', '/businesses/shop/agents/ag1', { token: admin, body: { capacity: 1 } }))
        .status,
      200,
    );
    const agent = await connectSocket(app.url, await token('ag1'));
    // Routing counts the agent once their connection is registered (online), not at the socket's connect.
    await until(
      async () =>
        (await http(app.url, 'GET', '/businesses/shop', { token: admin })).body.agents[0]?.presence ===
        'online',
      'ag1 online',
    );
    const c1 = await http(app.url, 'POST', '/conversations', {
      token: await token('cust1'),
      body: { type: 'business', businessId: 'shop' },
    });
    if (c1.status !== 201)
      console.log(
        app.logs.raw
          .filter((l) => l.includes('unhandled'))
          .join('\n')
          .slice(0, 1500),
      );
    assert.equal(c1.status, 201, JSON.stringify(c1.body));
    assert.equal(c1.body.business.status, 'assigned', JSON.stringify(c1.body));
    assert.equal(c1.body.business.assignedAgentId, 'ag1');
    const c2 = await http(app.url, 'POST', '/conversations', {
      token: await token('cust2'),
      body: { type: 'business', businessId: 'shop' },
    });
    assert.equal(c2.body.business.status, 'queued');
    assert.equal(c2.body.business.queuePosition, 1);
    const res = await http(app.url, 'POST', `/conversations/${c1.body.id}/resolve`, {
      token: await token('ag1'),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const again = await http(app.url, 'GET', `/conversations/${c2.body.id}`, { token: await token('cust2') });
    assert.equal(again.body.business.status, 'assigned');
    const view = await http(app.url, 'GET', '/businesses/shop', { token: admin });
    assert.deepEqual(view.body.agents, [{ userId: 'ag1', capacity: 1, load: 1, presence: 'online' }]);
    assert.equal(view.body.queueLength, 0);
    const hist = await http(app.url, 'GET', `/conversations/${c2.body.id}/messages`, {
      token: await token('cust2'),
    });
    assert.ok(hist.body.items.every((m: any) => m.type === 'system'));
    agent.close();
  });
});
