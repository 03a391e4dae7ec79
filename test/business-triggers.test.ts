// Business routing triggers end to end (CONTRACT §5), on one real app over PostgreSQL and Redis:
// a new conversation, a customer message into a resolved one, an agent coming online, an agent
// resolving, an agent removed, opening time (with the sweep's injectable clock), the offline grace
// period (disconnect, and a connection that stops heartbeating), and transfers. Each scenario uses its
// own business and users. Sockets check `conversation:updated` and the system `message:new` events.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Client } from 'pg';
import type { Socket } from 'socket.io-client';
import { RoutingService } from '../src/business/routing.service';
import { DomainEvents } from '../src/common/domain-events';
import { PresenceService } from '../src/presence/presence.service';
import { displayNameFor } from '../src/profiles/profile.mock';
import { connectSocket, http, testWorld, token, type TestApp } from './support/app';
import { until } from './support/processes';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const ALWAYS = DAYS.map((day) => ({ day, open: '00:00', close: '24:00' }));
const GRACE_S = 1;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How often a check that queries the app polls, not to load the machine it waits for. */
const POLL_APP_MS = 100;

interface User {
  id: string;
  token: string;
  socket?: Socket;
  /** Every `conversation:updated` and `message:new` this user's socket received, in order. */
  updates: any[];
  messages: any[];
  stopBeating(): void;
}

// Scenarios are independent (own business, own users) and mostly wait: they run concurrently, except
// opening time and the grace period, whose injected sweep would end other agents' grace early.
describe('business routing triggers', { concurrency: true }, () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  let sql: Client;
  let admin: string;

  before(async () => {
    world = await testWorld({ redis: true });
    app = await world.start({
      AGENT_GRACE_S: String(GRACE_S),
      ROUTING_SWEEP_S: '1',
      PRESENCE_TTL_S: '2',
    });
    sql = new Client({ connectionString: world.db.url });
    await sql.connect();
    admin = await token('root', { admin: true });
  });
  after(async () => {
    await sql.end();
    await world.close();
  });
  // ---- helpers ---------------------------------------------------------------------------------

  /**
   * A user of test `t` (disconnected when it ends); `online` connects a socket that heartbeats well
   * within PRESENCE_TTL_S, as clients must.
   */
  async function user(t: TestContext, id: string, online = true): Promise<User> {
    const u: User = { id, token: await token(id), updates: [], messages: [], stopBeating: () => undefined };
    t.after(() => disconnect(u));
    if (online) await connect(u);
    return u;
  }

  async function connect(u: User): Promise<void> {
    const socket = await connectSocket(app.url, u.token);
    socket.on('conversation:updated', (c) => u.updates.push(c));
    socket.on('message:new', (m) => u.messages.push(m));
    const timer = setInterval(() => socket.emit('presence:heartbeat', {}), 300);
    u.socket = socket;
    u.stopBeating = () => clearInterval(timer);
  }

  function disconnect(u: User): void {
    u.stopBeating();
    u.socket?.close();
    u.socket = undefined;
  }

  async function api(method: string, path: string, who: User | string, body?: unknown) {
    return http(app.url, method, path, { token: typeof who === 'string' ? who : who.token, body });
  }

  async function putBusiness(id: string, hours: unknown, timeZone = 'UTC'): Promise<void> {
    const res = await api('PUT', `/businesses/${id}`, admin, { timeZone, hours });
    assert.ok(res.status === 201 || res.status === 200, JSON.stringify(res.body));
  }

  async function putAgent(businessId: string, userId: string, capacity: number): Promise<void> {
    const res = await api('PUT', `/businesses/${businessId}/agents/${userId}`, admin, { capacity });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }

  async function businessView(id: string): Promise<any> {
    const res = await api('GET', `/businesses/${id}`, admin);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }

  async function waitPresence(businessId: string, userId: string, presence: 'online' | 'offline') {
    await until(
      async () =>
        (await businessView(businessId)).agents.find((a: any) => a.userId === userId)?.presence === presence,
      `${userId} ${presence} in ${businessId}`,
      20_000,
      POLL_APP_MS,
    );
  }

  async function open(customer: User, businessId: string): Promise<any> {
    const res = await api('POST', '/conversations', customer, { type: 'business', businessId });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  }

  async function view(customer: User, conversationId: string): Promise<any> {
    const res = await api('GET', `/conversations/${conversationId}`, customer);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }

  async function history(customer: User, conversationId: string): Promise<any[]> {
    const res = await api('GET', `/conversations/${conversationId}/messages?limit=100&after=0`, customer);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.items;
  }

  const systemTexts = async (customer: User, conversationId: string) =>
    (await history(customer, conversationId)).filter((m) => m.type === 'system').map((m) => m.content.text);

  async function say(customer: User, conversationId: string, text: string): Promise<any> {
    const res = await api('POST', `/conversations/${conversationId}/messages`, customer, {
      clientMessageId: randomUUID(),
      content: { text },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  }

  /** Waits for the conversation, as the customer sees it, to match. */
  const waitState = (customer: User, conversationId: string, match: (b: any) => boolean, what: string) =>
    until(
      async () => {
        const b = (await view(customer, conversationId)).business;
        return match(b) ? b : undefined;
      },
      what,
      20_000,
      POLL_APP_MS,
    );

  /** Waits for a `conversation:updated` of this conversation whose business part matches. */
  const waitUpdate = (u: User, conversationId: string, match: (b: any) => boolean, what: string) =>
    until(
      () => u.updates.find((c) => c.id === conversationId && c.business && match(c.business)),
      `${u.id}: conversation:updated ${what}`,
      15_000,
      10,
    );

  /** Waits for a system `message:new` in this conversation whose text matches. */
  async function waitSystem(u: User, conversationId: string, text: RegExp | string): Promise<any> {
    const m = await until(
      () =>
        u.messages.find(
          (m) =>
            m.conversationId === conversationId &&
            m.type === 'system' &&
            (typeof text === 'string' ? m.content?.text === text : text.test(m.content?.text ?? '')),
        ),
      `${u.id}: system message:new ${String(text)}`,
      15_000,
      10,
    );
    assert.equal(m.senderId, null);
    assert.equal(typeof m.seq, 'number');
    return m;
  }

  const joined = (agentId: string) => `${displayNameFor(agentId)} joined the conversation.`;

  async function loadOf(businessId: string, userId: string): Promise<number | undefined> {
    const { rows } = await sql.query('SELECT load FROM agents WHERE business_id = $1 AND user_id = $2', [
      businessId,
      userId,
    ]);
    return rows[0]?.load;
  }

  async function agentParticipants(conversationId: string): Promise<string[]> {
    const { rows } = await sql.query(
      `SELECT user_id FROM participants WHERE conversation_id = $1 AND role = 'agent' ORDER BY user_id`,
      [conversationId],
    );
    return rows.map((r) => r.user_id);
  }

  // ---- triggers --------------------------------------------------------------------------------

  it('a new business conversation is routed: assigned, announced to customer and agent', async (t) => {
    await putBusiness('t-new', ALWAYS);
    await putAgent('t-new', 'new.agent', 2);
    const agent = await user(t, 'new.agent');
    await waitPresence('t-new', agent.id, 'online');
    const customer = await user(t, 'new.customer');

    const c = await open(customer, 't-new');
    assert.equal(c.type, 'business');
    assert.deepEqual(c.business, {
      id: 't-new',
      profile: c.business.profile,
      status: 'assigned',
      assignedAgentId: agent.id,
      queuePosition: null,
      priority: 'normal',
      opensAt: null,
    });
    assert.deepEqual(c.participants.map((p: any) => [p.userId, p.role]).sort(), [
      [agent.id, 'agent'],
      [customer.id, 'customer'],
    ]);
    for (const u of [customer, agent]) {
      await waitUpdate(u, c.id, (b) => b.status === 'assigned' && b.assignedAgentId === agent.id, 'assigned');
      await waitSystem(u, c.id, joined(agent.id));
    }
    assert.deepEqual(await systemTexts(customer, c.id), [joined(agent.id)]);
    assert.equal(await loadOf('t-new', agent.id), 1);
    assert.deepEqual(await agentParticipants(c.id), [agent.id]);
  });

  it('resolving frees capacity for the queue; a customer message re-opens and re-routes a resolved one', async (t) => {
    await putBusiness('t-res', ALWAYS);
    await putAgent('t-res', 'res.agent', 1);
    const agent = await user(t, 'res.agent');
    await waitPresence('t-res', agent.id, 'online');
    const alice = await user(t, 'res.alice');
    const bob = await user(t, 'res.bob');

    const a = await open(alice, 't-res');
    assert.equal(a.business.status, 'assigned');
    const b = await open(bob, 't-res');
    assert.equal(b.business.status, 'queued');
    assert.equal(b.business.queuePosition, 1);
    assert.equal(b.business.assignedAgentId, null);
    await waitSystem(bob, b.id, 'All our agents are busy. You are number 1 in the queue.');

    // The agent resolves Alice's conversation: Bob's is assigned at once (before the response).
    const resolved = await api('POST', `/conversations/${a.id}/resolve`, agent);
    assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
    assert.equal(resolved.body.business.status, 'resolved');
    assert.equal(resolved.body.business.assignedAgentId, null);
    assert.equal((await view(bob, b.id)).business.status, 'assigned');
    assert.equal((await view(bob, b.id)).business.assignedAgentId, agent.id);
    assert.deepEqual(await agentParticipants(a.id), []);
    assert.deepEqual(await agentParticipants(b.id), [agent.id]);
    assert.equal(await loadOf('t-res', agent.id), 1);
    await waitUpdate(alice, a.id, (x) => x.status === 'resolved', 'resolved (customer)');
    // The agent left the participants and still hears of it.
    await waitUpdate(agent, a.id, (x) => x.status === 'resolved', 'resolved (agent)');
    await waitSystem(alice, a.id, 'This conversation was resolved. Write again any time to re-open it.');
    await waitUpdate(bob, b.id, (x) => x.status === 'assigned' && x.assignedAgentId === agent.id, 'assigned');
    await waitSystem(bob, b.id, joined(agent.id));

    // Alice writes again: re-opened and routed; the agent is full, so she queues.
    await say(alice, a.id, 'one more thing');
    await waitState(alice, a.id, (x) => x.status === 'queued' && x.queuePosition === 1, 'alice queued');
    await waitUpdate(alice, a.id, (x) => x.status === 'queued', 'queued');
    await waitSystem(alice, a.id, 'All our agents are busy. You are number 1 in the queue.');
    // Same conversation (one per customer and business), not a new one.
    const again = await api('POST', '/conversations', alice, { type: 'business', businessId: 't-res' });
    assert.equal(again.status, 200);
    assert.equal(again.body.id, a.id);

    // Bob's conversation resolved: Alice's gets the agent back.
    assert.equal((await api('POST', `/conversations/${b.id}/resolve`, agent)).status, 200);
    await waitUpdate(
      alice,
      a.id,
      (x) => x.status === 'assigned' && x.assignedAgentId === agent.id,
      'assigned',
    );
    assert.deepEqual(await agentParticipants(a.id), [agent.id]);
    assert.equal(await loadOf('t-res', agent.id), 1);
    // Her message is in the history, between the system messages.
    const texts = (await history(alice, a.id)).map((m) => `${m.type}:${m.content?.text}`);
    assert.deepEqual(texts, [
      `system:${joined(agent.id)}`,
      'system:This conversation was resolved. Write again any time to re-open it.',
      'text:one more thing',
      'system:All our agents are busy. You are number 1 in the queue.',
      `system:${joined(agent.id)}`,
    ]);
  });

  it('an agent coming online drains the queue, oldest first, up to their capacity', async (t) => {
    await putBusiness('t-on', ALWAYS);
    await putAgent('t-on', 'on.agent', 2);
    const customers = [await user(t, 'on.c1'), await user(t, 'on.c2'), await user(t, 'on.c3')];
    const convs = [];
    for (const c of customers) convs.push(await open(c, 't-on'));
    assert.deepEqual(
      convs.map((c) => [c.business.status, c.business.queuePosition]),
      [
        ['queued', 1],
        ['queued', 2],
        ['queued', 3],
      ],
    );

    const agent = await user(t, 'on.agent');
    await waitState(customers[0]!, convs[0].id, (b) => b.status === 'assigned', 'c1 assigned');
    await waitState(customers[1]!, convs[1].id, (b) => b.status === 'assigned', 'c2 assigned');
    for (const i of [0, 1]) {
      assert.equal((await view(customers[i]!, convs[i].id)).business.assignedAgentId, agent.id);
      await waitUpdate(customers[i]!, convs[i].id, (b) => b.status === 'assigned', `c${i + 1} assigned`);
      await waitSystem(agent, convs[i].id, joined(agent.id));
    }
    const third = (await view(customers[2]!, convs[2].id)).business;
    assert.equal(third.status, 'queued');
    assert.equal(third.queuePosition, 1);
    assert.equal(await loadOf('t-on', agent.id), 2);
    assert.equal((await businessView('t-on')).queueLength, 1);
  });

  it('an agent added while already online takes from the queue at once', async (t) => {
    await putBusiness('t-add', ALWAYS);
    const customer = await user(t, 'add.c');
    const c = await open(customer, 't-add');
    assert.deepEqual([c.business.status, c.business.queuePosition], ['queued', 1]);

    // Connected (and heartbeating) before an admin makes them an agent: no presence change follows.
    const agent = await user(t, 'add.agent');
    const presence = app.app.get(PresenceService);
    await until(async () => (await presence.isOnline([agent.id])).get(agent.id), 'add.agent online');
    const res = await api('PUT', `/businesses/t-add/agents/${agent.id}`, admin, { capacity: 2 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.agents, [{ userId: agent.id, capacity: 2, load: 1, presence: 'online' }]);
    assert.equal(res.body.queueLength, 0);
    // Done by the time the request answers.
    const b = (await view(customer, c.id)).business;
    assert.deepEqual([b.status, b.assignedAgentId], ['assigned', agent.id]);
    await waitUpdate(customer, c.id, (x) => x.status === 'assigned', 'assigned');
    await waitSystem(agent, c.id, joined(agent.id));
  });

  it("raising an online agent's capacity drains the queue at once", async (t) => {
    await putBusiness('t-raise', ALWAYS);
    await putAgent('t-raise', 'raise.agent', 1);
    const agent = await user(t, 'raise.agent');
    await waitPresence('t-raise', agent.id, 'online');
    const c1 = await open(await user(t, 'raise.c1'), 't-raise');
    const second = await user(t, 'raise.c2');
    const c2 = await open(second, 't-raise');
    assert.equal(c1.business.status, 'assigned');
    assert.equal(c2.business.status, 'queued');
    const res = await api('PUT', `/businesses/t-raise/agents/${agent.id}`, admin, { capacity: 2 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.queueLength, 0);
    assert.equal((await view(second, c2.id)).business.assignedAgentId, agent.id);
  });

  it('a newly assigned agent has unread what the customer wrote since the conversation was (re-)opened, not the notices before it', async (t) => {
    await putBusiness('t-unread', ALWAYS);
    await putAgent('t-unread', 'unread.agent', 1);
    const customer = await user(t, 'unread.c');
    const agent = await user(t, 'unread.agent', false);
    const c = await open(customer, 't-unread');
    assert.equal(c.business.status, 'queued');
    const busy = await waitSystem(customer, c.id, 'All our agents are busy. You are number 1 in the queue.');
    const first = await say(customer, c.id, 'first');
    await say(customer, c.id, 'second');

    // The agent comes online and is given it: the customer's two messages (and the agent's own
    // "joined" notice after them) are unread; the queue notice before them is not.
    await connect(agent);
    await waitState(customer, c.id, (b) => b.status === 'assigned', 'assigned');
    const readState = async () => {
      const v = await view(agent, c.id);
      return [v.participants.find((p: any) => p.userId === agent.id).lastReadSeq, v.unreadCount];
    };
    assert.ok(busy.seq < first.seq);
    assert.deepEqual(await readState(), [first.seq - 1, 3]);
    // The counter is exact: a recount at the same pointer gives the same number.
    const read = async (seq: number) => {
      const res = await api('POST', `/conversations/${c.id}/read`, agent, { seq });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return [res.body.lastReadSeq, res.body.unreadCount];
    };
    assert.deepEqual(await read(first.seq - 1), [first.seq - 1, 3]);
    const reply = await say(agent, c.id, 'how can I help?');
    assert.deepEqual(await readState(), [reply.seq, 0]);

    // Resolved, then re-opened by the customer: the same agent is given it again, and has unread
    // only what came since the resolve (not the round before it, which they left).
    assert.equal((await api('POST', `/conversations/${c.id}/resolve`, agent)).status, 200);
    const again = await say(customer, c.id, 'one more thing');
    await waitState(customer, c.id, (b) => b.status === 'assigned' && b.assignedAgentId === agent.id, 'back');
    assert.deepEqual(await readState(), [again.seq - 1, 2]);
    assert.deepEqual(await read(again.seq - 1), [again.seq - 1, 2]);
  });

  it('opening the chat of a resolved conversation returns it resolved; the next customer message re-opens it', async (t) => {
    await putBusiness('t-reopen', ALWAYS);
    await putAgent('t-reopen', 'reopen.agent', 1);
    const agent = await user(t, 'reopen.agent');
    await waitPresence('t-reopen', agent.id, 'online');
    const customer = await user(t, 'reopen.c');
    const c = await open(customer, 't-reopen');
    assert.equal(c.business.assignedAgentId, agent.id);
    await say(customer, c.id, 'my question');
    const resolved = await api('POST', `/conversations/${c.id}/resolve`, agent);
    assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
    const texts = await systemTexts(customer, c.id);

    // The customer's app opens the chat screen again: the existing conversation (200), as it is.
    const again = await api('POST', '/conversations', customer, { type: 'business', businessId: 't-reopen' });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.id, c.id);
    assert.deepEqual([again.body.business.status, again.body.business.assignedAgentId], ['resolved', null]);
    await sleep(300);
    assert.equal((await view(customer, c.id)).business.status, 'resolved');
    assert.equal(await loadOf('t-reopen', agent.id), 0);
    assert.deepEqual(await agentParticipants(c.id), []);
    assert.deepEqual(await systemTexts(customer, c.id), texts);

    // Their next message re-opens and re-routes it.
    await say(customer, c.id, 'another question');
    await waitState(
      customer,
      c.id,
      (b) => b.status === 'assigned' && b.assignedAgentId === agent.id,
      'assigned',
    );
    assert.equal(await loadOf('t-reopen', agent.id), 1);
  });

  it('an agent who writes to their own business stays its customer: never their own agent, another agent takes it', async (t) => {
    await putBusiness('t-self', ALWAYS);
    await putAgent('t-self', 'self.a', 2);
    const a = await user(t, 'self.a');
    await waitPresence('t-self', a.id, 'online');
    const c = await open(a, 't-self');
    assert.deepEqual(
      c.participants.map((p: any) => [p.userId, p.role]),
      [[a.id, 'customer']],
    );
    assert.deepEqual(
      [c.business.status, c.business.assignedAgentId, c.business.queuePosition],
      ['queued', null, 1],
    );
    // It waits for another agent; a conversation behind it is not held up by it.
    const other = await user(t, 'self.other');
    const o = await open(other, 't-self');
    assert.deepEqual([o.business.status, o.business.assignedAgentId], ['assigned', a.id]);
    // Nor is it transferred to them.
    const tr = await api('POST', `/conversations/${c.id}/transfer`, admin, { agentId: a.id });
    assert.equal(tr.status, 400, JSON.stringify(tr.body));
    assert.equal(tr.body.code, 'VALIDATION_FAILED');
    assert.equal(await loadOf('t-self', a.id), 1);

    // Another agent comes online and takes it; resolved, it stays its customer's.
    await putAgent('t-self', 'self.b', 1);
    const b = await user(t, 'self.b');
    await waitState(a, c.id, (x) => x.status === 'assigned' && x.assignedAgentId === b.id, 'given to self.b');
    assert.deepEqual((await view(a, c.id)).participants.map((p: any) => [p.userId, p.role]).sort(), [
      [a.id, 'customer'],
      [b.id, 'agent'],
    ]);
    assert.equal((await api('POST', `/conversations/${c.id}/resolve`, b)).status, 200);
    const mine = await view(a, c.id);
    assert.equal(mine.business.status, 'resolved');
    assert.deepEqual(
      mine.participants.map((p: any) => [p.userId, p.role]),
      [[a.id, 'customer']],
    );
  });

  it('an agent removed: their conversations are re-queued ahead of newer ones, then drained to another agent', async (t) => {
    await putBusiness('t-rm', ALWAYS);
    await putAgent('t-rm', 'rm.a', 2);
    await putAgent('t-rm', 'rm.b', 3);
    const a = await user(t, 'rm.a');
    await waitPresence('t-rm', a.id, 'online');
    const customers = [await user(t, 'rm.c1'), await user(t, 'rm.c2'), await user(t, 'rm.c3')];
    const convs = [];
    for (const c of customers) convs.push(await open(c, 't-rm'));
    assert.deepEqual(
      convs.map((c) => c.business.status),
      ['assigned', 'assigned', 'queued'],
    );

    const removed = await api('DELETE', '/businesses/t-rm/agents/rm.a', admin);
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    // Done by the time the request answers.
    const states = [];
    for (const [i, c] of customers.entries()) states.push((await view(c, convs[i].id)).business);
    assert.deepEqual(
      states.map((b) => [b.status, b.assignedAgentId, b.queuePosition]),
      [
        ['queued', null, 1],
        ['queued', null, 2],
        ['queued', null, 3],
      ],
    );
    assert.equal((await sql.query(`SELECT 1 FROM agents WHERE user_id = 'rm.a'`)).rowCount, 0);
    for (const c of convs) assert.deepEqual(await agentParticipants(c.id), []);
    assert.deepEqual(
      (await businessView('t-rm')).agents.map((x: any) => x.userId),
      ['rm.b'],
    );
    await waitUpdate(customers[0]!, convs[0].id, (b) => b.status === 'queued', 'requeued');
    await waitUpdate(a, convs[0].id, (b) => b.status === 'queued', 'requeued (removed agent)');
    await waitSystem(
      customers[0]!,
      convs[0].id,
      'Your agent is no longer available. You are back in the queue.',
    );

    // The other agent comes online and takes all three, in queue order.
    const b = await user(t, 'rm.b');
    for (const [i, c] of customers.entries())
      await waitState(
        c,
        convs[i].id,
        (x) => x.status === 'assigned' && x.assignedAgentId === b.id,
        `c${i + 1}`,
      );
    assert.equal(await loadOf('t-rm', b.id), 3);
    const order = (
      await sql.query(
        `SELECT conversation_id FROM messages WHERE sender_id IS NULL AND content->>'text' = $1 ORDER BY created_at, id`,
        [joined(b.id)],
      )
    ).rows.map((r) => r.conversation_id);
    assert.deepEqual(
      order,
      convs.map((c) => c.id),
    );
  });

  describe('opening time, then the offline grace period (one at a time)', { concurrency: false }, () => {
    // A zone where it is not late in the day now, so that "later today" exists.
    const zoneWithMorning = () => {
      for (const zone of ['UTC', 'Etc/GMT+6', 'Etc/GMT+12']) {
        const offsetH = zone === 'UTC' ? 0 : -Number(zone.slice(7));
        const hour = (new Date().getUTCHours() + offsetH + 24) % 24;
        if (hour <= 20) return { zone, offsetH, hour };
      }
      throw new Error('unreachable');
    };

    it('closed now, opening later today: closed with opensAt, one system message, customer messages kept; the sweep routes it at opening time', async (t) => {
      const { zone, offsetH, hour } = zoneWithMorning();
      const now = new Date();
      const localDay = DAYS[(new Date(now.getTime() + offsetH * 3_600_000).getUTCDay() + 6) % 7]!;
      const openH = String(hour + 2).padStart(2, '0');
      await putBusiness(
        't-later',
        [{ day: localDay, open: `${openH}:00`, close: `${String(hour + 3).padStart(2, '0')}:00` }],
        zone,
      );
      await putAgent('t-later', 'later.agent', 2);
      const agent = await user(t, 'later.agent');
      await waitPresence('t-later', agent.id, 'online');
      const customer = await user(t, 'later.customer');

      const c = await open(customer, 't-later');
      const local = new Date(now.getTime() + offsetH * 3_600_000);
      const expectedOpens = new Date(
        Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate(), hour + 2) -
          offsetH * 3_600_000,
      );
      assert.equal(c.business.status, 'closed');
      assert.equal(c.business.opensAt, expectedOpens.toISOString());
      assert.equal(c.business.assignedAgentId, null);
      assert.equal(c.business.queuePosition, null);
      const closedText = `We are closed right now, we open at ${openH}:00. Leave a message and we will get back to you.`;
      await waitSystem(customer, c.id, closedText);
      await waitUpdate(
        customer,
        c.id,
        (b) => b.status === 'closed' && b.opensAt === expectedOpens.toISOString(),
        'closed',
      );
      assert.deepEqual(await systemTexts(customer, c.id), [closedText]);
      assert.equal(await loadOf('t-later', agent.id), 0);

      // Opening time without a customer message: nothing to route.
      const routing = app.app.get(RoutingService);
      const afterOpening = new Date(expectedOpens.getTime() + 60_000);
      await routing.sweep(afterOpening);
      assert.equal((await view(customer, c.id)).business.status, 'closed');

      // The customer writes while closed: stored, no second closed message.
      const m = await say(customer, c.id, 'are you there?');
      assert.equal(m.type, 'text');
      await sleep(300);
      assert.equal((await view(customer, c.id)).business.status, 'closed');
      assert.deepEqual(
        (await history(customer, c.id)).map((x) => `${x.type}:${x.content.text}`),
        [`system:${closedText}`, 'text:are you there?'],
      );
      // The periodic sweep (every second, at the real time) leaves it alone while closed.
      await sleep(1_500);
      assert.equal((await view(customer, c.id)).business.status, 'closed');

      // At opening time the sweep queues and routes it.
      await routing.sweep(afterOpening);
      const routed = await view(customer, c.id);
      assert.equal(routed.business.status, 'assigned');
      assert.equal(routed.business.assignedAgentId, agent.id);
      assert.equal(routed.business.opensAt, null);
      await waitUpdate(customer, c.id, (b) => b.status === 'assigned', 'assigned');
      await waitUpdate(agent, c.id, (b) => b.status === 'assigned', 'assigned (agent)');
      await waitSystem(agent, c.id, joined(agent.id));
      assert.deepEqual(await systemTexts(customer, c.id), [closedText, joined(agent.id)]);
      assert.equal(await loadOf('t-later', agent.id), 1);
    });

    it('closed now, opening another day: the weekday is named; changing the hours lets the next customer message route it', async (t) => {
      const now = new Date();
      const inTwoDays = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 2, 10));
      const day = DAYS[(inTwoDays.getUTCDay() + 6) % 7]!;
      await putBusiness('t-other', [{ day, open: '10:00', close: '11:30' }]);
      await putAgent('t-other', 'other.agent', 1);
      const agent = await user(t, 'other.agent');
      await waitPresence('t-other', agent.id, 'online');
      const customer = await user(t, 'other.customer');

      const c = await open(customer, 't-other');
      assert.equal(c.business.status, 'closed');
      assert.equal(c.business.opensAt, inTwoDays.toISOString());
      const label = inTwoDays.toLocaleDateString('en-US', { weekday: 'short', timeZone: 'UTC' });
      const closedText = `We are closed right now, we open at ${label} 10:00. Leave a message and we will get back to you.`;
      await waitSystem(customer, c.id, closedText);
      // Opening it again while closed changes nothing.
      const again = await api('POST', '/conversations', customer, {
        type: 'business',
        businessId: 't-other',
      });
      assert.equal(again.status, 200);
      assert.equal(again.body.id, c.id);
      await say(customer, c.id, 'hello?');
      await sleep(300);
      assert.deepEqual(await systemTexts(customer, c.id), [closedText]);

      // Open around the clock now: the customer's next message routes it.
      await putBusiness('t-other', ALWAYS);
      await say(customer, c.id, 'still there?');
      await waitState(
        customer,
        c.id,
        (b) => b.status === 'assigned' && b.assignedAgentId === agent.id,
        'assigned',
      );
      await waitSystem(customer, c.id, joined(agent.id));
      assert.deepEqual(await systemTexts(customer, c.id), [closedText, joined(agent.id)]);
    });

    it('an agent who disconnects keeps their conversations for the grace period, then they are re-queued ahead of newer ones', async (t) => {
      await putBusiness('t-grace', ALWAYS);
      await putAgent('t-grace', 'grace.agent', 1);
      const agent = await user(t, 'grace.agent');
      await waitPresence('t-grace', agent.id, 'online');
      const first = await user(t, 'grace.c1');
      const second = await user(t, 'grace.c2');
      const c1 = await open(first, 't-grace');
      const c2 = await open(second, 't-grace');
      assert.equal(c1.business.status, 'assigned');
      assert.equal(c2.business.status, 'queued');

      disconnect(agent);
      await waitPresence('t-grace', agent.id, 'offline');
      const requeued = await waitState(first, c1.id, (b) => b.status === 'queued', 'c1 re-queued');
      assert.equal(requeued.assignedAgentId, null);
      assert.equal(requeued.queuePosition, 1);
      assert.equal((await view(second, c2.id)).business.queuePosition, 2);
      assert.deepEqual(await agentParticipants(c1.id), []);
      assert.equal(await loadOf('t-grace', agent.id), 0);
      await waitUpdate(first, c1.id, (b) => b.status === 'queued' && b.assignedAgentId === null, 'queued');
      const notice = await waitSystem(
        first,
        c1.id,
        'Your agent is no longer available. You are back in the queue.',
      );
      // Not before the grace period: the notice is at least AGENT_GRACE_S after the agent went offline.
      const { rows } = await sql.query(
        `SELECT $1::timestamptz - offline_since AS waited, extract(epoch FROM $1::timestamptz - offline_since) AS s
           FROM agents WHERE user_id = $2`,
        [notice.createdAt, agent.id],
      );
      assert.ok(Number(rows[0].s) >= GRACE_S, `re-queued after ${rows[0].s} s`);

      // Back online: the queue drains in order, the re-queued conversation first.
      await connect(agent);
      await waitState(
        first,
        c1.id,
        (b) => b.status === 'assigned' && b.assignedAgentId === agent.id,
        'c1 back',
      );
      assert.equal((await view(second, c2.id)).business.status, 'queued');
    });

    it('an agent who comes back within the grace period keeps their conversation', async (t) => {
      await putBusiness('t-back', ALWAYS);
      await putAgent('t-back', 'back.agent', 1);
      const agent = await user(t, 'back.agent');
      await waitPresence('t-back', agent.id, 'online');
      const customer = await user(t, 'back.c');
      const c = await open(customer, 't-back');
      assert.equal(c.business.assignedAgentId, agent.id);
      disconnect(agent);
      await waitPresence('t-back', agent.id, 'offline');
      const graceRunning = async (running: boolean) =>
        (
          await sql.query(`SELECT 1 FROM agents WHERE user_id = $1 AND (offline_since IS NOT NULL) = $2`, [
            agent.id,
            running,
          ])
        ).rowCount === 1;
      await until(() => graceRunning(true), 'the offline handled');
      await connect(agent);
      await waitPresence('t-back', agent.id, 'online');
      await until(() => graceRunning(false), 'the online handled');
      await sleep(GRACE_S * 1000 + 300);
      await app.app.get(RoutingService).sweep(new Date());
      const b = (await view(customer, c.id)).business;
      assert.deepEqual([b.status, b.assignedAgentId], ['assigned', agent.id]);
      assert.deepEqual(await systemTexts(customer, c.id), [joined(agent.id)]);
    });

    it('an online event handled late, after the agent went offline again, does not cancel the grace period', async (t) => {
      await putBusiness('t-late', ALWAYS);
      await putAgent('t-late', 'late.agent', 1);
      const agent = await user(t, 'late.agent');
      await waitPresence('t-late', agent.id, 'online');
      const customer = await user(t, 'late.c');
      const c = await open(customer, 't-late');
      assert.equal(c.business.assignedAgentId, agent.id);
      disconnect(agent);
      await waitPresence('t-late', agent.id, 'offline');
      await until(
        async () =>
          (
            await sql.query(`SELECT 1 FROM agents WHERE user_id = $1 AND offline_since IS NOT NULL`, [
              agent.id,
            ])
          ).rowCount === 1,
        'the offline handled (offline_since set)',
      );
      // The `online` of the connection just closed, handled only now (each presence event is handled
      // in the background, in no guaranteed order).
      app.app.get(DomainEvents).emit('presence.changed', {
        userId: agent.id,
        status: 'online',
        lastSeenAt: new Date().toISOString(),
      });
      const requeued = await waitState(customer, c.id, (b) => b.status === 'queued', 'c re-queued');
      assert.equal(requeued.assignedAgentId, null);
    });

    it('an agent whose connection stops heartbeating goes offline; after the grace period another free agent gets the conversation', async (t) => {
      await putBusiness('t-silent', ALWAYS);
      await putAgent('t-silent', 'silent.a', 1);
      await putAgent('t-silent', 'silent.b', 1);
      const a = await user(t, 'silent.a');
      await waitPresence('t-silent', a.id, 'online');
      const customer = await user(t, 'silent.c');
      const c = await open(customer, 't-silent');
      assert.equal(c.business.assignedAgentId, a.id);
      const b = await user(t, 'silent.b');
      await waitPresence('t-silent', b.id, 'online');

      // The socket stays open but stops heartbeating: offline after PRESENCE_TTL_S, then the grace period.
      a.stopBeating();
      const moved = await waitState(customer, c.id, (x) => x.assignedAgentId === b.id, 'given to silent.b');
      assert.equal(moved.status, 'assigned');
      assert.deepEqual(await agentParticipants(c.id), [b.id]);
      assert.equal(await loadOf('t-silent', a.id), 0);
      assert.equal(await loadOf('t-silent', b.id), 1);
      await waitUpdate(customer, c.id, (x) => x.assignedAgentId === b.id, 'assigned to b');
      await waitUpdate(b, c.id, (x) => x.assignedAgentId === b.id, 'assigned to b (agent)');
      await waitSystem(b, c.id, joined(b.id));
      // Re-queued and assigned in one go: no "back in the queue" notice.
      assert.deepEqual(await systemTexts(customer, c.id), [joined(a.id), joined(b.id)]);
    });
    it('an agent whose instance died (their connection never closed, never checked) goes offline by the sweep; after the grace period the conversation is re-queued', async (t) => {
      await putBusiness('t-dead', ALWAYS);
      await putAgent('t-dead', 'dead.agent', 1);
      const agent = await user(t, 'dead.agent', false);
      await app.app.get(PresenceService).beat(agent.id, 'connection-of-a-dead-instance');
      await waitPresence('t-dead', agent.id, 'online');
      const customer = await user(t, 'dead.c');
      const c = await open(customer, 't-dead');
      assert.equal(c.business.assignedAgentId, agent.id);
      const requeued = await waitState(customer, c.id, (b) => b.status === 'queued', 'c re-queued');
      assert.equal(requeued.assignedAgentId, null);
      assert.equal(await loadOf('t-dead', agent.id), 0);
    });
  });

  it('to an agent with capacity: reassigned; to a full agent: 409 and nothing changes; to a non-agent: 400', async (t) => {
    await putBusiness('t-tr', ALWAYS);
    for (const id of ['tr.a1', 'tr.a2', 'tr.a3']) await putAgent('t-tr', id, 1);
    const [a1, a2, a3] = [await user(t, 'tr.a1'), await user(t, 'tr.a2'), await user(t, 'tr.a3')];
    for (const a of [a1, a2, a3]) await waitPresence('t-tr', a!.id, 'online');
    const customers = [await user(t, 'tr.c1'), await user(t, 'tr.c2'), await user(t, 'tr.c3')];
    const convs = [];
    for (const c of customers) convs.push(await open(c, 't-tr'));
    assert.deepEqual(
      convs.map((c) => c.business.assignedAgentId),
      ['tr.a1', 'tr.a2', 'tr.a3'],
    );
    // The business's state: its conversations, agents, participants and messages. One query after
    // another: `sql` is one client (pg 9 refuses a query while another runs on it).
    const snapshot = async () => {
      const rows: unknown[] = [];
      for (const q of [
        `SELECT id, business_status, assigned_agent_id, priority, queued_at FROM conversations
          WHERE business_id = 't-tr' ORDER BY id`,
        `SELECT user_id, load, last_assigned_at FROM agents WHERE business_id = 't-tr' ORDER BY 1`,
        `SELECT p.conversation_id, p.user_id, p.role FROM participants p
           JOIN conversations c ON c.id = p.conversation_id WHERE c.business_id = 't-tr' ORDER BY 1, 2`,
        `SELECT count(*)::int AS n FROM messages m
           JOIN conversations c ON c.id = m.conversation_id WHERE c.business_id = 't-tr'`,
      ])
        rows.push((await sql.query(q)).rows);
      return JSON.stringify(rows);
    };

    // To a full agent: 409, nothing changes.
    const before = await snapshot();
    const full = await api('POST', `/conversations/${convs[0].id}/transfer`, a1!, { agentId: 'tr.a2' });
    assert.equal(full.status, 409, JSON.stringify(full.body));
    assert.equal(full.body.code, 'CONFLICT');
    assert.equal(await snapshot(), before);
    // To someone who is not an agent of this business (or an agent of another one): 400.
    await putBusiness('t-tr-other', ALWAYS);
    await putAgent('t-tr-other', 'tr.elsewhere', 5);
    for (const agentId of ['tr.stranger', 'tr.elsewhere']) {
      const res = await api('POST', `/conversations/${convs[0].id}/transfer`, admin, { agentId });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.code, 'VALIDATION_FAILED');
    }
    assert.equal(await snapshot(), before);

    // a3 resolves: a3 has capacity. a1 transfers c1 to a3.
    assert.equal((await api('POST', `/conversations/${convs[2].id}/resolve`, a3!)).status, 200);
    const moved = await api('POST', `/conversations/${convs[0].id}/transfer`, a1!, { agentId: 'tr.a3' });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.body.business.status, 'assigned');
    assert.equal(moved.body.business.assignedAgentId, 'tr.a3');
    assert.deepEqual(await agentParticipants(convs[0].id), ['tr.a3']);
    assert.deepEqual(
      [await loadOf('t-tr', 'tr.a1'), await loadOf('t-tr', 'tr.a2'), await loadOf('t-tr', 'tr.a3')],
      [0, 1, 1],
    );
    const c1 = customers[0]!;
    assert.deepEqual((await view(c1, convs[0].id)).participants.map((p: any) => [p.userId, p.role]).sort(), [
      ['tr.a3', 'agent'],
      ['tr.c1', 'customer'],
    ]);
    await waitUpdate(c1, convs[0].id, (b) => b.assignedAgentId === 'tr.a3', 'transferred');
    await waitUpdate(a1!, convs[0].id, (b) => b.assignedAgentId === 'tr.a3', 'transferred (old agent)');
    await waitUpdate(a3!, convs[0].id, (b) => b.assignedAgentId === 'tr.a3', 'transferred (new agent)');
    await waitSystem(a3!, convs[0].id, joined('tr.a3'));
    // The old agent cannot read it any more.
    assert.equal((await api('GET', `/conversations/${convs[0].id}`, a1!)).status, 404);

    // An admin transfers it back to a1 (who is free now).
    const back = await api('POST', `/conversations/${convs[0].id}/transfer`, admin, { agentId: 'tr.a1' });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal(back.body.business.assignedAgentId, 'tr.a1');
    assert.deepEqual(await agentParticipants(convs[0].id), ['tr.a1']);
    assert.deepEqual(
      [await loadOf('t-tr', 'tr.a1'), await loadOf('t-tr', 'tr.a2'), await loadOf('t-tr', 'tr.a3')],
      [1, 1, 0],
    );
  });
});
