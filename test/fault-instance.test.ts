// Fault injection: an app instance dies. Two real processes (`node src/main.ts`) share one
// database and one Redis. (1) One is killed with SIGKILL in the middle of a burst; its clients
// reconnect to the other and retry every unacked send with the same clientMessageId. (2) One gets
// SIGTERM in the middle of a burst: every send it received is acked, its sockets get
// `session:end { reason: 'server_shutdown' }` and are disconnected, it exits, and the clients
// finish on the other. (3) A shutdown that cannot finish (a send stuck behind a row lock held
// elsewhere) still ends: the process exits after SHUTDOWN_TIMEOUT_MS. Every time, the database
// holds every acked message exactly once, seqs 1..N without gaps.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import type { Socket } from 'socket.io-client';
import { connectSocket, emitAck, http, token, TEST_REDIS_URL } from './support/app';
import { createTestDatabase, type TestDatabase } from './support/db';
import { Instance, sleep, until } from './support/processes';

type Acked = Map<string, { id: string; seq: number; conversationId: string }>;

/**
 * A user's client: one socket, several sends in flight at once (a window), and the retry rule every
 * client follows: a send that is not acked ok is sent again, with the same clientMessageId, on
 * whatever instance the client is connected to by then.
 */
class ChatClient {
  socket!: Socket;
  readonly events: { event: string; payload: any }[] = [];
  readonly disconnects: string[] = [];
  private reconnecting: Promise<void> | undefined;
  failures = new Map<string, number>();

  constructor(
    readonly userId: string,
    private url: string,
  ) {}

  async connect(url = this.url): Promise<void> {
    this.url = url;
    this.socket = await connectSocket(url, await token(this.userId));
    this.socket.onAny((event: string, payload: unknown) => this.events.push({ event, payload }));
    this.socket.on('disconnect', (reason) => this.disconnects.push(reason));
  }

  /** Moves to `url` once, whoever of the workers notices first. */
  failOver(url: string): Promise<void> {
    if (this.url === url && this.socket.connected) return Promise.resolve();
    this.reconnecting ??= (async () => {
      this.socket.close();
      await this.connect(url);
    })().finally(() => (this.reconnecting = undefined));
    return this.reconnecting;
  }

  /** Sends `count` messages into `conversationId`, `window` at a time, each until acked ok. */
  async burst(
    conversationId: string,
    count: number,
    window: number,
    acked: Acked,
    fallbackUrl: () => string | undefined,
  ): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (next < count) {
          const i = next++;
          const clientMessageId = randomUUID();
          const payload = { conversationId, clientMessageId, content: { text: `${this.userId} #${i}` } };
          for (let attempt = 0; ; attempt++) {
            assert.ok(attempt < 50, `${this.userId} #${i} was never acked`);
            if (this.reconnecting) await this.reconnecting.catch(() => undefined);
            const ack = await emitAck(this.socket, 'message:send', payload, 4000).catch((err: Error) => ({
              ok: false as const,
              error: { code: 'NO_ACK', message: err.message },
            }));
            if (ack.ok) {
              acked.set(clientMessageId, { id: ack.data.id, seq: ack.data.seq, conversationId });
              break;
            }
            this.failures.set(ack.error.code, (this.failures.get(ack.error.code) ?? 0) + 1);
            const other = fallbackUrl();
            if (!this.socket.connected && other) await this.failOver(other).catch(() => undefined);
            await sleep(50);
          }
        }
      }),
    );
  }

  seqsOf(conversationId: string): number[] {
    return this.events
      .filter((e) => e.event === 'message:new' && e.payload.conversationId === conversationId)
      .map((e) => e.payload.seq as number);
  }
}

describe('fault injection: app instances killed and terminated mid-burst', () => {
  let db: TestDatabase;
  let pg: Client;
  const instances: Instance[] = [];
  const clients: ChatClient[] = [];
  const env = () => ({
    DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
  });
  const prefix = `tinst${randomBytes(4).toString('hex')}:`;

  /** The survivor: on all along, every test's clients fail over to it. */
  let Y: Instance;
  let X: Instance;

  before(async () => {
    db = await createTestDatabase();
    pg = new Client({ connectionString: db.url });
    await pg.connect();
    [X, Y] = await Promise.all([start(), start()]);
  });
  after(async () => {
    for (const c of clients) c.socket?.close();
    for (const i of instances) i.kill('SIGKILL');
    await Promise.all(instances.map((i) => i.exit));
    await pg?.end().catch(() => undefined);
    await db?.drop();
  });

  async function start(extra: Record<string, string> = {}): Promise<Instance> {
    const instance = await Instance.start({ ...env(), ...extra });
    instances.push(instance);
    return instance;
  }
  async function client(userId: string, url: string): Promise<ChatClient> {
    const c = new ChatClient(userId, url);
    await c.connect();
    clients.push(c);
    return c;
  }
  async function conversation(url: string, owner: string, others: string[]): Promise<string> {
    const res = await http(url, 'POST', '/conversations', {
      token: await token(owner),
      body:
        others.length === 1
          ? { type: 'direct', participantIds: others }
          : { type: 'group', title: 'g', participantIds: others },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id;
  }

  /** The database is the truth: every acked message once, each conversation's seqs 1..N. */
  async function checkDatabase(conversations: string[], acked: Acked): Promise<number> {
    const { rows } = await pg.query<{
      conversation_id: string;
      seq: number;
      id: string;
      client_message_id: string;
    }>(
      'SELECT conversation_id, seq, id, client_message_id FROM messages WHERE conversation_id = ANY($1) ORDER BY conversation_id, seq',
      [conversations],
    );
    for (const conv of conversations) {
      const seqs = rows.filter((r) => r.conversation_id === conv).map((r) => r.seq);
      assert.deepEqual(
        seqs,
        Array.from({ length: seqs.length }, (_, i) => i + 1),
        `seqs of ${conv} are gap-free`,
      );
    }
    assert.equal(
      new Set(rows.map((r) => r.client_message_id)).size,
      rows.length,
      'one row per clientMessageId',
    );
    assert.equal(rows.length, acked.size, 'as many rows as acked messages: none lost, none extra');
    for (const row of rows) {
      const ack = acked.get(row.client_message_id);
      assert.ok(ack, `row ${row.conversation_id}/${row.seq} was never acked`);
      assert.deepEqual(ack, { id: row.id, seq: row.seq, conversationId: row.conversation_id });
    }
    return rows.length;
  }

  const tag = () => randomBytes(3).toString('hex');

  it('SIGKILL mid-burst: clients retry unacked sends on the other instance; nothing lost or duplicated', async () => {
    const t = tag();
    const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map((n) => `${n}.${t}`) as [
      string,
      string,
      string,
      string,
    ];
    const direct = await conversation(X.url, alice, [bob]);
    const group = await conversation(X.url, carol, [alice, bob, dave]);
    const senders = await Promise.all([client(alice, X.url), client(bob, X.url), client(carol, X.url)]);
    const watcher = await client(dave, Y.url); // on the survivor all along
    const acked: Acked = new Map();
    const fallback = () => (X.running ? undefined : Y.url);
    const PER = 60;
    const work = Promise.all([
      senders[0]!.burst(direct, PER, 5, acked, fallback),
      senders[1]!.burst(direct, PER, 5, acked, fallback),
      senders[2]!.burst(group, PER, 5, acked, fallback),
      senders[0]!.burst(group, PER, 5, acked, fallback),
    ]);
    await until(() => acked.size >= 60, 'part of the burst to be acked');
    X.kill('SIGKILL');
    const killedAt = acked.size;
    await work;
    assert.equal((await X.exit).signal, 'SIGKILL');
    assert.ok(killedAt < 4 * PER, 'the instance died before the burst was over');
    assert.ok(
      senders.some((s) => s.failures.get('NO_ACK')),
      'some sends were in flight when the instance died',
    );
    assert.equal(await checkDatabase([direct, group], acked), 4 * PER);
    // The watcher on the survivor saw the group in order, never twice (the gap left by the dead
    // instance, if any, is recovered with after=).
    await until(() => watcher.seqsOf(group).length > 0, 'the watcher to get messages');
    const seen = watcher.seqsOf(group);
    assert.equal(new Set(seen).size, seen.length, 'no duplicate message:new');
    const history = await http(Y.url, 'GET', `/conversations/${group}/messages?after=0&limit=100`, {
      token: await token(dave),
    });
    assert.equal(history.status, 200);
    assert.equal(history.body.items.length, 100);
    assert.equal((await http(Y.url, 'GET', '/health/ready')).status, 200, 'the survivor is healthy');
    assert.deepEqual(watcher.disconnects, [], 'the survivor dropped nobody');
    console.log(`# SIGKILL mid-burst: ${killedAt} acked before the kill, ${acked.size} after retries`);
    for (const c of clients.splice(0)) c.socket.close();
  });

  it('SIGTERM mid-burst: in-flight sends acked, session:end then disconnect, exit; clients finish elsewhere', async () => {
    const Z = await start({ SHUTDOWN_TIMEOUT_MS: '20000' });
    const t = tag();
    const [alice, bob] = [`alice.${t}`, `bob.${t}`];
    const conv = await conversation(Z.url, alice, [bob]);
    const a = await client(alice, Z.url);
    const b = await client(bob, Z.url);
    const acked: Acked = new Map();
    const unacked: { sender: ChatClient; payload: any }[] = [];
    type Outcome = { ok: boolean; code?: string; afterSigterm: boolean };
    const emitted: Promise<Outcome>[] = [];
    let answered = 0;
    let sigtermSent = false;
    let stop = false;
    // A pipelined burst: a send every 2 ms from each of two users, without waiting for acks.
    const pipelined = (async () => {
      for (let i = 0; !stop; i++) {
        const sender = i % 2 ? a : b;
        const clientMessageId = randomUUID();
        const payload = { conversationId: conv, clientMessageId, content: { text: `term ${i}` } };
        const afterSigterm = sigtermSent;
        emitted.push(
          emitAck(sender.socket, 'message:send', payload, 15_000).then(
            (ack): Outcome => {
              answered++;
              if (ack.ok)
                acked.set(clientMessageId, { id: ack.data.id, seq: ack.data.seq, conversationId: conv });
              else unacked.push({ sender, payload });
              return ack.ok ? { ok: true, afterSigterm } : { ok: false, code: ack.error.code, afterSigterm };
            },
            (): Outcome => ({ ok: false, code: 'NO_ACK', afterSigterm }),
          ),
        );
        await sleep(2);
      }
    })();
    await until(() => acked.size >= 40, 'the burst to be under way');
    // Sends in flight for sure: another session holds the conversation's row lock for a moment.
    const locker = new Client({ connectionString: db.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [conv]);
      await until(() => emitted.length - answered >= 10, 'sends to be in flight');
      Z.kill('SIGTERM');
      sigtermSent = true;
      await sleep(300); // the burst goes on meanwhile: these arrive while the instance drains
      stop = true;
      await pipelined;
      await locker.query('ROLLBACK');
    } finally {
      await locker.end().catch(() => undefined);
    }
    const outcomes = await Promise.all(emitted);
    const exit = await Promise.race([Z.exit, sleep(30_000).then(() => 'still running' as const)]);
    assert.notEqual(exit, 'still running', `no exit 30 s after SIGTERM:\n${Z.output.slice(-2000)}`);
    assert.deepEqual(exit, { code: null, signal: 'SIGTERM' }, 'a clean exit, not the hard-exit timer');
    // Every send emitted before SIGTERM (ten of them waiting in the database) was stored and acked;
    // every later one was answered too: stored, or refused with SERVICE_UNAVAILABLE while draining.
    const before = outcomes.filter((o) => !o.afterSigterm);
    const later = outcomes.filter((o) => o.afterSigterm);
    assert.deepEqual(
      before.filter((o) => !o.ok),
      [],
      'a send emitted before SIGTERM was not acked',
    );
    for (const o of later) assert.ok(o.ok || o.code === 'SERVICE_UNAVAILABLE', JSON.stringify(o));
    assert.ok(
      later.some((o) => o.code === 'SERVICE_UNAVAILABLE'),
      'new sends were not refused while draining',
    );
    // Each socket was told why, then disconnected by the server.
    for (const c of [a, b]) {
      const names = c.events.map((e) => e.event);
      const end = c.events.find((e) => e.event === 'session:end');
      assert.deepEqual(
        end?.payload,
        { reason: 'server_shutdown' },
        `${c.userId}: ${names.slice(-5).join(',')}`,
      );
      assert.deepEqual(c.disconnects, ['io server disconnect']);
    }
    // The clients finish on the other instance: what was refused is retried with the same id.
    await Promise.all([a.failOver(Y.url), b.failOver(Y.url)]);
    for (const { sender, payload } of unacked) {
      const ack = await emitAck(sender.socket, 'message:send', payload);
      assert.equal(ack.ok, true, JSON.stringify(ack));
      acked.set(payload.clientMessageId, { id: ack.data.id, seq: ack.data.seq, conversationId: conv });
    }
    const total = await checkDatabase([conv], acked);
    assert.equal(total, outcomes.length);
    console.log(
      `# SIGTERM mid-burst: ${outcomes.length} sends (${before.length} before SIGTERM, all acked), ${later.length} after, ${unacked.length} refused while draining and retried elsewhere`,
    );
    for (const c of clients.splice(0)) c.socket.close();
  });

  it('a shutdown that cannot finish (a send stuck behind a lock) still exits after SHUTDOWN_TIMEOUT_MS', async () => {
    const W = await start({ SHUTDOWN_TIMEOUT_MS: '2000' });
    const t = tag();
    const [alice, bob] = [`alice.${t}`, `bob.${t}`];
    const conv = await conversation(W.url, alice, [bob]);
    const a = await client(alice, W.url);
    // Another session holds the conversation's row lock: the send waits inside the database.
    const locker = new Client({ connectionString: db.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [conv]);
      const payload = { conversationId: conv, clientMessageId: randomUUID(), content: { text: 'stuck' } };
      const stuck = emitAck(a.socket, 'message:send', payload, 60_000).catch(() => undefined);
      await until(
        async () =>
          (
            await pg.query(
              `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND application_name = 'chat-service'`,
              [db.name],
            )
          ).rowCount! > 0,
        'the send to wait for the lock',
      );
      W.kill('SIGTERM');
      // It exits while the lock is still held: nothing else could have let it finish.
      const exit = await Promise.race([W.exit, sleep(30_000).then(() => 'still running' as const)]);
      assert.notEqual(exit, 'still running', `no exit while the send was stuck:\n${W.output.slice(-2000)}`);
      assert.deepEqual(exit, { code: 1, signal: null });
      assert.match(W.output, /shutdown did not finish within 2000 ms/);
      await locker.query('ROLLBACK');
      await stuck;
      // The client retries on the other instance: stored once.
      await a.failOver(Y.url);
      const ack = await emitAck(a.socket, 'message:send', payload, 10_000);
      assert.equal(ack.ok, true, JSON.stringify(ack));
      const acked: Acked = new Map([
        [payload.clientMessageId, { id: ack.data.id, seq: ack.data.seq, conversationId: conv }],
      ]);
      assert.equal(await checkDatabase([conv], acked), 1);
    } finally {
      await locker.end().catch(() => undefined);
    }
  });
});
