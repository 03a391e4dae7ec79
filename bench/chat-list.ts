import { Client } from 'pg';
import { MetricsService } from '../src/observability/metrics.service';
import { startApp, token, type TestApp } from '../test/support/app';
import { createTestDatabase, type TestDatabase } from '../test/support/db';
import { JsonClient, type JsonResponse } from './lib/client';
import { loadAverage } from './lib/machine';
import {
  chatListQuery,
  explain,
  lastMessagesQuery,
  participantsOfQuery,
  type CapturedQuery,
  type Plan,
} from './lib/queries';
import { intFlag, intListFlag, type Flags, type Scenario, type ScenarioContext } from './lib/scenario';
import { checkConsistency, seedWorld, type SeedReport, type WorldSpec } from './lib/seed';
import { round, summarize, timed, type Summary } from './lib/stats';
import { heading, shortCount, table } from './lib/table';

const USER = 'bench-user';
const PAGE = 20;
/** Conversations among other users (drawn from 10,000 of them), so no table is just the measured user's. */
const BACKGROUND_CONVERSATIONS = 20_000;
const GOAL = { p50Ms: 10, p99Ms: 30 };
/** "Flat": the largest world's p50 is within 25 % (or 0.5 ms) of the smallest world's. */
const FLAT = { ratio: 1.25, slackMs: 0.5 };
const LIST_ROUTE = /^\/conversations\/?$/;
const READ_ROUTE = /^\/conversations\/:id\/read\/?$/;

export const chatListHelp = `chat-list flags:
  --full                 history worlds of 10k, 200k and 1M messages (default: 10k and 200k)
  --conversations N      the user's conversations (default 1000)
  --messages N           messages in the main world (default 100k)
  --history a,b,…        history worlds, instead of the defaults (e.g. 10k,1M; "" for none)
  --requests N           timed GET /conversations?limit=20 per world (default 500)
  --warmup N             untimed requests per world first (default 50)
  --walks N              full cursor walks through the chat list per world (default 3)
  --reads N              conversations read per world, twice each (default 200)
  --sql-samples N        direct SQL timings per query and world (default 300)
  --background N         messages in the 20,000 conversations among other users (default 100k)
  --keep                 keep the databases (their names are printed)
  --quiet-load X         before measuring, wait (up to 15 min) for the 1-minute load average to drop below X
Every world is seeded and booted first; then each measurement visits the worlds in turn
(request i goes to every world before request i+1), so a change in machine load hits them alike.`;

export const chatListScenario: Scenario = {
  name: 'chat-list',
  description:
    'GET /conversations?limit=20 with 1,000 conversations and 100k messages; cursor paging; unread reads ' +
    'and POST /conversations/:id/read vs history length (10k, 200k; --full adds 1M); EXPLAIN of the SQL.',
  options: {
    full: { type: 'boolean', default: false },
    conversations: { type: 'string' },
    messages: { type: 'string' },
    history: { type: 'string' },
    requests: { type: 'string' },
    warmup: { type: 'string' },
    walks: { type: 'string' },
    reads: { type: 'string' },
    'sql-samples': { type: 'string' },
    background: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'quiet-load': { type: 'string' },
  },
  run,
};

interface ReadTarget {
  id: string;
  pointer: number;
  last_seq: number;
  after_one: number;
}

/** A seeded database with the app running on it. */
interface World {
  label: string;
  role: 'main' | 'history';
  spec: WorldSpec;
  db: TestDatabase;
  pg: Client;
  app: TestApp;
  api: JsonClient;
  seed: SeedReport;
  seedCheck: Record<string, number>;
  bootMs: number;
  /** Closes the client, the app and the connection, and drops the database (unless --keep). */
  close(): Promise<void>;
}

export interface WorldResult {
  label: string;
  role: 'main' | 'history';
  messages: number;
  seed: SeedReport;
  seedCheck: Record<string, number>;
  bootMs: number;
  /** serverMeanMs: the app's own request timer (chat_http_request_duration_seconds), without the client. */
  /** cpuMeanMs: CPU time of this process (client and app together) per request. */
  list: Summary & { serverMeanMs: number; cpuMeanMs: number; errors: number };
  paging: {
    walks: number;
    pages: number;
    walkMs: Summary;
    pageMs: Summary;
    firstPagesMeanMs: number;
    lastPagesMeanMs: number;
    conversationsSeen: number;
    ordered: boolean;
    unreadSum: number;
    unreadSumExpected: number;
  };
  sql: { chatList: Summary; chatListDeep: Summary; participantsOf: Summary; lastMessages: Summary };
  plans: { chatList: Plan; chatListDeep: Plan; participantsOf: Plan; lastMessages: Plan };
  reads: {
    conversations: number;
    pointerAtZero: number;
    tail: { mean: number; max: number };
    /** POST read with seq = pointer + 1 (the count of what stays unread walks the rest of the tail). */
    readOne: Summary & { serverMeanMs: number; cpuMeanMs: number; wrong: number };
    /** POST read with seq = lastSeq (nothing stays unread). */
    readAll: Summary & { serverMeanMs: number; cpuMeanMs: number; wrong: number };
    /** 20 × "+1" on the user's conversation with the longest unread tail. */
    longestTail: Summary & { tail: number; wrong: number };
  };
  checkAfterReads: Record<string, number>;
  appLogLines: string[];
}

interface Options {
  requests: number;
  warmup: number;
  walks: number;
  reads: number;
  sqlSamples: number;
  keep: boolean;
}

async function run(flags: Flags, ctx: ScenarioContext) {
  const conversations = intFlag(flags, 'conversations', 1000);
  const mainMessages = intFlag(flags, 'messages', 100_000);
  const history = intListFlag(
    flags,
    'history',
    flags.full ? [10_000, 200_000, 1_000_000] : [10_000, 200_000],
  );
  const opts: Options = {
    requests: intFlag(flags, 'requests', 500),
    warmup: intFlag(flags, 'warmup', 50),
    walks: Math.max(1, intFlag(flags, 'walks', 3)),
    reads: intFlag(flags, 'reads', 200),
    sqlSamples: Math.max(1, intFlag(flags, 'sql-samples', 300)),
    keep: Boolean(flags.keep),
  };
  const backgroundMessages = intFlag(flags, 'background', 100_000);
  const sizes = [...new Set([mainMessages, ...history])].sort((a, b) => a - b);

  const worlds: World[] = [];
  for (const messages of sizes) {
    const spec: WorldSpec = {
      user: USER,
      conversations,
      messages,
      groupShare: 0.4,
      backgroundConversations: BACKGROUND_CONVERSATIONS,
      backgroundMessages,
      userPool: 10_000,
      seed: 42,
    };
    worlds.push(await openWorld(spec, messages === mainMessages ? 'main' : 'history', opts, ctx));
  }

  const quietLoad = Number(flags['quiet-load'] ?? NaN);
  if (Number.isFinite(quietLoad)) await waitForQuiet(quietLoad, 15 * 60_000, ctx);
  const loadBefore = loadAverage();
  const results = await measure(worlds, opts, ctx);
  const loadAfter = loadAverage();
  for (const w of worlds) await w.close();

  const main = results.find((w) => w.role === 'main')!;
  const smallest = results[0]!;
  const largest = results[results.length - 1]!;
  const flat = (a: Summary, b: Summary) => ({
    smallP50: a.p50,
    largeP50: b.p50,
    ratio: round(b.p50 / a.p50, 2),
    flat: b.p50 <= a.p50 * FLAT.ratio || b.p50 - a.p50 <= FLAT.slackMs,
  });
  const goals = {
    chatList: {
      goal: `p50 < ${GOAL.p50Ms} ms, p99 < ${GOAL.p99Ms} ms (limit=${PAGE}, ${conversations} conversations, ${shortCount(mainMessages)} messages)`,
      p50: main.list.p50,
      p99: main.list.p99,
      met: main.list.p50 < GOAL.p50Ms && main.list.p99 < GOAL.p99Ms,
    },
    unreadFlat: {
      goal: `flat from ${shortCount(smallest.messages)} to ${shortCount(largest.messages)} messages (largest p50 ≤ ${FLAT.ratio}× smallest, or at most ${FLAT.slackMs} ms more)`,
      httpChatList: flat(smallest.list, largest.list),
      sqlChatList: flat(smallest.sql.chatList, largest.sql.chatList),
      chatListPlanBuffers: { small: smallest.plans.chatList.buffers, large: largest.plans.chatList.buffers },
      chatListScansMessages: results.some((w) => w.plans.chatList.relationsScanned.includes('messages')),
      readAll: flat(smallest.reads.readAll, largest.reads.readAll),
      readOne: flat(smallest.reads.readOne, largest.reads.readOne),
      longestTail: flat(smallest.reads.longestTail, largest.reads.longestTail),
    },
  };
  const result = {
    scenario: 'chat-list',
    user: USER,
    pageSize: PAGE,
    conversations,
    options: {
      ...opts,
      mainMessages,
      history: sizes,
      backgroundMessages,
      backgroundConversations: BACKGROUND_CONVERSATIONS,
    },
    /** 1/5/15-minute load averages of the machine around the measurements (2 cores: above 2 means waiting). */
    load: { beforeMeasurements: loadBefore, afterMeasurements: loadAfter },
    goals,
    worlds: results,
  };
  return {
    result,
    report:
      report(results, goals) +
      `\n\nload average (1/5/15 min) before the measurements ${loadBefore.join(' ')}, after ${loadAfter.join(' ')}`,
  };
}

/** Waits until the 1-minute load average is below `threshold` (or `maxMs` passed). */
async function waitForQuiet(threshold: number, maxMs: number, ctx: ScenarioContext): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (loadAverage()[0]! >= threshold && Date.now() < deadline) {
    ctx.log(`waiting for load < ${threshold} (now ${loadAverage().join(' ')})`);
    await new Promise((resolve) => setTimeout(resolve, 15_000));
  }
}

/** Creates, seeds and checks a database, and boots the app on it. */
async function openWorld(
  spec: WorldSpec,
  role: 'main' | 'history',
  opts: Options,
  ctx: ScenarioContext,
): Promise<World> {
  const label = `${shortCount(spec.messages)} messages`;
  const db = await createTestDatabase();
  // Cleanups run last-registered first: client, app, connection, database.
  const closers = [
    ctx.onCleanup(async () => {
      if (opts.keep) ctx.log(`[${label}] kept database ${db.name}`);
      else await db.drop();
    }),
  ];
  const pg = new Client({ connectionString: db.url, application_name: 'bench' });
  await pg.connect();
  closers.push(ctx.onCleanup(() => pg.end()));
  ctx.log(`[${label}] seeding ${db.name}`);
  const seed = await seedWorld(pg, spec);
  ctx.log(
    `[${label}] seeded ${seed.messages} messages, ${seed.participants} participants: ` +
      Object.entries(seed.timingsMs)
        .map(([k, v]) => `${k} ${v} ms`)
        .join(', '),
  );
  const check = await checkConsistency(pg);
  if (Object.values(check).some((n) => n !== 0))
    throw new Error(`seeded data is inconsistent: ${JSON.stringify(check)}`);
  const boot = await timed(() =>
    startApp({
      databaseUrl: db.url,
      env: { LOG_LEVEL: 'warn', REST_RATE_LIMIT: '1000000', RETENTION_SWEEP_S: '0' },
    }),
  );
  const app = boot.value;
  closers.push(ctx.onCleanup(() => app.close()));
  const api = new JsonClient(app.url, await token(USER, { ttlS: 24 * 3600 }));
  closers.push(ctx.onCleanup(async () => api.close()));
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  return { label, role, spec, db, pg, app, api, seed, seedCheck: check, bootMs: Math.round(boot.ms), close };
}

/** Wall times (ms) per world, and the CPU time this process spent during each (client + app), in ms. */
interface Timings {
  wall: number[][];
  cpu: number[][];
}

/**
 * Runs `work` n times for every world, visiting the worlds in turn (rotating who goes first), and
 * returns each world's times. A world whose `work` returns false had nothing to do that time.
 */
async function interleaved(
  worlds: World[],
  n: number,
  work: (w: World, index: number, i: number) => Promise<boolean | void>,
): Promise<Timings> {
  const wall = worlds.map((): number[] => []);
  const cpu = worlds.map((): number[] => []);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < worlds.length; k++) {
      const j = (i + k) % worlds.length;
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      const did = await work(worlds[j]!, j, i);
      if (did === false) continue;
      wall[j]!.push(performance.now() - start);
      const used = process.cpuUsage(cpuStart);
      cpu[j]!.push((used.user + used.system) / 1000);
    }
  }
  return { wall, cpu };
}

async function measure(worlds: World[], opts: Options, ctx: ScenarioContext): Promise<WorldResult[]> {
  const list = (w: World, cursor?: string) =>
    w.api.get(`/conversations?limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
  const timers = worlds.map((w) => serverTimer(w.app));

  // 1. The first page, over and over.
  ctx.log(
    `chat list: ${opts.warmup} warm-up + ${opts.requests} timed requests per world (load ${loadAverage().join(' ')})`,
  );
  const errors = worlds.map(() => 0);
  const expectOk = (j: number, res: JsonResponse) => {
    if (res.status !== 200 || res.body?.items?.length !== Math.min(PAGE, worlds[j]!.spec.conversations))
      errors[j]!++;
  };
  await interleaved(worlds, opts.warmup, async (w) => void (await list(w)));
  const listServer = await Promise.all(timers.map((t) => t.start(LIST_ROUTE)));
  const listTimes = await interleaved(worlds, opts.requests, async (w, j) => expectOk(j, await list(w)));
  const listServerMean = await Promise.all(listServer.map((s) => s.meanMs()));

  // 2. Paging through everything with the cursor.
  ctx.log(`paging: ${opts.walks} full walks per world`);
  const paging = worlds.map(() => ({
    perPage: [] as number[][],
    walks: [] as number[],
    seen: new Set<string>(),
    ordered: true,
    unreadSum: 0,
  }));
  await interleaved(worlds, opts.walks, async (w, j) => {
    const p = paging[j]!;
    p.seen = new Set();
    p.unreadSum = 0;
    let cursor: string | undefined;
    let previous = Infinity;
    let page = 0;
    const start = performance.now();
    do {
      const t = await timed(() => list(w, cursor));
      if (t.value.status !== 200) throw new Error(`[${w.label}] page ${page} answered ${t.value.status}`);
      (p.perPage[page] ??= []).push(t.ms);
      for (const c of t.value.body.items as { id: string; lastActivityAt: string; unreadCount: number }[]) {
        const at = Date.parse(c.lastActivityAt);
        if (at > previous) p.ordered = false;
        previous = at;
        p.seen.add(c.id);
        p.unreadSum += c.unreadCount;
      }
      cursor = t.value.body.nextCursor ?? undefined;
      page++;
    } while (cursor);
    p.walks.push(performance.now() - start);
  });

  // 3. The page's SQL on its own (the exact statements of the repositories), and its plans.
  ctx.log(`SQL: ${opts.sqlSamples} runs of each query per world, then EXPLAIN`);
  const queries = await Promise.all(worlds.map((w) => pageQueries(w)));
  const sqlTimes = {} as Record<keyof PageQueries, Timings>;
  for (const name of ['chatList', 'chatListDeep', 'participantsOf', 'lastMessages'] as const) {
    const run = async (w: World, j: number) =>
      void (await w.pg.query(queries[j]![name].sql, queries[j]![name].params));
    await interleaved(worlds, 20, run);
    sqlTimes[name] = await interleaved(worlds, opts.sqlSamples, run);
  }
  const plans: WorldResult['plans'][] = [];
  for (const [j, w] of worlds.entries()) {
    const q = queries[j]!;
    plans.push({
      chatList: await explain(w.pg, q.chatList),
      chatListDeep: await explain(w.pg, q.chatListDeep),
      participantsOf: await explain(w.pg, q.participantsOf),
      lastMessages: await explain(w.pg, q.lastMessages),
    });
  }
  const expectedUnread = await Promise.all(
    worlds.map(async (w) =>
      Number(
        (
          await w.pg.query(
            `SELECT coalesce(sum(unread_count), 0) AS n FROM participants WHERE user_id = $1`,
            [USER],
          )
        ).rows[0].n,
      ),
    ),
  );

  // 4. POST /conversations/:id/read: one message further, then everything; then the longest tail.
  ctx.log(`reads: up to ${opts.reads} conversations per world, twice each; 20 reads on the longest tail`);
  const targets = await Promise.all(worlds.map((w) => readTargets(w, opts.reads)));
  const wrongOne = worlds.map(() => 0);
  const wrongAll = worlds.map(() => 0);
  const wrongTail = worlds.map(() => 0);
  const oneServer = await Promise.all(timers.map((t) => t.start(READ_ROUTE)));
  const readOne = await interleaved(worlds, opts.reads, async (w, j, i) => {
    const t = targets[j]![i];
    if (!t) return false;
    const res = await w.api.post(`/conversations/${t.id}/read`, { seq: t.pointer + 1 });
    if (res.status !== 200 || res.body.lastReadSeq !== t.pointer + 1 || res.body.unreadCount !== t.after_one)
      wrongOne[j]!++;
  });
  const oneServerMean = await Promise.all(oneServer.map((s) => s.meanMs()));
  const allServer = await Promise.all(timers.map((t) => t.start(READ_ROUTE)));
  const readAll = await interleaved(worlds, opts.reads, async (w, j, i) => {
    const t = targets[j]![i];
    if (!t) return false;
    const res = await w.api.post(`/conversations/${t.id}/read`, { seq: t.last_seq });
    if (res.status !== 200 || res.body.lastReadSeq !== t.last_seq || res.body.unreadCount !== 0)
      wrongAll[j]!++;
  });
  const allServerMean = await Promise.all(allServer.map((s) => s.meanMs()));
  const longest = await Promise.all(worlds.map((w) => longestTail(w)));
  const previousUnread = longest.map((l) => l?.unread ?? 0);
  const tailTimes = await interleaved(worlds, 20, async (w, j, i) => {
    const l = longest[j];
    if (!l) return false;
    const res = await w.api.post(`/conversations/${l.id}/read`, { seq: l.pointer + 1 + i });
    if (
      res.status !== 200 ||
      res.body.lastReadSeq !== l.pointer + 1 + i ||
      res.body.unreadCount > previousUnread[j]!
    )
      wrongTail[j]!++;
    previousUnread[j] = res.body.unreadCount;
  });
  const checks = await Promise.all(worlds.map((w) => checkConsistency(w.pg, USER)));

  return worlds.map((w, j): WorldResult => {
    const p = paging[j]!;
    const pageMeans = p.perPage.map((ts) => ts.reduce((a, b) => a + b, 0) / ts.length);
    const tails = targets[j]!.map((t) => t.last_seq - t.pointer);
    return {
      label: w.label,
      role: w.role,
      messages: w.spec.messages,
      seed: w.seed,
      seedCheck: w.seedCheck,
      bootMs: w.bootMs,
      list: {
        ...summarize(listTimes.wall[j]!),
        serverMeanMs: listServerMean[j]!,
        cpuMeanMs: mean(listTimes.cpu[j]!),
        errors: errors[j]!,
      },
      paging: {
        walks: p.walks.length,
        pages: p.perPage.length,
        walkMs: summarize(p.walks),
        pageMs: summarize(p.perPage.flat()),
        firstPagesMeanMs: mean(pageMeans.slice(0, 5)),
        lastPagesMeanMs: mean(pageMeans.slice(-5)),
        conversationsSeen: p.seen.size,
        ordered: p.ordered,
        unreadSum: p.unreadSum,
        unreadSumExpected: expectedUnread[j]!,
      },
      sql: {
        chatList: summarize(sqlTimes.chatList.wall[j]!),
        chatListDeep: summarize(sqlTimes.chatListDeep.wall[j]!),
        participantsOf: summarize(sqlTimes.participantsOf.wall[j]!),
        lastMessages: summarize(sqlTimes.lastMessages.wall[j]!),
      },
      plans: plans[j]!,
      reads: {
        conversations: targets[j]!.length,
        pointerAtZero: targets[j]!.filter((t) => t.pointer === 0).length,
        tail: { mean: mean(tails), max: Math.max(0, ...tails) },
        readOne: {
          ...summarize(readOne.wall[j]!),
          serverMeanMs: oneServerMean[j]!,
          cpuMeanMs: mean(readOne.cpu[j]!),
          wrong: wrongOne[j]!,
        },
        readAll: {
          ...summarize(readAll.wall[j]!),
          serverMeanMs: allServerMean[j]!,
          cpuMeanMs: mean(readAll.cpu[j]!),
          wrong: wrongAll[j]!,
        },
        longestTail: { ...summarize(tailTimes.wall[j]!), tail: longest[j]?.tail ?? 0, wrong: wrongTail[j]! },
      },
      checkAfterReads: checks[j]!,
      appLogLines: w.app.logs.raw.slice(0, 20),
    };
  });
}

const mean = (xs: number[]) => round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length));

interface PageQueries {
  chatList: CapturedQuery;
  chatListDeep: CapturedQuery;
  participantsOf: CapturedQuery;
  lastMessages: CapturedQuery;
}

/** The statements one chat-list page runs, with this world's parameters (first page and last page). */
async function pageQueries(w: World): Promise<PageQueries> {
  const everything = await chatListQuery(USER, w.spec.conversations);
  const rows = (await w.pg.query(everything.sql, everything.params)).rows as {
    id: string;
    last_seq: number;
    activity_us: string;
  }[];
  const deepAt = rows[Math.max(0, rows.length - PAGE - 1)]!;
  const page = rows.slice(0, PAGE);
  return {
    chatList: await chatListQuery(USER, PAGE),
    chatListDeep: await chatListQuery(USER, PAGE, {
      activityUs: deepAt.activity_us,
      conversationId: deepAt.id,
    }),
    participantsOf: await participantsOfQuery(page.map((r) => r.id)),
    lastMessages: await lastMessagesQuery(
      page.filter((r) => r.last_seq > 0).map((r) => ({ conversationId: r.id, seq: r.last_seq })),
    ),
  };
}

/** The user's most recent conversations with something unread, with the unread count expected after "+1". */
async function readTargets(w: World, limit: number): Promise<ReadTarget[]> {
  const { rows } = await w.pg.query(
    `SELECT p.conversation_id AS id, p.last_read_seq AS pointer, c.last_seq,
            p.unread_count - (SELECT count(*) FROM messages m
                               WHERE m.conversation_id = p.conversation_id AND m.seq = p.last_read_seq + 1
                                 AND m.deleted_at IS NULL AND m.sender_id IS DISTINCT FROM p.user_id)::int AS after_one
       FROM participants p JOIN conversations c ON c.id = p.conversation_id
      WHERE p.user_id = $1 AND p.last_read_seq < c.last_seq
      ORDER BY p.last_activity_at DESC, p.conversation_id DESC
      LIMIT $2`,
    [USER, limit],
  );
  return rows as ReadTarget[];
}

/** The user's conversation with the most messages after their pointer (read after the others). */
async function longestTail(w: World) {
  const { rows } = await w.pg.query(
    `SELECT p.conversation_id AS id, p.last_read_seq AS pointer, c.last_seq - p.last_read_seq AS tail, p.unread_count AS unread
       FROM participants p JOIN conversations c ON c.id = p.conversation_id
      WHERE p.user_id = $1 AND c.last_seq - p.last_read_seq > 20
      ORDER BY c.last_seq - p.last_read_seq DESC LIMIT 1`,
    [USER],
  );
  return rows[0] as { id: string; pointer: number; tail: number; unread: number } | undefined;
}

/** The mean server-side duration of a route's requests between start() and meanMs(), from the app's own histogram. */
function serverTimer(app: TestApp) {
  const histogram = app.app.get(MetricsService).httpDuration;
  const totals = async (route: RegExp) => {
    let sum = 0;
    let count = 0;
    for (const v of (await histogram.get()).values) {
      if (!route.test(String(v.labels.route ?? ''))) continue;
      if (v.metricName?.endsWith('_sum')) sum += v.value;
      if (v.metricName?.endsWith('_count')) count += v.value;
    }
    return { sum, count };
  };
  return {
    async start(route: RegExp) {
      const before = await totals(route);
      return {
        async meanMs() {
          const after = await totals(route);
          const n = after.count - before.count;
          return n > 0 ? round(((after.sum - before.sum) / n) * 1000) : NaN;
        },
      };
    },
  };
}

function report(worlds: WorldResult[], goals: any): string {
  const out: string[] = [];
  const ok = (v: boolean) => (v ? 'yes' : 'NO');
  const zeros = (r: Record<string, number>) => Object.values(r).every((n) => n === 0);
  const name = (w: WorldResult) => w.label + (w.role === 'main' ? ' (main)' : '');

  out.push(heading('Worlds (seeded with SQL, checked against the message rows)'));
  out.push(
    table(
      [
        'world',
        'user msgs',
        'all msgs',
        'conversations',
        'participants',
        'user unread',
        'seed ms',
        'consistent',
      ],
      worlds.map((w) => [
        name(w),
        w.messages,
        w.seed.messages,
        w.seed.conversations,
        w.seed.participants,
        w.seed.user.unreadTotal,
        Object.values(w.seed.timingsMs).reduce((a, b) => a + b, 0),
        ok(zeros(w.seedCheck)),
      ]),
    ),
  );

  out.push(heading(`GET /conversations?limit=${PAGE} (HTTP, one at a time, ms)`));
  out.push(
    table(
      ['world', 'n', 'p50', 'p90', 'p99', 'max', 'mean', 'server mean', 'node CPU/req', 'errors'],
      worlds.map((w) => [
        name(w),
        w.list.n,
        w.list.p50,
        w.list.p90,
        w.list.p99,
        w.list.max,
        w.list.mean,
        w.list.serverMeanMs,
        w.list.cpuMeanMs,
        w.list.errors,
      ]),
    ),
  );

  out.push(heading('Paging through the whole chat list with the cursor (ms)'));
  out.push(
    table(
      [
        'world',
        'pages',
        'walk p50',
        'page p50',
        'page p99',
        'first 5 pages',
        'last 5 pages',
        'seen',
        'ordered',
        'unread sum ok',
      ],
      worlds.map((w) => [
        name(w),
        w.paging.pages,
        w.paging.walkMs.p50,
        w.paging.pageMs.p50,
        w.paging.pageMs.p99,
        w.paging.firstPagesMeanMs,
        w.paging.lastPagesMeanMs,
        w.paging.conversationsSeen,
        ok(w.paging.ordered),
        ok(w.paging.unreadSum === w.paging.unreadSumExpected),
      ]),
    ),
  );

  out.push(heading("The page's SQL alone (round trip from this process, ms) and the chat-list plan"));
  out.push(
    table(
      [
        'world',
        'chatList p50',
        'last page p50',
        'participants p50',
        'last msgs p50',
        'plan exec ms',
        'plan buffers',
        'scans',
      ],
      worlds.map((w) => [
        name(w),
        w.sql.chatList.p50,
        w.sql.chatListDeep.p50,
        w.sql.participantsOf.p50,
        w.sql.lastMessages.p50,
        w.plans.chatList.executionMs ?? NaN,
        w.plans.chatList.buffers ?? NaN,
        w.plans.chatList.relationsScanned.join('+'),
      ]),
    ),
  );

  out.push(heading('POST /conversations/:id/read (HTTP, ms)'));
  out.push(
    table(
      [
        'world',
        'n',
        'ptr 0',
        'tail max',
        '+1 p50',
        '+1 p99',
        'all p50',
        'all p99',
        'server +1/all',
        'longest tail',
        'its +1 p50',
        'exact',
      ],
      worlds.map((w) => [
        name(w),
        w.reads.conversations,
        w.reads.pointerAtZero,
        w.reads.tail.max,
        w.reads.readOne.p50,
        w.reads.readOne.p99,
        w.reads.readAll.p50,
        w.reads.readAll.p99,
        `${w.reads.readOne.serverMeanMs} / ${w.reads.readAll.serverMeanMs}`,
        w.reads.longestTail.tail,
        w.reads.longestTail.p50,
        ok(
          w.reads.readOne.wrong === 0 &&
            w.reads.readAll.wrong === 0 &&
            w.reads.longestTail.wrong === 0 &&
            zeros(w.checkAfterReads),
        ),
      ]),
    ),
  );

  out.push(heading('Goals'));
  const c = goals.chatList;
  out.push(`- chat list ${c.goal}: p50 ${c.p50} ms, p99 ${c.p99} ms → ${c.met ? 'MET' : 'MISSED'}`);
  const u = goals.unreadFlat;
  out.push(`- ${u.goal}:`);
  for (const [key, v] of Object.entries(u) as [string, any][]) {
    if (v && typeof v === 'object' && 'ratio' in v)
      out.push(
        `  - ${key}: p50 ${v.smallP50} → ${v.largeP50} ms (×${v.ratio}) → ${v.flat ? 'flat' : 'GROWS'}`,
      );
  }
  out.push(
    `  - chat-list plan buffers ${u.chatListPlanBuffers.small} → ${u.chatListPlanBuffers.large}; ` +
      `message rows scanned: ${u.chatListScansMessages ? 'YES' : 'none'}`,
  );

  const main = worlds.find((w) => w.role === 'main')!;
  const largest = worlds[worlds.length - 1]!;
  const plans: [string, string][] = [
    [`chat list, first page (${main.label})`, main.plans.chatList.text],
    [`chat list, last page by cursor (${main.label})`, main.plans.chatListDeep.text],
    [`participants of the page (${main.label})`, main.plans.participantsOf.text],
    [`last messages of the page (${main.label})`, main.plans.lastMessages.text],
  ];
  if (largest !== main) plans.push([`chat list, first page (${largest.label})`, largest.plans.chatList.text]);
  for (const [title, text] of plans) {
    out.push(heading(`EXPLAIN (ANALYZE, BUFFERS): ${title}`));
    out.push(text);
  }
  const logLines = worlds.flatMap((w) => w.appLogLines.map((l) => `[${w.label}] ${l}`));
  if (logLines.length) {
    out.push(heading('App log lines (warn and above)'));
    out.push(logLines.join('\n'));
  }
  return out.join('\n');
}
