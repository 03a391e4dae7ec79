import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compareQueue, drainQueue, pickAgent, route, type AgentState, type QueueEntry } from './routing';

const agent = (
  userId: string,
  load: number,
  opts: Partial<Omit<AgentState, 'userId' | 'load'>> = {},
): AgentState => ({ userId, load, capacity: 2, online: true, lastAssignedAt: null, ...opts });
const at = (minute: number) => new Date(Date.UTC(2025, 0, 6, 9, minute));
const entry = (conversationId: string, priority: 'normal' | 'high', minute: number): QueueEntry => ({
  conversationId,
  priority,
  queuedAt: at(minute),
});

describe('routing decision: route()', () => {
  it('closed: closed with opensAt, whoever is free', () => {
    const opensAt = new Date('2025-01-06T08:00:00Z');
    assert.deepEqual(route({ open: false, opensAt, agents: [agent('a', 0)] }), { kind: 'closed', opensAt });
    assert.deepEqual(route({ open: false, opensAt: null, agents: [] }), { kind: 'closed', opensAt: null });
  });

  it('open: the least-loaded online agent', () => {
    const agents = [
      agent('a', 2, { capacity: 5 }),
      agent('b', 1, { capacity: 5 }),
      agent('c', 3, { capacity: 5 }),
    ];
    assert.deepEqual(route({ open: true, opensAt: null, agents }), { kind: 'assign', agentId: 'b' });
  });

  it('open, nobody free (no agents, all offline, all full): queue', () => {
    assert.deepEqual(route({ open: true, opensAt: null, agents: [] }), { kind: 'queue' });
    assert.deepEqual(
      route({ open: true, opensAt: null, agents: [agent('a', 0, { online: false }), agent('b', 2)] }),
      { kind: 'queue' },
    );
    // Capacity 0 is never free; a load above capacity (capacity lowered) neither.
    assert.deepEqual(
      route({ open: true, opensAt: null, agents: [agent('a', 0, { capacity: 0 }), agent('b', 3)] }),
      { kind: 'queue' },
    );
  });
});

describe('routing decision: pickAgent()', () => {
  it('ties on load go to the one idle longest; never assigned counts as idle longest', () => {
    const agents = [
      agent('a', 1, { lastAssignedAt: at(30) }),
      agent('b', 1, { lastAssignedAt: at(10) }),
      agent('c', 1, { lastAssignedAt: at(20) }),
    ];
    assert.equal(pickAgent(agents)?.userId, 'b');
    assert.equal(pickAgent([...agents, agent('d', 1, { lastAssignedAt: null })])?.userId, 'd');
    // Load first: a less-loaded agent wins over one idle longer.
    assert.equal(pickAgent([...agents, agent('e', 0, { lastAssignedAt: at(59) })])?.userId, 'e');
  });

  it('then by id, whatever the input order', () => {
    const agents = [agent('m', 0), agent('c', 0), agent('x', 0)];
    assert.equal(pickAgent(agents)?.userId, 'c');
    assert.equal(pickAgent([...agents].reverse())?.userId, 'c');
    const same = [agent('q', 1, { lastAssignedAt: at(5) }), agent('p', 1, { lastAssignedAt: at(5) })];
    assert.equal(pickAgent(same)?.userId, 'p');
  });

  it('offline or full agents are never chosen, however idle', () => {
    const agents = [
      agent('a', 0, { online: false }),
      agent('b', 2, { capacity: 2 }),
      agent('c', 1, { capacity: 2, lastAssignedAt: at(50) }),
    ];
    assert.equal(pickAgent(agents)?.userId, 'c');
    assert.equal(pickAgent(agents.slice(0, 2)), undefined);
  });

  it('property: the choice is online, not full, and no other eligible agent is preferable', () => {
    const agents = fc.uniqueArray(
      fc.record({
        userId: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
        capacity: fc.integer({ min: 0, max: 4 }),
        load: fc.integer({ min: 0, max: 5 }),
        online: fc.boolean(),
        lastAssignedAt: fc.option(fc.integer({ min: 0, max: 5 }).map(at)),
      }),
      { selector: (a) => a.userId, maxLength: 6 },
    );
    fc.assert(
      fc.property(agents, (pool) => {
        const chosen = pickAgent(pool);
        const eligible = pool.filter((a) => a.online && a.load < a.capacity);
        if (!eligible.length) return assert.equal(chosen, undefined);
        assert.ok(chosen && chosen.online && chosen.load < chosen.capacity);
        const idle = (a: AgentState) => a.lastAssignedAt?.getTime() ?? -Infinity;
        for (const other of eligible) {
          assert.ok(chosen.load <= other.load);
          if (other.load === chosen.load) assert.ok(idle(chosen) <= idle(other));
          if (other.load === chosen.load && idle(other) === idle(chosen))
            assert.ok(chosen.userId <= other.userId);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('routing decision: compareQueue()', () => {
  it('high before normal, then oldest, then by id', () => {
    const q = [
      entry('n-late', 'normal', 30),
      entry('h-late', 'high', 40),
      entry('n-early', 'normal', 1),
      entry('h-early', 'high', 20),
      entry('n-b', 'normal', 10),
      entry('n-a', 'normal', 10),
    ];
    assert.deepEqual(
      [...q].sort(compareQueue).map((e) => e.conversationId),
      ['h-early', 'h-late', 'n-early', 'n-a', 'n-b', 'n-late'],
    );
  });

  const queueEntry = fc.record({
    conversationId: fc.constantFrom('c1', 'c2', 'c3', 'c4'),
    priority: fc.constantFrom<'normal' | 'high'>('normal', 'high'),
    queuedAt: fc.integer({ min: 0, max: 3 }).map(at),
  });
  const sign = (n: number) => Math.sign(n);
  const same = (a: QueueEntry, b: QueueEntry) =>
    a.conversationId === b.conversationId &&
    a.priority === b.priority &&
    a.queuedAt.getTime() === b.queuedAt.getTime();

  it('property: a total order (reflexive, antisymmetric, transitive, total)', () => {
    fc.assert(
      fc.property(queueEntry, queueEntry, queueEntry, (a, b, c) => {
        assert.equal(sign(compareQueue(a, a)), 0);
        // Antisymmetric: opposite signs, and 0 only for the same entry.
        assert.equal(sign(compareQueue(a, b)) + sign(compareQueue(b, a)), 0);
        assert.equal(compareQueue(a, b) === 0, same(a, b));
        // Transitive for < and <=.
        if (compareQueue(a, b) < 0 && compareQueue(b, c) < 0) assert.ok(compareQueue(a, c) < 0);
        if (compareQueue(a, b) <= 0 && compareQueue(b, c) <= 0) assert.ok(compareQueue(a, c) <= 0);
      }),
      { numRuns: 5000 },
    );
  });

  it('property: sorting does not depend on the input order', () => {
    fc.assert(
      fc.property(
        fc
          .uniqueArray(queueEntry, { selector: (e) => e.conversationId, maxLength: 4 })
          .chain((q) =>
            fc.tuple(fc.constant(q), fc.shuffledSubarray(q, { minLength: q.length, maxLength: q.length })),
          ),
        ([q, shuffled]) =>
          assert.deepEqual(
            [...q].sort(compareQueue).map((e) => e.conversationId),
            [...shuffled].sort(compareQueue).map((e) => e.conversationId),
          ),
      ),
      { numRuns: 1000 },
    );
  });
});

describe('routing decision: drainQueue()', () => {
  it('assigns in queue order (high first, then oldest), each pick to the least-loaded agent', () => {
    const queue = [
      entry('n2', 'normal', 5),
      entry('n1', 'normal', 1),
      entry('h1', 'high', 9),
      entry('n3', 'normal', 7),
    ];
    const agents = [agent('a', 0, { capacity: 2 }), agent('b', 1, { capacity: 3 })];
    assert.deepEqual(drainQueue(queue, agents), [
      { conversationId: 'h1', agentId: 'a' },
      // a and b both at 1, neither ever assigned: by id.
      { conversationId: 'n1', agentId: 'a' },
      // a is full (2/2).
      { conversationId: 'n2', agentId: 'b' },
      { conversationId: 'n3', agentId: 'b' },
    ]);
    // The input is not changed.
    assert.deepEqual(
      agents.map((a) => a.load),
      [0, 1],
    );
  });

  it('stops when no agent is free; an empty queue or no agents assigns nothing', () => {
    const queue = [entry('c1', 'normal', 1), entry('c2', 'normal', 2), entry('c3', 'normal', 3)];
    assert.deepEqual(drainQueue(queue, [agent('a', 1, { capacity: 2 })]), [
      { conversationId: 'c1', agentId: 'a' },
    ]);
    assert.deepEqual(drainQueue(queue, [agent('a', 0, { online: false }), agent('b', 2)]), []);
    assert.deepEqual(drainQueue(queue, []), []);
    assert.deepEqual(drainQueue([], [agent('a', 0)]), []);
  });

  it('prefers the agent idle longest on ties', () => {
    const agents = [agent('a', 0, { lastAssignedAt: at(20) }), agent('b', 0, { lastAssignedAt: at(10) })];
    assert.deepEqual(drainQueue([entry('c1', 'normal', 1)], agents), [
      { conversationId: 'c1', agentId: 'b' },
    ]);
  });

  const agents = fc.uniqueArray(
    fc.record({
      userId: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      capacity: fc.integer({ min: 0, max: 4 }),
      load: fc.integer({ min: 0, max: 4 }),
      online: fc.boolean(),
      lastAssignedAt: fc.option(fc.integer({ min: 0, max: 9 }).map(at)),
    }),
    { selector: (a) => a.userId, maxLength: 5 },
  );
  const queue = fc.uniqueArray(
    fc.record({
      conversationId: fc.uuid(),
      priority: fc.constantFrom<'normal' | 'high'>('normal', 'high'),
      queuedAt: fc.integer({ min: 0, max: 50 }).map(at),
    }),
    { selector: (e) => e.conversationId, maxLength: 25 },
  );

  it('property: never over capacity, only online agents, queue order, stops only when nobody is free', () => {
    fc.assert(
      fc.property(queue, agents, (q, pool) => {
        const plan = drainQueue(q, pool);
        const loads = new Map<string, number>(pool.map((a) => [a.userId, a.load]));
        for (const { agentId } of plan) loads.set(agentId, loads.get(agentId)! + 1);
        for (const a of pool) {
          const given = loads.get(a.userId)! - a.load;
          if (given > 0) {
            assert.ok(a.online, `${a.userId} is offline`);
            assert.ok(loads.get(a.userId)! <= a.capacity, `${a.userId} over capacity`);
          }
        }
        // Each conversation at most once; the assigned ones are the head of the queue, in order.
        const sorted = [...q].sort(compareQueue).map((e) => e.conversationId);
        assert.deepEqual(
          plan.map((p) => p.conversationId),
          sorted.slice(0, plan.length),
        );
        // It stops only when the queue is empty or nobody has capacity left.
        const free = pool.reduce((n, a) => n + (a.online ? Math.max(0, a.capacity - a.load) : 0), 0);
        assert.equal(plan.length, Math.min(q.length, free));
      }),
      { numRuns: 2000 },
    );
  });

  it('property: each pick is the agent pickAgent() would choose given the picks before it', () => {
    fc.assert(
      fc.property(queue, agents, (q, pool) => {
        const plan = drainQueue(q, pool);
        const state = pool.map((a) => ({ ...a }));
        for (const { agentId } of plan) {
          const expected = pickAgent(state)!;
          assert.equal(agentId, expected.userId);
          expected.load++;
        }
      }),
      { numRuns: 1000 },
    );
  });
});
