/**
 * One client process of the reconnect scenario (bench/reconnect.ts): owns a share of the sockets,
 * sends at its share of the rate, drops sockets at random and behaves as a careful client would:
 * unacked sends are retried with the same clientMessageId, and after a reconnect the conversation
 * is caught up with `GET …/messages?after=<last contiguous seq>`.
 */
import { randomUUID } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';

export interface WorkerUser {
  id: string;
  token: string;
  conversationId: string;
}

export interface WorkerInit {
  type: 'init';
  users: WorkerUser[];
  urls: string[];
  rate: number;
  durationS: number;
  drops: number;
  ackTimeoutMs: number;
  heartbeatS: number;
}

export interface WorkerResult {
  type: 'result';
  sockets: number;
  connectMs: number[];
  sent: number;
  attempts: number;
  retries: number;
  acked: [clientMessageId: string, conversationId: string, seq: number][];
  ackMs: number[];
  deliveryMs: number[];
  errors: Record<string, number>;
  gaveUp: number;
  drops: number;
  reconnects: number;
  catchUpRequests: number;
  catchUpMessages: number;
  liveDuplicates: number;
  liveRegressions: number;
  /** Sockets whose view missed messages before the final check: with and without a reconnect. */
  incompleteReconnected: number;
  incompleteNeverDropped: number;
  /** Messages still missing after the final catch-up (must be 0). */
  missingAfterCatchUp: number;
  /** Sockets that were never live at the end. */
  notConnectedAtEnd: number;
}

interface Pending {
  clientMessageId: string;
  user: UserState;
  text: string;
  firstAt: number;
  attempts: number;
  inFlight: boolean;
}

interface UserState extends WorkerUser {
  url: string;
  socket: Socket;
  seen: Set<number>;
  upTo: number;
  lastLive: number;
  everConnected: boolean;
  reconnects: number;
  catchingUp: boolean;
}

const send = (m: unknown) => process.send!(m);
const nowMs = () => Number(process.hrtime.bigint() / 1000n) / 1000;

let init: WorkerInit;
const users: UserState[] = [];
const pending = new Map<string, Pending>();
const result: WorkerResult = {
  type: 'result',
  sockets: 0,
  connectMs: [],
  sent: 0,
  attempts: 0,
  retries: 0,
  acked: [],
  ackMs: [],
  deliveryMs: [],
  errors: {},
  gaveUp: 0,
  drops: 0,
  reconnects: 0,
  catchUpRequests: 0,
  catchUpMessages: 0,
  liveDuplicates: 0,
  liveRegressions: 0,
  incompleteReconnected: 0,
  incompleteNeverDropped: 0,
  missingAfterCatchUp: 0,
  notConnectedAtEnd: 0,
};

process.on('message', (msg: { type: string; lastSeq?: Record<string, number> }) => {
  if (msg.type === 'init') void start(msg as WorkerInit);
  else if (msg.type === 'go') void run();
  else if (msg.type === 'verify') void verify(msg.lastSeq!);
});

function see(user: UserState, seq: number): boolean {
  if (user.seen.has(seq)) return false;
  user.seen.add(seq);
  while (user.seen.has(user.upTo + 1)) user.upTo++;
  return true;
}

async function start(msg: WorkerInit): Promise<void> {
  init = msg;
  let next = 0;
  const connectOne = async (u: WorkerUser, i: number): Promise<void> => {
    const url = init.urls[i % init.urls.length]!;
    const startedAt = nowMs();
    const socket = io(url, {
      auth: { token: u.token },
      transports: ['websocket'],
      forceNew: true,
      reconnectionDelay: 250 + Math.random() * 500,
      reconnectionDelayMax: 2000,
    });
    const user: UserState = {
      ...u,
      url,
      socket,
      seen: new Set(),
      upTo: 0,
      lastLive: 0,
      everConnected: false,
      reconnects: 0,
      catchingUp: false,
    };
    users.push(user);
    socket.on('message:new', (m: { seq: number; content: { text: string } | null; senderId: string }) => {
      if (m.seq <= user.lastLive) result.liveRegressions++;
      user.lastLive = Math.max(user.lastLive, m.seq);
      if (!see(user, m.seq)) result.liveDuplicates++;
      if (m.senderId !== user.id && m.content) {
        const sentAt = Number(m.content.text.split(' ')[1]);
        if (Number.isFinite(sentAt)) result.deliveryMs.push(nowMs() - sentAt);
      }
    });
    socket.on('connect', () => {
      if (user.everConnected) {
        result.reconnects++;
        user.reconnects++;
        user.lastLive = 0;
        void catchUp(user);
        // Sends that were waiting for this socket go out again, same clientMessageId.
        for (const p of pending.values()) if (p.user === user && !p.inFlight) attempt(p);
      }
      user.everConnected = true;
    });
    await new Promise<void>((resolve) => {
      socket.once('connect', () => {
        result.connectMs.push(nowMs() - startedAt);
        resolve();
      });
      socket.once('connect_error', (err) => {
        result.errors[`connect:${err.message}`] = (result.errors[`connect:${err.message}`] ?? 0) + 1;
        resolve();
      });
    });
  };
  // 100 connects in flight at a time.
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      for (let i = next++; i < msg.users.length; i = next++) await connectOne(msg.users[i]!, i);
    }),
  );
  result.sockets = users.filter((u) => u.socket.connected).length;
  send({ type: 'ready', connected: result.sockets });
}

/** `GET …/messages?after=<upTo>` until nothing is left: what a client does after a reconnect. */
async function catchUp(user: UserState): Promise<void> {
  if (user.catchingUp) return;
  user.catchingUp = true;
  try {
    for (;;) {
      result.catchUpRequests++;
      const res = await fetch(
        `${user.url}/conversations/${user.conversationId}/messages?after=${user.upTo}&limit=100`,
        { headers: { authorization: `Bearer ${user.token}` } },
      );
      if (!res.ok) {
        result.errors[`catchup:${res.status}`] = (result.errors[`catchup:${res.status}`] ?? 0) + 1;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      const page = (await res.json()) as { items: { seq: number }[]; nextCursor: string | null };
      for (const m of page.items) if (see(user, m.seq)) result.catchUpMessages++;
      if (!page.nextCursor || !page.items.length) return;
    }
  } finally {
    user.catchingUp = false;
  }
}

function attempt(p: Pending): void {
  if (!p.user.socket.connected) return; // the 'connect' handler sends it again
  p.inFlight = true;
  p.attempts++;
  result.attempts++;
  if (p.attempts > 1) result.retries++;
  p.user.socket.timeout(init.ackTimeoutMs).emit(
    'message:send',
    {
      conversationId: p.user.conversationId,
      clientMessageId: p.clientMessageId,
      content: { text: p.text },
    },
    (err: Error | null, res?: { ok: boolean; data?: { seq: number }; error?: { code: string } }) => {
      p.inFlight = false;
      if (!pending.has(p.clientMessageId)) return; // an earlier attempt's ack already came
      if (err || !res) {
        count(`timeout`);
        return retryLater(p, 0);
      }
      if (res.ok && res.data) {
        pending.delete(p.clientMessageId);
        result.acked.push([p.clientMessageId, p.user.conversationId, res.data.seq]);
        result.ackMs.push(nowMs() - p.firstAt);
        see(p.user, res.data.seq);
        return;
      }
      const code = res.error?.code ?? 'UNKNOWN';
      count(code);
      if (code === 'SERVICE_UNAVAILABLE' || code === 'RATE_LIMITED') return retryLater(p, 500);
      pending.delete(p.clientMessageId);
      result.gaveUp++;
    },
  );
}

function count(code: string): void {
  result.errors[code] = (result.errors[code] ?? 0) + 1;
}

function retryLater(p: Pending, ms: number): void {
  if (p.attempts >= 20) {
    pending.delete(p.clientMessageId);
    result.gaveUp++;
    return;
  }
  setTimeout(() => attempt(p), ms);
}

async function run(): Promise<void> {
  const startedAt = Date.now();
  const endAt = startedAt + init.durationS * 1000;
  // The drops: at random moments of the run, a random live socket loses its connection.
  for (let i = 0; i < init.drops; i++) {
    setTimeout(
      () => {
        const live = users.filter((u) => u.socket.connected);
        const victim = live[Math.floor(Math.random() * live.length)];
        if (!victim) return;
        result.drops++;
        victim.socket.io.engine.close(); // as a network drop: the client reconnects by itself
      },
      (0.05 + Math.random() * 0.9) * init.durationS * 1000,
    );
  }
  // Heartbeats every heartbeatS per socket, spread over the period.
  let hb = 0;
  const perTick = Math.ceil(users.length / init.heartbeatS);
  const heartbeat = setInterval(() => {
    for (let k = 0; k < perTick; k++) {
      const u = users[hb++ % users.length];
      if (u?.socket.connected) u.socket.emit('presence:heartbeat', {});
    }
  }, 1000);
  // Sends: open loop at the target rate, from random users.
  let quota = 0;
  let last = Date.now();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = Date.now();
      if (now >= endAt) {
        clearInterval(tick);
        return resolve();
      }
      quota += ((now - last) / 1000) * init.rate;
      last = now;
      while (quota >= 1) {
        quota--;
        const user = users[Math.floor(Math.random() * users.length)]!;
        const p: Pending = {
          clientMessageId: randomUUID(),
          user,
          text: `bench ${nowMs().toFixed(3)} ${'x'.repeat(40)}`,
          firstAt: nowMs(),
          attempts: 0,
          inFlight: false,
        };
        pending.set(p.clientMessageId, p);
        result.sent++;
        attempt(p);
      }
    }, 10);
  });
  // Every send is acked (or given up) before the check.
  const settleBy = Date.now() + 60_000;
  while (pending.size && Date.now() < settleBy) await new Promise((r) => setTimeout(r, 100));
  result.gaveUp += pending.size;
  clearInterval(heartbeat);
  send({ type: 'done', pending: pending.size });
}

async function verify(lastSeq: Record<string, number>): Promise<void> {
  // Live deliveries still in flight land first.
  await new Promise((r) => setTimeout(r, 2000));
  for (const user of users) {
    const expected = lastSeq[user.conversationId] ?? 0;
    if (!user.socket.connected) result.notConnectedAtEnd++;
    if (user.upTo >= expected) continue;
    if (user.reconnects > 0) result.incompleteReconnected++;
    else result.incompleteNeverDropped++;
  }
  // The final recovery, as a client does on any doubt; then count what is still missing.
  let next = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      for (let i = next++; i < users.length; i = next++) {
        const user = users[i]!;
        if (user.upTo < (lastSeq[user.conversationId] ?? 0)) await catchUp(user);
      }
    }),
  );
  for (const user of users) {
    const expected = lastSeq[user.conversationId] ?? 0;
    for (let s = 1; s <= expected; s++) if (!user.seen.has(s)) result.missingAfterCatchUp++;
    user.socket.close();
  }
  send(result);
}
