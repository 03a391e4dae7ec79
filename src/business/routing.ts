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

export interface QueueEntry {
  conversationId: string;
  priority: Priority;
  queuedAt: Date;
}

export type RoutingDecision =
  { kind: 'closed'; opensAt: Date | null } | { kind: 'assign'; agentId: string } | { kind: 'queue' };

/**
 * Who gets a conversation (CONTRACT §5): nobody while closed; otherwise the least-loaded online agent
 * with free capacity, ties going to the one idle longest (never assigned counts as idle longest),
 * then by user id so that the choice is deterministic; the queue when nobody is free.
 */
export function route(input: { open: boolean; opensAt: Date | null; agents: AgentState[] }): RoutingDecision {
  if (!input.open) return { kind: 'closed', opensAt: input.opensAt };
  const agent = pickAgent(input.agents);
  return agent ? { kind: 'assign', agentId: agent.userId } : { kind: 'queue' };
}

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

/** Queue order: `high` before `normal`, then oldest first, then by id (a total order). */
export function compareQueue(a: QueueEntry, b: QueueEntry): number {
  const rank = (p: Priority) => (p === 'high' ? 0 : 1);
  return (
    rank(a.priority) - rank(b.priority) ||
    a.queuedAt.getTime() - b.queuedAt.getTime() ||
    (a.conversationId < b.conversationId ? -1 : a.conversationId > b.conversationId ? 1 : 0)
  );
}

/**
 * Pairs the head of the queue with free agents while both last: what to assign when capacity frees
 * (an agent comes online, resolves, or is added). Each pick sees the loads of the picks before it.
 */
export function drainQueue(
  queue: QueueEntry[],
  agents: AgentState[],
): { conversationId: string; agentId: string }[] {
  const pool = agents.map((a) => ({ ...a }));
  const out: { conversationId: string; agentId: string }[] = [];
  for (const entry of [...queue].sort(compareQueue)) {
    const agent = pickAgent(pool);
    if (!agent) break;
    agent.load++;
    out.push({ conversationId: entry.conversationId, agentId: agent.userId });
  }
  return out;
}
