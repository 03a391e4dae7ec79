/**
 * The seed's "10k+ connections" load test: 10,000 sockets in direct pairs, 1,000 msgs/s, 5 % of the
 * sockets dropped at random during the run and reconnecting by themselves; unacked sends are
 * retried with the same clientMessageId, and a reconnected socket catches up with `after=`.
 * Then: every acked message is stored exactly once at the seq its ack gave, nothing is stored
 * twice, every conversation's seqs are 1..n, and every socket's view is gap-free after catch-up.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Client } from 'pg';
import { signDevToken } from '../src/auth/dev-token';
import { createTestDatabase } from '../test/support/db';
import { TEST_REDIS_URL } from '../test/support/app';
import type { WorkerInit, WorkerResult, WorkerUser } from './reconnect-worker';
import { intFlag, type Flags, type Scenario } from './lib/scenario';
import { BENCH_JWT_SECRET, cpuSeconds, rssMB, startService } from './lib/service';
import { summarize } from './lib/stats';

export const reconnectHelp = `reconnect flags:
  --sockets N       sockets, one per user, in direct pairs (default 10000)
  --rate N          msgs/s in aggregate (default 1000)
  --duration S      seconds of sending (default 30)
  --drop-pct P      percent of the sockets dropped once at a random moment (default 5)
  --instances N     service instances (default 1; 2 adds Redis and spreads the sockets)
  --workers N       client processes (default 2)
  --ack-timeout MS  a send unacked this long is retried with the same clientMessageId (default 5000)`;

export const reconnectScenario: Scenario = {
  name: 'reconnect',
  description:
    '10,000 sockets, 1,000 msgs/s, 5 % dropped and reconnected at random, retries with the same ' +
    'clientMessageId, catch-up with after=: 0 lost, 0 duplicates stored, every view gap-free.',
  options: {
    sockets: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    'drop-pct': { type: 'string' },
    instances: { type: 'string' },
    workers: { type: 'string' },
    'ack-timeout': { type: 'string' },
  },
  async run(flags: Flags, ctx) {
    const sockets = intFlag(flags, 'sockets', 10_000);
    const rate = intFlag(flags, 'rate', 1000);
    const durationS = intFlag(flags, 'duration', 30);
    const dropPct = intFlag(flags, 'drop-pct', 5);
    const instances = intFlag(flags, 'instances', 1);
    const workerCount = intFlag(flags, 'workers', 2);
    const ackTimeoutMs = intFlag(flags, 'ack-timeout', 5000);

    const db = await createTestDatabase();
    ctx.onCleanup(() => db.drop());
    const service = await startService({
      databaseUrl: db.url,
      redisUrl: instances > 1 ? TEST_REDIS_URL : undefined,
      instances,
      basePort: 3400,
      log: ctx.log,
    });
    ctx.onCleanup(() => service.stop());

    // Users in pairs, one direct conversation per pair, created over REST by its first member.
    const prefix = `rc${Date.now().toString(36)}`;
    const users: WorkerUser[] = [];
    const tokens = await Promise.all(
      Array.from({ length: sockets }, (_, i) =>
        signDevToken(`${prefix}-u${i}`, { secret: BENCH_JWT_SECRET, ttlS: 6 * 3600 }),
      ),
    );
    let nextPair = 0;
    const setupStart = Date.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let p = nextPair++; p < sockets / 2; p = nextPair++) {
          const a = 2 * p;
          const res = await fetch(`${service.urls[0]}/conversations`, {
            method: 'POST',
            headers: { authorization: `Bearer ${tokens[a]}`, 'content-type': 'application/json' },
            body: JSON.stringify({ type: 'direct', participantIds: [`${prefix}-u${a + 1}`] }),
          });
          if (res.status !== 201) throw new Error(`create conversation: ${res.status} ${await res.text()}`);
          const { id } = (await res.json()) as { id: string };
          users[a] = { id: `${prefix}-u${a}`, token: tokens[a]!, conversationId: id };
          users[a + 1] = { id: `${prefix}-u${a + 1}`, token: tokens[a + 1]!, conversationId: id };
        }
      }),
    );
    ctx.log(`setup: ${sockets / 2} conversations in ${((Date.now() - setupStart) / 1000).toFixed(1)} s`);

    // Client processes; users dealt round-robin, so most deliveries cross processes.
    const workers: ChildProcess[] = Array.from({ length: workerCount }, () =>
      fork(path.join(__dirname, 'reconnect-worker.ts'), [], { execArgv: ['-r', '@swc-node/register'] }),
    );
    ctx.onCleanup(async () => {
      for (const w of workers) w.kill();
    });
    const waitAll = <T>(type: string) =>
      Promise.all(
        workers.map(
          (w) =>
            new Promise<T>((resolve, reject) => {
              const onMessage = (m: { type: string }) => {
                if (m.type !== type) return;
                w.off('message', onMessage);
                resolve(m as T);
              };
              w.on('message', onMessage);
              w.once('exit', (code) => reject(new Error(`worker exited (${code}) waiting for ${type}`)));
            }),
        ),
      );
    const drops = Math.round((sockets * dropPct) / 100);
    const connectStart = Date.now();
    const ready = waitAll<{ connected: number }>('ready');
    workers.forEach((w, k) => {
      const init: WorkerInit = {
        type: 'init',
        users: users.filter((_, i) => i % workerCount === k),
        urls: service.urls,
        rate: rate / workerCount,
        durationS,
        drops: Math.round(drops / workerCount),
        ackTimeoutMs,
        heartbeatS: 20,
      };
      w.send(init);
    });
    const connected = (await ready).reduce((n, r) => n + r.connected, 0);
    const connectS = (Date.now() - connectStart) / 1000;
    ctx.log(`connected ${connected}/${sockets} sockets in ${connectS.toFixed(1)} s`);

    const cpuBefore = service.pids.map(cpuSeconds);
    const runStart = Date.now();
    const done = waitAll<{ pending: number }>('done');
    for (const w of workers) w.send({ type: 'go' });
    await done;
    const runS = (Date.now() - runStart) / 1000;
    const serverCores = service.pids.map((pid, i) => (cpuSeconds(pid) - cpuBefore[i]!) / runS);
    const serverRss = service.pids.map(rssMB);
    ctx.log(`sending done after ${runS.toFixed(1)} s; checking`);

    // The database's truth.
    const pg = new Client({ connectionString: db.url });
    await pg.connect();
    const convRows: { id: string; last_seq: number }[] = (
      await pg.query(`SELECT id, last_seq FROM conversations`)
    ).rows;
    const msgRows: { conversation_id: string; seq: number; sender_id: string; client_message_id: string }[] =
      (await pg.query(`SELECT conversation_id, seq, sender_id, client_message_id FROM messages`)).rows;
    await pg.end();
    const lastSeq = Object.fromEntries(convRows.map((c) => [c.id, c.last_seq]));

    const resultsP = waitAll<WorkerResult>('result');
    for (const w of workers) w.send({ type: 'verify', lastSeq });
    const results = await resultsP;

    const sum = (k: keyof WorkerResult) => results.reduce((n, r) => n + (r[k] as number), 0);
    const errors: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    const acked = results.flatMap((r) => r.acked);

    // Stored once, at the acked seq; no (sender, clientMessageId) twice; seqs 1..n per conversation.
    const byCmid = new Map<string, { conversation_id: string; seq: number }[]>();
    for (const m of msgRows) {
      const list = byCmid.get(m.client_message_id) ?? [];
      list.push(m);
      byCmid.set(m.client_message_id, list);
    }
    let lostAcked = 0;
    let wrongSeq = 0;
    for (const [cmid, conversationId, seq] of acked) {
      const stored = byCmid.get(cmid);
      if (!stored?.length) lostAcked++;
      else if (stored[0]!.conversation_id !== conversationId || stored[0]!.seq !== seq) wrongSeq++;
    }
    const duplicatesStored = [...byCmid.values()].filter((l) => l.length > 1).length;
    const ackedIds = new Set(acked.map((a) => a[0]));
    const storedNotAcked = [...byCmid.keys()].filter((k) => !ackedIds.has(k)).length;
    const perConv = new Map<string, number[]>();
    for (const m of msgRows)
      perConv.set(m.conversation_id, [...(perConv.get(m.conversation_id) ?? []), m.seq]);
    let seqHoles = 0;
    for (const c of convRows) {
      const seqs = (perConv.get(c.id) ?? []).sort((a, b) => a - b);
      if (seqs.length !== c.last_seq || seqs.some((s, i) => s !== i + 1)) seqHoles++;
    }

    const ack = summarize(results.flatMap((r) => r.ackMs));
    const delivery = summarize(results.flatMap((r) => r.deliveryMs));
    const connect = summarize(results.flatMap((r) => r.connectMs));
    const result = {
      config: { sockets, rate, durationS, dropPct, instances, workers: workerCount, ackTimeoutMs },
      connections: {
        connected,
        seconds: connectS,
        perSecond: Math.round(connected / connectS),
        connectMs: connect,
      },
      messages: {
        sent: sum('sent'),
        attempts: sum('attempts'),
        retries: sum('retries'),
        acked: acked.length,
        achievedPerS: Math.round(acked.length / runS),
        gaveUp: sum('gaveUp'),
        errors,
        ackMs: ack,
        deliveryMs: delivery,
      },
      drops: {
        dropped: sum('drops'),
        reconnects: sum('reconnects'),
        notConnectedAtEnd: sum('notConnectedAtEnd'),
      },
      recovery: {
        catchUpRequests: sum('catchUpRequests'),
        catchUpMessages: sum('catchUpMessages'),
        incompleteReconnected: sum('incompleteReconnected'),
        incompleteNeverDropped: sum('incompleteNeverDropped'),
        missingAfterCatchUp: sum('missingAfterCatchUp'),
        liveDuplicates: sum('liveDuplicates'),
        liveRegressions: sum('liveRegressions'),
      },
      database: { messages: msgRows.length, lostAcked, wrongSeq, duplicatesStored, storedNotAcked, seqHoles },
      server: { cores: serverCores.map((c) => Math.round(c * 100) / 100), rssMB: serverRss },
    };
    const ok =
      lostAcked === 0 &&
      wrongSeq === 0 &&
      duplicatesStored === 0 &&
      seqHoles === 0 &&
      result.recovery.missingAfterCatchUp === 0 &&
      result.recovery.incompleteNeverDropped === 0;
    const report = [
      `## reconnect: ${sockets} sockets, ${rate} msgs/s for ${durationS} s, ${dropPct} % dropped, ${instances} instance(s)`,
      `connected ${connected} in ${connectS.toFixed(1)} s (${result.connections.perSecond}/s)`,
      `sent ${result.messages.sent}, acked ${acked.length} (${result.messages.achievedPerS}/s), retries ${result.messages.retries}, gave up ${result.messages.gaveUp}, errors ${JSON.stringify(errors)}`,
      `ack ms p50 ${ack.p50} p99 ${ack.p99} max ${ack.max}; delivery ms p50 ${delivery.p50} p99 ${delivery.p99}`,
      `dropped ${result.drops.dropped}, reconnects ${result.drops.reconnects}; catch-up: ${result.recovery.catchUpRequests} requests, ${result.recovery.catchUpMessages} messages`,
      `views incomplete before catch-up: ${result.recovery.incompleteReconnected} reconnected, ${result.recovery.incompleteNeverDropped} never dropped; missing after catch-up ${result.recovery.missingAfterCatchUp}`,
      `database: ${msgRows.length} messages, lost acked ${lostAcked}, wrong seq ${wrongSeq}, duplicates ${duplicatesStored}, stored but never acked ${storedNotAcked}, conversations with seq holes ${seqHoles}`,
      `server cores ${result.server.cores.join('+')}, RSS ${serverRss.join('+')} MB`,
      ok ? 'RESULT: nothing lost, nothing duplicated, every view complete' : 'RESULT: FAILED (see above)',
    ].join('\n');
    return { result: { ok, ...result }, report };
  },
};
