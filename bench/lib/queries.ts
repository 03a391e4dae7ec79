import type { Client } from 'pg';
import {
  ConversationRepository,
  type ChatListPosition,
} from '../../src/conversations/conversation.repository';
import type { Db } from '../../src/database/db';
import { MessageRepository } from '../../src/messages/message.repository';

/** One SQL statement exactly as a repository sends it, with its parameters. */
export interface CapturedQuery {
  sql: string;
  params: unknown[];
}

/**
 * Calls a repository method against a recording Db, so the benchmark explains and times the very
 * SQL the service runs (no copy of it here to drift out of date).
 */
async function capture(call: (db: Db) => Promise<unknown>): Promise<CapturedQuery> {
  let captured: CapturedQuery | undefined;
  const record = (sql: string, params: unknown[] = []) => {
    captured = { sql, params };
    return Promise.resolve([]);
  };
  await call({ read: record, query: record } as unknown as Db);
  if (!captured) throw new Error('the repository method ran no SQL');
  return captured;
}

/** ConversationService.list asks for one row more than the page to know whether there is a next one. */
export function chatListQuery(
  userId: string,
  pageSize: number,
  after?: ChatListPosition,
): Promise<CapturedQuery> {
  return capture((db) => new ConversationRepository(db).chatList(userId, pageSize + 1, after));
}

export function participantsOfQuery(conversationIds: string[]): Promise<CapturedQuery> {
  return capture((db) => new ConversationRepository(db).participantsOf(conversationIds));
}

export function lastMessagesQuery(pairs: { conversationId: string; seq: number }[]): Promise<CapturedQuery> {
  return capture((db) => new MessageRepository(db).atSeqs(pairs));
}

export interface Plan {
  text: string;
  executionMs: number | null;
  planningMs: number | null;
  /** Shared buffers hit + read over the whole plan (from the top node). */
  buffers: number | null;
  /** Relations that appear under a scan node of the plan. */
  relationsScanned: string[];
}

/** EXPLAIN (ANALYZE, BUFFERS) of a captured query, with its parameters bound as the app binds them. */
export async function explain(client: Client, q: CapturedQuery): Promise<Plan> {
  const { rows } = await client.query(`EXPLAIN (ANALYZE, BUFFERS) ${q.sql}`, q.params);
  const lines = rows.map((r: Record<string, string>) => r['QUERY PLAN']!);
  const text = lines.join('\n');
  const num = (re: RegExp) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : null;
  };
  const firstBuffers = lines.find((l) => /Buffers: shared/.test(l)) ?? '';
  const hit = Number(/hit=(\d+)/.exec(firstBuffers)?.[1] ?? 0);
  const read = Number(/read=(\d+)/.exec(firstBuffers)?.[1] ?? 0);
  const relations = new Set<string>();
  for (const l of lines) {
    const m = /(?:Scan|Scan Backward)(?: using \S+)? on (\w+)/.exec(l);
    if (m) relations.add(m[1]!);
  }
  return {
    text,
    executionMs: num(/Execution Time: ([\d.]+) ms/),
    planningMs: num(/Planning Time: ([\d.]+) ms/),
    buffers: firstBuffers ? hit + read : null,
    relationsScanned: [...relations].sort(),
  };
}
