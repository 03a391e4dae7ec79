import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { drainQueue, pickAgent, type AgentState, type Priority } from './routing';

/** A queued conversation as these tests build queues (drainQueue itself needs the id only). */
interface QueueEntry {
  conversationId: string;
  priority: Priority;
  queuedAt: Date;
}

/**
 * Queue order: `high` before `normal`, then oldest first, then by id (a total order), at the
 * millisecond these tests' dates have. What BusinessRepository.queue's ORDER BY does in the
 * database (to the microsecond), and so the order drainQueue is given.
 */
function compareQueue(a: QueueEntry, b: QueueEntry): number {
  const rank = (p: Priority) => (p === 'high' ? 0 : 1);
  return (
    rank(a.priority) - rank(b.priority) ||
    a.queuedAt.getTime() - b.queuedAt.getTime() ||
    (a.conversationId < b.conversationId ? -1 : a.conversationId > b.conversationId ? 1 : 0)
  );
}

/** `queue` in queue order, as the repository gives it to drainQueue. */
const inOrder = (queue: QueueEntry[]) => [...queue].sort(compareQueue);

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

describe('routing decision: pickAgent()', () => {
  it('the least-loaded online agent', () => {
    const agents = [
      agent('a', 2, { capacity: 5 }),
      agent('b', 1, { capacity: 5 }),
      agent('c', 3, { capacity: 5 }),
    ];
    assert.equal(pickAgent(agents)?.userId, 'b');
  });

  it('nobody when no one is free (no agents, all offline, all full)', () => {
    assert.equal(pickAgent([]), undefined);
    assert.equal(pickAgent([agent('a', 0, { online: false }), agent('b', 2)]), undefined);
    // Capacity 0 is never free; a load above capacity (capacity lowered) neither.
    assert.equal(pickAgent([agent('a', 0, { capacity: 0 }), agent('b', 3)]), undefined);
  });

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

describe('routing decision: drainQueue()', () => {
  it('assigns in the order given (the queue order), each pick to the least-loaded agent', () => {
    const queue = [
      entry('n2', 'normal', 5),
      entry('n1', 'normal', 1),
      entry('h1', 'high', 9),
      entry('n3', 'normal', 7),
    ];
    const agents = [agent('a', 0, { capacity: 2 }), agent('b', 1, { capacity: 3 })];
    assert.deepEqual(drainQueue(inOrder(queue), agents), [
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

  it('never gives a conversation to its own customer: it waits, and the ones behind it get that agent', () => {
    // Agent a wrote to their own business (c1's customer); b is full.
    const queue = [
      { conversationId: 'c1', customerId: 'a' },
      { conversationId: 'c2', customerId: 'x' },
      { conversationId: 'c3', customerId: 'y' },
    ];
    assert.deepEqual(drainQueue(queue, [agent('a', 0, { capacity: 1 }), agent('b', 2)]), [
      { conversationId: 'c2', agentId: 'a' },
    ]);
    // Another agent free: c1 goes to them, the others to whoever is preferred.
    assert.deepEqual(drainQueue(queue, [agent('a', 0, { capacity: 1 }), agent('b', 1)]), [
      { conversationId: 'c1', agentId: 'b' },
      { conversationId: 'c2', agentId: 'a' },
    ]);
    // The customer preferred (least loaded) for the head: the next best agent takes it.
    assert.deepEqual(drainQueue(queue.slice(0, 1), [agent('a', 0), agent('b', 1)]), [
      { conversationId: 'c1', agentId: 'b' },
    ]);
    // Nobody free but the customer: nothing for c1.
    assert.deepEqual(drainQueue(queue.slice(0, 1), [agent('a', 0), agent('b', 2)]), []);
  });

  it('property: no conversation goes to its customer; one waits beside a free agent only when that agent is its customer', () => {
    const ids = ['a', 'b', 'c', 'x'];
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ conversationId: fc.uuid(), customerId: fc.constantFrom(...ids) }), {
          selector: (e) => e.conversationId,
          maxLength: 12,
        }),
        fc.uniqueArray(
          fc.record({
            userId: fc.constantFrom('a', 'b', 'c'),
            capacity: fc.integer({ min: 0, max: 3 }),
            load: fc.integer({ min: 0, max: 3 }),
            online: fc.boolean(),
            lastAssignedAt: fc.constant(null),
          }),
          { selector: (a) => a.userId, maxLength: 3 },
        ),
        (q, pool) => {
          const plan = drainQueue(q, pool);
          const state = pool.map((a) => ({ ...a }));
          const given = new Map(plan.map((p) => [p.conversationId, p.agentId]));
          for (const e of q) {
            const agentId = given.get(e.conversationId);
            if (agentId) {
              assert.notEqual(agentId, e.customerId);
              const expected = pickAgent(state.filter((a) => a.userId !== e.customerId))!;
              assert.equal(agentId, expected.userId);
              expected.load++;
            } else {
              // Left waiting: no free agent other than its own customer.
              assert.equal(pickAgent(state.filter((a) => a.userId !== e.customerId)), undefined);
            }
          }
        },
      ),
      { numRuns: 1000 },
    );
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
        const plan = drainQueue(inOrder(q), pool);
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
        const plan = drainQueue(inOrder(q), pool);
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

describe('routing decision: over random sequences of events', () => {
  // A model of the business's routing state driven the way RoutingService drives the pure functions:
  // a conversation arrives (queued, then the queue drained), an agent resolves one (capacity freed,
  // queue drained), a queued one is escalated, an agent goes online/offline (online: queue drained),
  // an admin changes a capacity (queue drained).
  type Event =
    | { kind: 'arrive'; high: boolean }
    | { kind: 'resolve'; pick: number }
    | { kind: 'escalate'; pick: number }
    | { kind: 'presence'; agent: number; online: boolean }
    | { kind: 'capacity'; agent: number; capacity: number };
  const event: fc.Arbitrary<Event> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('arrive' as const), high: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('resolve' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('escalate' as const), pick: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('presence' as const),
        agent: fc.nat({ max: 3 }),
        online: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('capacity' as const),
        agent: fc.nat({ max: 3 }),
        capacity: fc.integer({ min: 0, max: 4 }),
      }),
    },
  );
  const initialAgents = fc.array(
    fc.record({ capacity: fc.integer({ min: 0, max: 4 }), online: fc.boolean() }),
    { minLength: 1, maxLength: 4 },
  );

  it('property: a load only grows below capacity (never over it), loads are exact, the queue drains in order and never waits beside a free agent', () => {
    fc.assert(
      fc.property(initialAgents, fc.array(event, { maxLength: 60 }), (init, events) => {
        const agents: AgentState[] = init.map((a, i) => ({
          userId: `agent${i}`,
          capacity: a.capacity,
          load: 0,
          online: a.online,
          lastAssignedAt: null,
        }));
        let queue: QueueEntry[] = [];
        const assigned = new Map<string, string>(); // conversation -> agent
        let clock = 0;
        let n = 0;

        const drain = () => {
          // The model keeps its queue unsorted; the repository hands the drain the queue in order.
          const ordered = inOrder(queue);
          const plan = drainQueue(ordered, agents);
          assert.deepEqual(
            plan.map((p) => p.conversationId),
            ordered.slice(0, plan.length).map((e) => e.conversationId),
            'the head of the queue, in order',
          );
          for (const { conversationId, agentId } of plan) {
            const a = agents.find((x) => x.userId === agentId)!;
            assert.ok(a.online, `${agentId} is offline`);
            assert.ok(a.load < a.capacity, `${agentId} given a conversation at ${a.load}/${a.capacity}`);
            a.load++;
            a.lastAssignedAt = at(clock++);
            assigned.set(conversationId, agentId);
            queue = queue.filter((q) => q.conversationId !== conversationId);
          }
        };

        for (const e of events) {
          const loadsBefore = agents.map((a) => a.load);
          if (e.kind === 'arrive') {
            const conversationId = `c${String(n++).padStart(3, '0')}`;
            const wasEmpty = queue.length === 0;
            const pick = pickAgent(agents)?.userId;
            queue.push({ conversationId, priority: e.high ? 'high' : 'normal', queuedAt: at(clock++) });
            drain();
            // With nobody waiting, a new conversation goes to the agent pickAgent names, or waits.
            if (wasEmpty) assert.equal(assigned.get(conversationId), pick);
          } else if (e.kind === 'resolve') {
            const held = [...assigned.keys()];
            if (!held.length) continue;
            const conversationId = held[e.pick % held.length]!;
            agents.find((a) => a.userId === assigned.get(conversationId))!.load--;
            assigned.delete(conversationId);
            drain();
          } else if (e.kind === 'escalate') {
            if (!queue.length) continue;
            const i = e.pick % queue.length;
            queue[i] = { ...queue[i]!, priority: 'high' };
          } else if (e.kind === 'presence') {
            const a = agents[e.agent % agents.length]!;
            a.online = e.online;
            if (e.online) drain();
          } else {
            agents[e.agent % agents.length]!.capacity = e.capacity;
            drain();
          }
          for (const [i, a] of agents.entries()) {
            // Never over capacity through routing: a load above capacity only ever comes from the
            // capacity being lowered under it, and then it does not grow.
            assert.ok(
              a.load <= a.capacity || a.load <= loadsBefore[i]!,
              `${a.userId}: ${loadsBefore[i]} -> ${a.load} over ${a.capacity}`,
            );
            // The load is exactly what the agent holds.
            assert.equal(a.load, [...assigned.values()].filter((x) => x === a.userId).length);
          }
          // Work-conserving: nobody waits while an online agent has room.
          if (queue.length)
            assert.ok(
              !agents.some((a) => a.online && a.load < a.capacity),
              'a conversation waits beside a free agent',
            );
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('property: without capacity changes, no agent is ever over capacity', () => {
    const noCapacityChange = event.filter((e) => e.kind !== 'capacity');
    fc.assert(
      fc.property(initialAgents, fc.array(noCapacityChange, { maxLength: 60 }), (init, events) => {
        const agents: AgentState[] = init.map((a, i) => ({
          userId: `agent${i}`,
          capacity: a.capacity,
          load: 0,
          online: a.online,
          lastAssignedAt: null,
        }));
        let queue: QueueEntry[] = [];
        const assigned: { conversationId: string; agentId: string }[] = [];
        let n = 0;
        for (const e of events) {
          if (e.kind === 'arrive')
            queue.push({
              conversationId: `c${n}`,
              priority: e.high ? 'high' : 'normal',
              queuedAt: at(n++ % 60),
            });
          else if (e.kind === 'resolve' && assigned.length) {
            const [gone] = assigned.splice(e.pick % assigned.length, 1);
            agents.find((a) => a.userId === gone!.agentId)!.load--;
          } else if (e.kind === 'escalate' && queue.length) {
            const i = e.pick % queue.length;
            queue[i] = { ...queue[i]!, priority: 'high' };
          } else if (e.kind === 'presence') agents[e.agent % agents.length]!.online = e.online;
          for (const p of drainQueue(inOrder(queue), agents)) {
            agents.find((a) => a.userId === p.agentId)!.load++;
            assigned.push(p);
            queue = queue.filter((q) => q.conversationId !== p.conversationId);
          }
          for (const a of agents) assert.ok(a.load <= a.capacity, `${a.userId} at ${a.load}/${a.capacity}`);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('routing decision: drainQueue keeps the order it is given', () => {
  const entry = fc.record({
    conversationId: fc.constantFrom('0190a', '0190b', '0190c', '01a00', 'ffff0'),
    priority: fc.constantFrom<'normal' | 'high'>('normal', 'high'),
    queuedAt: fc.integer({ min: 0, max: 3 }).map(at),
  });

  // The database orders the queue to the microsecond; two conversations queued in one millisecond
  // have equal JavaScript dates. Re-sorting them by id disagreed with the positions customers were
  // told (the business-routing flake): drainQueue must hand out exactly the head it is given.
  it('property: the assigned conversations are the head of the queue as given, in that order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(entry, { selector: (e) => e.conversationId, maxLength: 5 }),
        fc.integer({ min: 0, max: 5 }),
        (q, capacity) => {
          const plan = drainQueue(q, [agent('a', 0, { capacity })]);
          assert.deepEqual(
            plan.map((p) => p.conversationId),
            q.slice(0, capacity).map((e) => e.conversationId),
          );
        },
      ),
      { numRuns: 1000 },
    );
  });
});
