// Business routing under contention (CONTRACT §5, §7): two app instances over one PostgreSQL and one
// Redis, a business open around the clock with 3 online agents of capacity 2, and 50 customers opening
// conversations at once, half through each instance. Then escalation, and the order in which freed
// capacity is handed out (high priority first, then the oldest).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import type { Socket } from 'socket.io-client';
import { connectSocket, http, testWorld, token, type TestApp } from './support/app';
import { until } from './support/processes';

const ALWAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((day) => ({
  day,
  open: '00:00',
  close: '24:00',
}));
const BUSINESS = 'busy-shop';
const AGENTS = ['agent.1', 'agent.2', 'agent.3'];
const CUSTOMERS = Array.from({ length: 50 }, (_, i) => `customer.${String(i).padStart(2, '0')}`);

describe('business routing across two instances', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let apps: TestApp[];
  let sql: Client;
  let admin: string;
  const tokens = new Map<string, string>();
  const sockets: Socket[] = [];
  const beats: NodeJS.Timeout[] = [];
  /** customer -> conversation id */
  const conversations = new Map<string, string>();

  before(async () => {
    world = await testWorld({ redis: true });
    // The sweep stays out of the way (nobody goes offline here).
    apps = [await world.start({ ROUTING_SWEEP_S: '0' }), await world.start({ ROUTING_SWEEP_S: '0' })];
    sql = new Client({ connectionString: world.db.url });
    await sql.connect();
    admin = await token('root', { admin: true });
    for (const id of [...AGENTS, ...CUSTOMERS, 'stranger']) tokens.set(id, await token(id));
  });
  after(async () => {
    for (const b of beats) clearInterval(b);
    for (const s of sockets) s.close();
    await sql.end();
    await world.close();
  });

  const api = (i: number, method: string, path: string, who: string, body?: unknown) =>
    http(apps[i % 2]!.url, method, path, { token: who === 'admin' ? admin : tokens.get(who)!, body });

  const business = async () => {
    const res = await api(0, 'GET', `/businesses/${BUSINESS}`, 'admin');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  };

  /** Every conversation of the business as its customer sees it, keyed by customer. */
  async function views(): Promise<Map<string, any>> {
    const out = new Map<string, any>();
    await Promise.all(
      CUSTOMERS.map(async (c, i) => {
        const res = await api(i, 'GET', `/conversations/${conversations.get(c)}`, c);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        out.set(c, res.body);
      }),
    );
    return out;
  }

  async function invariants(): Promise<void> {
    // No agent over capacity, and `load` is exactly what they hold.
    const { rows: agents } = await sql.query(
      `SELECT a.user_id, a.capacity, a.load,
              (SELECT count(*)::int FROM conversations c
                WHERE c.business_id = a.business_id AND c.assigned_agent_id = a.user_id AND c.business_status = 'assigned') AS held
         FROM agents a WHERE a.business_id = $1 ORDER BY a.user_id`,
      [BUSINESS],
    );
    for (const a of agents) {
      assert.ok(a.load <= a.capacity, `${a.user_id} holds ${a.load} > ${a.capacity}`);
      assert.equal(a.held, a.load, `${a.user_id}: load ${a.load} but ${a.held} assigned`);
    }
    // No conversation with two agents; assigned ones have exactly their agent, others none.
    const { rows: twice } = await sql.query(
      `SELECT conversation_id FROM participants WHERE role = 'agent' GROUP BY conversation_id HAVING count(*) > 1`,
    );
    assert.deepEqual(twice, []);
    const { rows: mismatched } = await sql.query(
      `SELECT c.id FROM conversations c
        WHERE c.business_id = $1
          AND (SELECT array_agg(p.user_id) FROM participants p WHERE p.conversation_id = c.id AND p.role = 'agent')
              IS DISTINCT FROM (CASE WHEN c.business_status = 'assigned' THEN ARRAY[c.assigned_agent_id] END)`,
      [BUSINESS],
    );
    assert.deepEqual(mismatched, []);
  }

  it('50 customers at once, through two instances: 6 assigned, 44 queued at positions 1..44', async () => {
    assert.equal(
      (await api(0, 'PUT', `/businesses/${BUSINESS}`, 'admin', { timeZone: 'Europe/Berlin', hours: ALWAYS }))
        .status,
      201,
    );
    for (const [i, a] of AGENTS.entries()) {
      const res = await api(i, 'PUT', `/businesses/${BUSINESS}/agents/${a}`, 'admin', { capacity: 2 });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      // Agents connect to both instances; each heartbeats well within the presence TTL.
      const socket = await connectSocket(apps[i % 2]!.url, tokens.get(a));
      sockets.push(socket);
      beats.push(setInterval(() => socket.emit('presence:heartbeat', {}), 5_000));
    }
    await until(
      async () => (await business()).agents.every((a: any) => a.presence === 'online'),
      'all agents online',
      30_000,
      150,
    );

    const responses = await Promise.all(
      CUSTOMERS.map((c, i) =>
        api(i, 'POST', '/conversations', c, { type: 'business', businessId: BUSINESS }),
      ),
    );
    for (const [i, res] of responses.entries()) {
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.type, 'business');
      assert.ok(res.body.participants.some((p: any) => p.userId === CUSTOMERS[i] && p.role === 'customer'));
      conversations.set(CUSTOMERS[i]!, res.body.id);
    }
    assert.equal(new Set(conversations.values()).size, 50);

    const all = await views();
    const assigned = [...all.values()].filter((v) => v.business.status === 'assigned');
    const queued = [...all.values()].filter((v) => v.business.status === 'queued');
    assert.equal(assigned.length, 6);
    assert.equal(queued.length, 44);
    assert.deepEqual(
      queued.map((v) => v.business.queuePosition).sort((a, b) => a - b),
      Array.from({ length: 44 }, (_, i) => i + 1),
    );
    for (const v of queued) assert.equal(v.business.assignedAgentId, null);
    for (const v of assigned) {
      assert.ok(AGENTS.includes(v.business.assignedAgentId));
      assert.equal(v.business.queuePosition, null);
      assert.ok(
        v.participants.some((p: any) => p.userId === v.business.assignedAgentId && p.role === 'agent'),
      );
    }
    const perAgent = AGENTS.map((a) => assigned.filter((v) => v.business.assignedAgentId === a).length);
    assert.deepEqual(perAgent, [2, 2, 2]);

    // The same in SQL.
    const { rows: statuses } = await sql.query(
      `SELECT business_status, count(*)::int AS n FROM conversations WHERE business_id = $1 GROUP BY 1 ORDER BY 1`,
      [BUSINESS],
    );
    assert.deepEqual(statuses, [
      { business_status: 'assigned', n: 6 },
      { business_status: 'queued', n: 44 },
    ]);
    const { rows: loads } = await sql.query(
      `SELECT user_id, capacity, load FROM agents WHERE business_id = $1 ORDER BY user_id`,
      [BUSINESS],
    );
    assert.deepEqual(
      loads,
      AGENTS.map((user_id) => ({ user_id, capacity: 2, load: 2 })),
    );
    await invariants();
    // Every conversation got exactly one system message: who joined, or its place in the queue.
    const { rows: notes } = await sql.query(
      `SELECT c.id, c.business_status, array_agg(m.content->>'text') AS texts
         FROM conversations c JOIN messages m ON m.conversation_id = c.id AND m.type = 'system' AND m.sender_id IS NULL
        WHERE c.business_id = $1 GROUP BY c.id, c.business_status`,
      [BUSINESS],
    );
    assert.equal(notes.length, 50);
    for (const n of notes) {
      assert.equal(n.texts.length, 1, JSON.stringify(n));
      assert.match(
        n.texts[0],
        n.business_status === 'assigned'
          ? / joined the conversation\.$/
          : /^All our agents are busy\. You are number \d+ in the queue\.$/,
      );
    }

    const view = await business();
    assert.equal(view.queueLength, 44);
    assert.deepEqual(
      view.agents.map((a: any) => [a.userId, a.capacity, a.load, a.presence]),
      AGENTS.map((a) => [a, 2, 2, 'online']),
    );
  });

  it('escalated: position 1; resolving frees capacity for it first, then for the oldest normal one', async () => {
    let all = await views();
    const byPosition = new Map(
      [...all]
        .filter(([, v]) => v.business.status === 'queued')
        .map(([c, v]) => [v.business.queuePosition, c]),
    );
    const oldestNormal = byPosition.get(1)!;
    const second = byPosition.get(2)!;
    const escalated = byPosition.get(30)!;
    // The head of the queue is the oldest queued (by queued_at, then id).
    const { rows: head } = await sql.query(
      `SELECT id FROM conversations WHERE business_id = $1 AND business_status = 'queued' ORDER BY queued_at, id LIMIT 1`,
      [BUSINESS],
    );
    assert.equal(head[0].id, conversations.get(oldestNormal));

    // An agent escalates: priority high, position 1; everyone ahead of it moves back one.
    const esc = await api(1, 'POST', `/conversations/${conversations.get(escalated)}/escalate`, 'agent.2');
    assert.equal(esc.status, 200, JSON.stringify(esc.body));
    assert.equal(esc.body.business.priority, 'high');
    assert.equal(esc.body.business.status, 'queued');
    assert.equal(esc.body.business.queuePosition, 1);
    all = await views();
    assert.equal(all.get(escalated).business.queuePosition, 1);
    assert.equal(all.get(oldestNormal).business.queuePosition, 2);
    assert.equal(all.get(second).business.queuePosition, 3);
    assert.equal(all.get(byPosition.get(31)!).business.queuePosition, 31);
    assert.deepEqual(
      [...all.values()]
        .filter((v) => v.business.status === 'queued')
        .map((v) => v.business.queuePosition)
        .sort((a, b) => a - b),
      Array.from({ length: 44 }, (_, i) => i + 1),
    );
    const { rows: prio } = await sql.query(
      `SELECT priority, count(*)::int AS n FROM conversations WHERE business_id = $1 GROUP BY 1 ORDER BY 1`,
      [BUSINESS],
    );
    assert.deepEqual(prio, [
      { priority: 'high', n: 1 },
      { priority: 'normal', n: 49 },
    ]);

    // agent.1 resolves one of theirs (through the other instance): the escalated one is assigned to them.
    const mine = [...all.values()].find((v) => v.business.assignedAgentId === 'agent.1')!;
    const resolved = await api(0, 'POST', `/conversations/${mine.id}/resolve`, 'agent.1');
    assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
    assert.equal(resolved.body.business.status, 'resolved');
    all = await views();
    assert.equal(all.get(escalated).business.status, 'assigned');
    assert.equal(all.get(escalated).business.assignedAgentId, 'agent.1');
    assert.equal(all.get(oldestNormal).business.status, 'queued');
    assert.equal(all.get(oldestNormal).business.queuePosition, 1);
    assert.equal((await business()).queueLength, 43);
    await invariants();

    // agent.3 resolves one: the oldest normal one is next.
    const theirs = [...all.values()].find((v) => v.business.assignedAgentId === 'agent.3')!;
    assert.equal((await api(1, 'POST', `/conversations/${theirs.id}/resolve`, 'agent.3')).status, 200);
    all = await views();
    // Seen failing once in a few dozen loaded runs ('queued'): the business as it stood, to tell why.
    assert.equal(
      all.get(oldestNormal).business.status,
      'assigned',
      `the oldest normal one stayed queued; business: ${JSON.stringify(await business())}`,
    );
    assert.equal(all.get(oldestNormal).business.assignedAgentId, 'agent.3');
    assert.equal(all.get(second).business.queuePosition, 1);
    const view = await business();
    assert.equal(view.queueLength, 42);
    assert.deepEqual(
      view.agents.map((a: any) => a.load),
      [2, 2, 2],
    );
    await invariants();
    const { rows: statuses } = await sql.query(
      `SELECT business_status, count(*)::int AS n FROM conversations WHERE business_id = $1 GROUP BY 1 ORDER BY 1`,
      [BUSINESS],
    );
    assert.deepEqual(statuses, [
      { business_status: 'assigned', n: 6 },
      { business_status: 'queued', n: 42 },
      { business_status: 'resolved', n: 2 },
    ]);
  });
});
