// The authorization matrix (CONTRACT §0, §5): every REST endpoint and every socket event that names
// a conversation, tried by everyone who is not in it (a stranger, an agent of another business, an
// agent of the business on a non-business conversation, an admin on a private one). Each answer
// must be exactly the answer for a conversation that does not exist (404 NOT_FOUND, same body):
// existence is not leaked, nothing is changed, no event about it reaches them. The administration
// API refuses non-admins (403) and everything refuses a missing token (401).
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { connectSocket, emitAck, http, testWorld, token, type TestApp } from './support/app';

const ALWAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((day) => ({
  day,
  open: '00:00',
  close: '24:00',
}));

type Req = {
  name: string;
  method: string;
  path: (conv: string, msg: string) => string;
  body?: (u: string) => unknown;
};

/** Every REST call that names a conversation (src/conversations, src/messages, src/business controllers). */
const CONVERSATION_REQUESTS: Req[] = [
  { name: 'get', method: 'GET', path: (c) => `/conversations/${c}` },
  { name: 'history before', method: 'GET', path: (c) => `/conversations/${c}/messages?before=100&limit=50` },
  { name: 'history after', method: 'GET', path: (c) => `/conversations/${c}/messages?after=0&limit=100` },
  {
    name: 'send',
    method: 'POST',
    path: (c) => `/conversations/${c}/messages`,
    body: () => ({ clientMessageId: randomUUID(), content: { text: 'let me in' } }),
  },
  { name: 'delete message', method: 'DELETE', path: (c, m) => `/conversations/${c}/messages/${m}` },
  { name: 'mark read', method: 'POST', path: (c) => `/conversations/${c}/read`, body: () => ({ seq: 1 }) },
  {
    name: 'add participant',
    method: 'POST',
    path: (c) => `/conversations/${c}/participants`,
    body: (u) => ({ userId: u, role: 'member' }),
  },
  { name: 'remove participant', method: 'DELETE', path: (c) => `/conversations/${c}/participants/PEER` },
  { name: 'leave', method: 'DELETE', path: (c) => `/conversations/${c}/participants/SELF` },
  {
    name: 'change role',
    method: 'PATCH',
    path: (c) => `/conversations/${c}/participants/PEER`,
    body: () => ({ role: 'admin' }),
  },
  { name: 'resolve', method: 'POST', path: (c) => `/conversations/${c}/resolve` },
  { name: 'escalate', method: 'POST', path: (c) => `/conversations/${c}/escalate` },
  {
    name: 'transfer',
    method: 'POST',
    path: (c) => `/conversations/${c}/transfer`,
    body: () => ({ agentId: 'AGENT' }),
  },
];

/** Every client socket event that names a conversation (src/realtime/chat.gateway.ts). */
const SOCKET_EVENTS: { event: string; payload: (c: string) => unknown }[] = [
  {
    event: 'message:send',
    payload: (c) => ({ conversationId: c, clientMessageId: randomUUID(), content: { text: 'let me in' } }),
  },
  { event: 'conversation:read', payload: (c) => ({ conversationId: c, seq: 1 }) },
  { event: 'typing:start', payload: (c) => ({ conversationId: c }) },
  { event: 'typing:stop', payload: (c) => ({ conversationId: c }) },
];

describe('authorization matrix', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  const t = randomBytes(3).toString('hex');
  const u = (n: string) => `${n}.${t}`;
  const alice = u('alice');
  const bob = u('bob');
  const carol = u('carol');
  const mallory = u('mallory');
  const cust = u('cust');
  const shopAgent = u('agshop');
  const otherAgent = u('agother');
  const root = u('root');
  const shop = `shop.${t}`;
  const other = `other.${t}`;
  let direct: string;
  let group: string;
  let business: string;
  const lastMessage = new Map<string, string>();
  const sockets: Socket[] = [];
  const tok = (user: string) => token(user, { admin: user === root });

  before(async () => {
    world = await testWorld();
    app = await world.start();
    const admin = await tok(root);
    for (const [b, agent] of [
      [shop, shopAgent],
      [other, otherAgent],
    ] as const) {
      const put = await http(app.url, 'PUT', `/businesses/${b}`, {
        token: admin,
        body: { timeZone: 'UTC', hours: ALWAYS },
      });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      const ag = await http(app.url, 'PUT', `/businesses/${b}/agents/${agent}`, {
        token: admin,
        body: { capacity: 5 },
      });
      assert.equal(ag.status, 200, JSON.stringify(ag.body));
    }
    // The shop's agent is online, so the business conversation is assigned to them.
    sockets.push(await connectSocket(app.url, await tok(shopAgent)));
    const create = async (user: string, body: unknown) => {
      const res = await http(app.url, 'POST', '/conversations', { token: await tok(user), body });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.id as string;
    };
    direct = await create(alice, { type: 'direct', participantIds: [bob] });
    group = await create(alice, { type: 'group', title: 'private', participantIds: [bob, carol] });
    business = await create(cust, { type: 'business', businessId: shop });
    const b = await http(app.url, 'GET', `/conversations/${business}`, { token: await tok(cust) });
    assert.equal(b.body.business.assignedAgentId, shopAgent, JSON.stringify(b.body));
    for (const [conv, sender] of [
      [direct, alice],
      [group, alice],
      [business, cust],
    ] as const) {
      const res = await http(app.url, 'POST', `/conversations/${conv}/messages`, {
        token: await tok(sender),
        body: { clientMessageId: randomUUID(), content: { text: 'secret' } },
      });
      assert.equal(res.status, 201);
      lastMessage.set(conv, res.body.id);
    }
  });
  after(async () => {
    for (const s of sockets) s.close();
    await world.close();
  });

  /** Who is not in which conversation; the peer and agent placeholders of the requests for each. */
  const outsiders = () => [
    {
      conv: direct,
      name: 'direct',
      peer: bob,
      owner: alice,
      who: [mallory, otherAgent, shopAgent, cust, root],
    },
    {
      conv: group,
      name: 'group',
      peer: bob,
      owner: alice,
      who: [mallory, otherAgent, shopAgent, cust, root],
    },
    // The admin may act on business conversations (CONTRACT §5), so is not an outsider there.
    { conv: business, name: 'business', peer: cust, owner: cust, who: [mallory, otherAgent, alice] },
  ];

  const strip = (body: any) => ({ statusCode: body?.statusCode, code: body?.code, message: body?.message });

  async function snapshot(conv: string, insider: string) {
    const res = await http(app.url, 'GET', `/conversations/${conv}`, { token: await tok(insider) });
    assert.equal(res.status, 200);
    const { lastSeq, participants, business: biz } = res.body;
    const hist = await http(app.url, 'GET', `/conversations/${conv}/messages?after=0&limit=100`, {
      token: await tok(insider),
    });
    return {
      lastSeq,
      participants: participants.map((p: any) => [p.userId, p.role, p.lastReadSeq]),
      business: biz && { status: biz.status, priority: biz.priority, agent: biz.assignedAgentId },
      messages: hist.body.items.map((m: any) => [m.id, m.deletedAt]),
    };
  }

  it('REST: every conversation endpoint answers an outsider exactly as for a conversation that does not exist', async () => {
    let cells = 0;
    for (const { conv, name, peer, owner, who } of outsiders()) {
      const before = await snapshot(conv, owner);
      for (const outsider of who) {
        const auth = await tok(outsider);
        for (const req of CONVERSATION_REQUESTS) {
          const fill = (p: string) =>
            p.replace('PEER', peer).replace('SELF', outsider).replace('AGENT', shopAgent);
          const body = req.body?.(outsider);
          const real = await http(app.url, req.method, fill(req.path(conv, lastMessage.get(conv)!)), {
            token: auth,
            body,
          });
          const ghost = await http(app.url, req.method, fill(req.path(randomUUID(), randomUUID())), {
            token: auth,
            body: req.body?.(outsider),
          });
          const where = `${outsider} ${req.name} on ${name}`;
          assert.equal(real.status, 404, `${where}: ${real.status} ${JSON.stringify(real.body)}`);
          assert.equal(real.body.code, 'NOT_FOUND', where);
          assert.deepEqual(
            strip(real.body),
            strip(ghost.body),
            `${where}: differs from a missing conversation`,
          );
          cells++;
        }
        // Nor is it in their chat list.
        const list = await http(app.url, 'GET', '/conversations?limit=100', { token: auth });
        assert.equal(list.status, 200);
        assert.ok(!list.body.items.some((c: any) => c.id === conv), `${outsider} lists ${name}`);
        cells++;
      }
      assert.deepEqual(await snapshot(conv, owner), before, `${name} was changed by outsiders`);
    }
    // Positive controls: the same requests work for those who are in it (the matrix is not vacuous).
    for (const [conv, insider] of [
      [direct, bob],
      [group, carol],
      [business, shopAgent],
      [business, cust],
    ] as const) {
      const auth = await tok(insider);
      assert.equal((await http(app.url, 'GET', `/conversations/${conv}`, { token: auth })).status, 200);
      assert.equal(
        (await http(app.url, 'GET', `/conversations/${conv}/messages?after=0`, { token: auth })).status,
        200,
      );
      const read = await http(app.url, 'POST', `/conversations/${conv}/read`, {
        token: auth,
        body: { seq: 1 },
      });
      assert.equal(read.status, 200, JSON.stringify(read.body));
    }
    console.log(`# authz REST: ${cells} outsider cells`);
  });

  it('an agent acts only on conversations of their own business; admins on any business conversation', async () => {
    // The other business's agent is refused (404, above); the shop's agent may escalate.
    const esc = await http(app.url, 'POST', `/conversations/${business}/escalate`, {
      token: await tok(shopAgent),
    });
    assert.equal(esc.status, 200, JSON.stringify(esc.body));
    // The customer is in it, but is not an agent: FORBIDDEN (they know it exists).
    const byCustomer = await http(app.url, 'POST', `/conversations/${business}/escalate`, {
      token: await tok(cust),
    });
    assert.equal(byCustomer.status, 403);
    assert.equal(byCustomer.body.code, 'FORBIDDEN');
    // The shop's agent sees nothing of the other business's conversations.
    const theirs = await http(app.url, 'POST', '/conversations', {
      token: await tok(carol),
      body: { type: 'business', businessId: other },
    });
    assert.equal(theirs.status, 201);
    for (const req of CONVERSATION_REQUESTS.filter((r) =>
      ['get', 'history after', 'escalate', 'send'].includes(r.name),
    )) {
      const res = await http(app.url, req.method, req.path(theirs.body.id, randomUUID()), {
        token: await tok(shopAgent),
        body: req.body?.(shopAgent),
      });
      assert.equal(res.status, 404, `${req.name}: ${JSON.stringify(res.body)}`);
    }
    const byAdmin = await http(app.url, 'POST', `/conversations/${theirs.body.id}/escalate`, {
      token: await tok(root),
    });
    assert.equal(byAdmin.status, 200, JSON.stringify(byAdmin.body));
  });

  it('sockets: every conversation event answers an outsider NOT_FOUND, as for a missing conversation, and leaks no event', async () => {
    let cells = 0;
    const seen = new Map<string, { event: string; payload: any }[]>();
    const outsiderSockets = new Map<string, Socket>();
    for (const user of [mallory, otherAgent, root, cust, alice]) {
      const s = await connectSocket(app.url, await tok(user));
      sockets.push(s);
      const log: { event: string; payload: any }[] = [];
      s.onAny((event: string, payload: unknown) => log.push({ event, payload }));
      seen.set(user, log);
      outsiderSockets.set(user, s);
    }
    for (const { conv, name, who } of outsiders()) {
      for (const outsider of who) {
        const s = outsiderSockets.get(outsider);
        if (!s) continue;
        for (const { event, payload } of SOCKET_EVENTS) {
          const real: any = await emitAck(s, event, payload(conv));
          const ghost: any = await emitAck(s, event, payload(randomUUID()));
          const where = `${outsider} ${event} on ${name}`;
          assert.equal(real.ok, false, `${where}: ${JSON.stringify(real)}`);
          assert.equal(real.error.code, 'NOT_FOUND', `${where}: ${JSON.stringify(real)}`);
          assert.deepEqual(real, ghost, `${where}: differs from a missing conversation`);
          cells++;
        }
      }
    }
    // Activity in the private conversations: none of it may reach an outsider's socket.
    const bobSocket = await connectSocket(app.url, await tok(bob));
    sockets.push(bobSocket);
    const bobLog: string[] = [];
    bobSocket.onAny((event: string) => bobLog.push(event));
    const aliceSocket = await connectSocket(app.url, await tok(alice));
    sockets.push(aliceSocket);
    const sent = await emitAck(aliceSocket, 'message:send', {
      conversationId: group,
      clientMessageId: randomUUID(),
      content: { text: 'private' },
    });
    assert.equal(sent.ok, true, JSON.stringify(sent));
    await emitAck(aliceSocket, 'typing:start', { conversationId: group });
    await emitAck(bobSocket, 'conversation:read', { conversationId: group, seq: sent.data.seq });
    const del = await http(app.url, 'DELETE', `/conversations/${group}/messages/${sent.data.id}`, {
      token: await tok(alice),
    });
    assert.equal(del.status, 204);
    // Barrier: bob (an insider) has received the last of it.
    const deadline = Date.now() + 15_000;
    while (!bobLog.includes('message:deleted') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.ok(
      bobLog.includes('message:new') && bobLog.includes('message:deleted'),
      `bob saw ${bobLog.join(',')}`,
    );
    for (const outsider of [mallory, otherAgent, root, cust]) {
      const leaked = seen
        .get(outsider)!
        .filter(
          (e) =>
            e.payload?.conversationId === group || e.payload?.id === group || e.payload?.userId === alice,
        );
      assert.deepEqual(leaked, [], `${outsider} learned of the group`);
    }
    console.log(`# authz sockets: ${cells} outsider cells`);
  });

  it('administration: non-admins get 403 FORBIDDEN, everyone without a token 401', async () => {
    const admin: Req[] = [
      {
        name: 'put business',
        method: 'PUT',
        path: () => `/businesses/${shop}`,
        body: () => ({ timeZone: 'UTC', hours: ALWAYS }),
      },
      { name: 'get business', method: 'GET', path: () => `/businesses/${shop}` },
      {
        name: 'put agent',
        method: 'PUT',
        path: () => `/businesses/${shop}/agents/${mallory}`,
        body: () => ({ capacity: 9 }),
      },
      { name: 'delete agent', method: 'DELETE', path: () => `/businesses/${shop}/agents/${shopAgent}` },
    ];
    let cells = 0;
    for (const user of [mallory, shopAgent, cust, alice]) {
      for (const req of admin) {
        const res = await http(app.url, req.method, req.path('', ''), {
          token: await tok(user),
          body: req.body?.(user),
        });
        assert.equal(res.status, 403, `${user} ${req.name}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.code, 'FORBIDDEN');
        cells++;
      }
    }
    // Nothing changed: the shop still has its one agent at capacity 5.
    const view = await http(app.url, 'GET', `/businesses/${shop}`, { token: await tok(root) });
    assert.deepEqual(
      view.body.agents.map((a: any) => [a.userId, a.capacity]),
      [[shopAgent, 5]],
    );
    const everything: Req[] = [
      ...admin,
      ...CONVERSATION_REQUESTS,
      { name: 'list', method: 'GET', path: () => '/conversations' },
      {
        name: 'create',
        method: 'POST',
        path: () => '/conversations',
        body: () => ({ type: 'direct', participantIds: [bob] }),
      },
    ];
    for (const req of everything) {
      for (const auth of [undefined, 'not-a-jwt', await token(alice, { ttlS: -10 })]) {
        const res = await http(
          app.url,
          req.method,
          req.path(direct, lastMessage.get(direct)!).replace(/PEER|SELF|AGENT/, bob),
          {
            token: auth,
            body: req.body?.(alice),
          },
        );
        assert.equal(res.status, 401, `${req.name} with ${auth ? 'a bad' : 'no'} token: ${res.status}`);
        assert.equal(res.body.code, 'UNAUTHENTICATED');
        cells++;
      }
    }
    console.log(`# authz admin/unauthenticated: ${cells} cells`);
  });
});
