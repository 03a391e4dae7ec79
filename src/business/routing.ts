/** What routing needs to know of an agent. */
export interface AgentState {
  userId: string;
  capacity: number;
  load: number;
  online: boolean;
  /** When they were last given a conversation; null if never. */
  lastAssignedAt: Date | null;
}

export type Priority = 'normal' | 'high';

/**
 * Who gets the next conversation (CONTRACT §5): the least-loaded online agent with free capacity,
 * ties going to the one idle longest (never assigned counts as idle longest), then by user id so
 * that the choice is deterministic; nobody (undefined) when no one is free.
 */
export function pickAgent(agents: AgentState[]): AgentState | undefined {
  return agents.filter((a) => a.online && a.load < a.capacity).sort(byPreference)[0];
}

function byPreference(a: AgentState, b: AgentState): number {
  return (
    a.load - b.load ||
    (a.lastAssignedAt?.getTime() ?? -Infinity) - (b.lastAssignedAt?.getTime() ?? -Infinity) ||
    (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0)
  );
}

/**
 * Pairs the head of the queue with free agents while both last: what to assign when capacity frees
 * (an agent comes online, resolves, or is added). Each pick sees the loads of the picks before it.
 *
 * `queue` is in queue order, head first, as `BusinessRepository.queue` reads it: `high` before
 * `normal`, then oldest first to the microsecond, then by id; the same order as the positions
 * customers are told. It is not sorted again here: a JavaScript date holds milliseconds, and a
 * re-sort broke ties between conversations queued within one millisecond by id, so the customer
 * told "number 1" could be passed over.
 */
export function drainQueue(
  queue: { conversationId: string }[],
  agents: AgentState[],
): { conversationId: string; agentId: string }[] {
  const pool = agents.map((a) => ({ ...a }));
  const out: { conversationId: string; agentId: string }[] = [];
  for (const entry of queue) {
    const agent = pickAgent(pool);
    if (!agent) break;
    agent.load++;
    out.push({ conversationId: entry.conversationId, agentId: agent.userId });
  }
  return out;
}
