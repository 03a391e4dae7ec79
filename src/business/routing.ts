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
 * The system message a resolve writes. It also marks where the conversation's next round begins: a
 * newly assigned agent has the customer's messages after the last one unread (`BusinessRepository.setAssigned`).
 */
export const RESOLVED_NOTICE = 'This conversation was resolved. Write again any time to re-open it.';

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
 *
 * A conversation is never given to its own customer (an agent who writes to their own business is a
 * customer there): when the only free agents are its customer, it waits and the drain goes on with
 * the conversations behind it, which those agents may take (it could not have had them anyway).
 */
export function drainQueue(
  queue: { conversationId: string; customerId?: string }[],
  agents: AgentState[],
): { conversationId: string; agentId: string }[] {
  const pool = agents.map((a) => ({ ...a }));
  const out: { conversationId: string; agentId: string }[] = [];
  for (const entry of queue) {
    if (!pickAgent(pool)) break;
    const agent = pickAgent(pool.filter((a) => a.userId !== entry.customerId));
    if (!agent) continue;
    agent.load++;
    out.push({ conversationId: entry.conversationId, agentId: agent.userId });
  }
  return out;
}
