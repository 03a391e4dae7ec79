// Presence (CONTRACT §4) on one instance with PRESENCE_TTL_S=2: online/offline to contacts only,
// several connections per user, and the heartbeat rule (a connection that stays open but stops
// heartbeating goes offline; its next heartbeat brings it back).
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { ConversationRepository } from '../src/conversations/conversation.repository';
import { PresenceService } from '../src/presence/presence.service';
import { connectSocket, emitAck, http, testWorld, token, type TestApp, users } from './support/app';
import { until } from './support/processes';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Device {
  userId: string;
  socket: Socket;
  presence: { userId: string; status: string; lastSeenAt: string }[];
  stopBeating(): void;
}

describe('presence (one instance, PRESENCE_TTL_S=2)', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  let devices: Device[] = [];

  before(async () => {
    world = await testWorld();
    app = await world.start({ PRESENCE_TTL_S: '2' });
  });
  after(() => world.close());
  afterEach(() => {
    for (const d of devices) {
      d.stopBeating();
      d.socket.close();
    }
    devices = [];
  });

  /** A device; with `beat`, it heartbeats well within the TTL, as clients must. */
  async function device(userId: string, beat = true): Promise<Device> {
    const socket = await connectSocket(app.url, await token(userId));
    const d: Device = { userId, socket, presence: [], stopBeating: () => undefined };
    socket.on('presence', (p) => d.presence.push(p));
    if (beat) {
      const timer = setInterval(() => socket.emit('presence:heartbeat', {}), 300);
      d.stopBeating = () => clearInterval(timer);
    }
    devices.push(d);
    return d;
  }
  async function direct(a: string, b: string): Promise<string> {
    const res = await http(app.url, 'POST', '/conversations', {
      token: await token(a),
      body: { type: 'direct', participantIds: [b] },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id;
  }
  const statuses = (d: Device, userId: string) =>
    d.presence.filter((p) => p.userId === userId).map((p) => p.status);
  async function waitStatus(d: Device, userId: string, status: string, nth = 1, timeoutMs = 10_000) {
    await until(
      () => statuses(d, userId).filter((s) => s === status).length >= nth,
      `${d.userId} to see ${userId} ${status} (#${nth})`,
      timeoutMs,
    );
    return d.presence.filter((p) => p.userId === userId && p.status === status)[nth - 1]!;
  }
  /** The number of connections the instance holds, from /metrics: to know a disconnect has been handled. */
  async function connections(): Promise<number> {
    const res = await fetch(`${app.url}/metrics`);
    const text = await res.text();
    const line = text.split('\n').find((l) => /^\w*socket\w*connections\w*(\{[^}]*\})? /.test(l));
    assert.ok(line, 'a socket connections gauge in /metrics');
    return Number(line.split(' ').pop());
  }

  it('a contact gets online when the user connects and offline only when the last connection closes', async () => {
    const [alice, bob] = users('alice', 'bob');
    await direct(alice!, bob!);
    const b1 = await device(bob!);
    const before = Date.now();
    const a1 = await device(alice!);
    const online = await waitStatus(b1, alice!, 'online');
    assert.deepEqual(Object.keys(online).sort(), ['lastSeenAt', 'status', 'userId']);
    assert.match(online.lastSeenAt, ISO);
    assert.equal(new Date(online.lastSeenAt).toISOString(), online.lastSeenAt);
    assert.ok(Date.parse(online.lastSeenAt) >= before - 1000, online.lastSeenAt);

    const a2 = await device(alice!);
    const count = await connections();
    a1.stopBeating();
    a1.socket.close();
    // Once the server has handled the close (and its presence work has had time to run), bob must
    // still see alice online: she has another connection.
    for (let n = await connections(); n >= count; n = await connections()) await sleep(20);
    await sleep(500);
    assert.deepEqual(statuses(b1, alice!), ['online'], 'closing one of two connections is not going offline');

    a2.stopBeating();
    a2.socket.close();
    const offline = await waitStatus(b1, alice!, 'offline');
    assert.match(offline.lastSeenAt, ISO);
    assert.ok(Date.parse(offline.lastSeenAt) >= Date.parse(online.lastSeenAt));
    assert.deepEqual(statuses(b1, alice!), ['online', 'offline']);
  });

  it('an offline and the online right after it reach contacts in that order, even when the offline looks its contacts up slowly', async () => {
    const [alice, bob] = users('alice', 'bob');
    await direct(alice!, bob!);
    const b1 = await device(bob!);
    const a1 = await device(alice!);
    await waitStatus(b1, alice!, 'online');
    // The fan-out of the offline finds alice's contacts, then is held up (a slow query on a loaded
    // machine) while she comes back on another connection and that online is fanned out.
    const repo = app.app.get(ConversationRepository);
    const contactsOfMany = repo.contactsOfMany.bind(repo);
    let slowed = false;
    repo.contactsOfMany = async (userIds) => {
      const contacts = await contactsOfMany(userIds);
      if (userIds.includes(alice!) && !slowed) {
        slowed = true;
        await sleep(500);
      }
      return contacts;
    };
    try {
      a1.stopBeating();
      a1.socket.close();
      await until(() => slowed, "the offline's fan-out");
      await device(alice!);
      await waitStatus(b1, alice!, 'online', 2);
      await waitStatus(b1, alice!, 'offline');
      // The last one a contact gets is what it shows: alice is online.
      assert.deepEqual(statuses(b1, alice!), ['online', 'offline', 'online']);
    } finally {
      Reflect.deleteProperty(repo, 'contactsOfMany');
    }
  });

  it('a user who shares no conversation gets nothing', async () => {
    const [alice, bob, carol, dave] = users('alice', 'bob', 'carol', 'dave');
    await direct(alice!, bob!);
    await direct(carol!, dave!);
    const [b1, c1] = await Promise.all([device(bob!), device(carol!)]);
    const a1 = await device(alice!);
    await waitStatus(b1, alice!, 'online');
    a1.stopBeating();
    a1.socket.close();
    await waitStatus(b1, alice!, 'offline');
    // Barrier: carol's own contact comes and goes; alice's events, had they been sent, came first.
    const d1 = await device(dave!);
    await waitStatus(c1, dave!, 'online');
    assert.deepEqual(
      c1.presence.map((p) => p.userId),
      [dave],
      'carol saw only her own contact',
    );
    d1.stopBeating();
  });

  it('a connection that stays open but stops heartbeating goes offline, a later heartbeat brings it back; one that heartbeats stays online', async () => {
    const [alice, bob, carol] = users('alice', 'bob', 'carol');
    await direct(alice!, bob!);
    await direct(carol!, bob!);
    const b1 = await device(bob!);
    // carol connects first and heartbeats (without a payload, which is allowed); alice never heartbeats.
    const c1 = await device(carol!, false);
    const timer = setInterval(() => c1.socket.emit('presence:heartbeat'), 300);
    try {
      await waitStatus(b1, carol!, 'online');
      const a1 = await device(alice!, false);
      await waitStatus(b1, alice!, 'online');
      // TTL 2 s, lapse check every max(1 s, TTL/3): offline well within 15 s.
      await waitStatus(b1, alice!, 'offline', 1, 15_000);
      assert.equal(a1.socket.connected, true, 'the connection itself stays open');
      const beat = await emitAck(a1.socket, 'presence:heartbeat', {});
      assert.deepEqual(beat, { ok: true, data: {} });
      const back = await waitStatus(b1, alice!, 'online', 2);
      assert.match(back.lastSeenAt, ISO);
      assert.deepEqual(statuses(b1, alice!), ['online', 'offline', 'online']);
      // carol, connected longer than alice, would have lapsed first had her heartbeats not counted.
      assert.deepEqual(statuses(b1, carol!), ['online'], 'heartbeats keep carol online');
      for (const junk of [{ x: 1 }, 'beat', 42, [1], null]) {
        const ack = await emitAck(c1.socket, 'presence:heartbeat', junk);
        assert.equal(ack.ok, false, JSON.stringify(junk));
        assert.equal(ack.error.code, 'VALIDATION_FAILED', JSON.stringify(junk));
      }
    } finally {
      clearInterval(timer);
    }
  });

  it('a heartbeat after its connection expired, before any check announced it, announces offline then online, never online twice', async () => {
    const [alice, bob] = users('alice', 'bob');
    await direct(alice!, bob!);
    const b1 = await device(bob!);
    const presence = app.app.get(PresenceService);
    // A connection no lapse check of this instance watches (the sweep waits 5 s more than the TTL).
    await presence.beat(alice!, 'late-1');
    try {
      await waitStatus(b1, alice!, 'online');
      await sleep(2_300); // PRESENCE_TTL_S=2: expired, nobody has purged it yet
      await presence.beat(alice!, 'late-1');
      await waitStatus(b1, alice!, 'online', 2);
      assert.deepEqual(statuses(b1, alice!), ['online', 'offline', 'online']);
    } finally {
      await presence.disconnected(alice!, 'late-1');
    }
  });

  it('a silent connection that stays open is lapse-checked once, not at every tick; a heartbeat starts a new lapse', async () => {
    const [alice, bob] = users('alice', 'bob');
    await direct(alice!, bob!);
    const b1 = await device(bob!);
    const presence = app.app.get(PresenceService);
    const checks: string[] = [];
    const checkLapsed = presence.checkLapsed.bind(presence);
    presence.checkLapsed = (userId, olderThanMs) => {
      if (userId === alice) checks.push(userId);
      return checkLapsed(userId, olderThanMs);
    };
    try {
      const a1 = await device(alice!, false);
      await waitStatus(b1, alice!, 'offline', 1, 15_000);
      // A check made within 0.5 s of the lapse is made again at the next tick (every max(1 s, TTL/3)).
      await sleep(2_500);
      const first = checks.length;
      assert.ok(first >= 1 && first <= 2, `${first} checks for the lapse`);
      await sleep(2_500);
      assert.equal(checks.length, first, 'no more checks for the same lapse');
      await emitAck(a1.socket, 'presence:heartbeat', {});
      await waitStatus(b1, alice!, 'offline', 2, 15_000);
      await sleep(2_500);
      assert.ok(checks.length > first && checks.length <= first + 2, `${checks.length - first} for the next`);
    } finally {
      presence.checkLapsed = checkLapsed;
    }
  });

  /** GET /presence (extension): the snapshot a client reads after a (re)connect. */
  async function query(caller: string, userIds: string) {
    return http(app.url, 'GET', `/presence?userIds=${userIds}`, { token: await token(caller) });
  }

  it('the presence query answers for contacts, in the order asked, and leaves strangers and the caller out', async () => {
    const [alice, bob, carol, stranger] = users('alice', 'bob', 'carol', 'stranger');
    await direct(alice!, bob!);
    await direct(alice!, carol!);
    const s1 = await device(stranger!); // online, but shares nothing with alice
    const a1 = await device(alice!);
    const b1 = await device(bob!);
    const bobOnline = await waitStatus(a1, bob!, 'online');

    const res = await query(alice!, [stranger, bob, carol, alice, bob, 'nobody'].join(','));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(Object.keys(res.body), ['users']);
    const [b, c] = res.body.users;
    assert.equal(res.body.users.length, 2, JSON.stringify(res.body));
    // lastSeenAt is that of the change the event announced: a client keeps the later of the two.
    assert.deepEqual(b, { userId: bob, status: 'online', lastSeenAt: bobOnline.lastSeenAt });
    assert.deepEqual(c, { userId: carol, status: 'offline', lastSeenAt: null }, 'never connected');

    // The same over the socket, as an array.
    const ack = await emitAck(a1.socket, 'presence:query', { userIds: [bob, stranger, carol, alice] });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.deepEqual(ack.data, { users: [b, c] });
    // The stranger sees alice no more than alice sees them.
    const theirs = await emitAck(s1.socket, 'presence:query', { userIds: [alice, stranger] });
    assert.deepEqual(theirs, { ok: true, data: { users: [] } });

    b1.stopBeating();
    b1.socket.close();
    const bobOffline = await waitStatus(a1, bob!, 'offline');
    const after = await query(alice!, bob!);
    assert.deepEqual(after.body, {
      users: [{ userId: bob, status: 'offline', lastSeenAt: bobOffline.lastSeenAt }],
    });
    // Repeated parameters are a list too.
    const repeated = await http(app.url, 'GET', `/presence?userIds=${bob}&userIds=${carol}`, {
      token: await token(alice!),
    });
    assert.deepEqual(
      repeated.body.users.map((u: { userId: string }) => u.userId),
      [bob, carol],
    );
  });

  it('the presence query refuses what is not a list of 1-100 user ids, over REST and the socket', async () => {
    const [alice] = users('alice');
    const a1 = await device(alice!);
    const tooMany = Array.from({ length: 101 }, (_, i) => `u${i}`);
    for (const qs of [
      '',
      '?userIds=',
      '?userIds=a,,b',
      `?userIds=${tooMany.join(',')}`,
      '?userIds=a%20b',
      '?userIds=a&x=1',
    ]) {
      const res = await http(app.url, 'GET', `/presence${qs}`, { token: await token(alice!) });
      assert.equal(res.status, 400, `${qs}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'VALIDATION_FAILED', qs);
      assert.equal(typeof res.body.message, 'string', qs);
    }
    assert.equal((await http(app.url, 'GET', `/presence?userIds=${alice}`)).status, 401, 'no token');
    for (const payload of [
      {},
      { userIds: [] },
      { userIds: 'a,b' },
      { userIds: [1] },
      { userIds: ['a b'] },
      { userIds: tooMany },
      { userIds: ['a'], x: 1 },
      null,
      'a',
    ]) {
      const ack = await emitAck(a1.socket, 'presence:query', payload);
      assert.equal(ack.ok, false, JSON.stringify(payload));
      assert.equal(ack.error.code, 'VALIDATION_FAILED', JSON.stringify(payload));
    }
    // A client asking in a loop is refused: 30 queries per 10 s per user.
    const [looper] = users('looper');
    const l1 = await device(looper!);
    const acks = [];
    for (let i = 0; i < 31; i++) acks.push(await emitAck(l1.socket, 'presence:query', { userIds: ['x'] }));
    assert.deepEqual(
      acks.slice(0, 30).map((a) => a.ok),
      Array(30).fill(true),
    );
    assert.equal(acks[30].ok, false);
    assert.equal(acks[30].error.code, 'RATE_LIMITED');
    assert.ok(acks[30].error.retryAfterS >= 1 && acks[30].error.retryAfterS <= 10, JSON.stringify(acks[30]));
    // 100 is allowed.
    const ok = await http(app.url, 'GET', `/presence?userIds=${tooMany.slice(0, 100).join(',')}`, {
      token: await token(alice!),
    });
    assert.deepEqual([ok.status, ok.body], [200, { users: [] }]);
  });

  it('the presence query follows membership: a member removed from a group, or who left, is out both ways', async () => {
    const [alice, bob, carol] = users('alice', 'bob', 'carol');
    const created = await http(app.url, 'POST', '/conversations', {
      token: await token(alice!),
      body: { type: 'group', title: 'trio', participantIds: [bob, carol] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const ids = (r: { body: { users: { userId: string }[] } }) => r.body.users.map((u) => u.userId);
    assert.deepEqual(ids(await query(alice!, `${bob},${carol}`)), [bob, carol]);
    const removed = await http(app.url, 'DELETE', `/conversations/${created.body.id}/participants/${bob}`, {
      token: await token(alice!),
    });
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    const left = await http(app.url, 'DELETE', `/conversations/${created.body.id}/participants/${carol}`, {
      token: await token(carol!),
    });
    assert.equal(left.status, 204, JSON.stringify(left.body));
    assert.deepEqual(ids(await query(alice!, `${bob},${carol}`)), []);
    assert.deepEqual(ids(await query(bob!, alice!)), []);
    assert.deepEqual(ids(await query(carol!, alice!)), []);
  });

  it('a connection nobody lapse-checks (its instance died) is announced offline by the presence query that finds it expired', async () => {
    const [alice, ghost] = users('alice', 'ghost');
    await direct(alice!, ghost!);
    const a1 = await device(alice!);
    // A connection with no socket here: no heartbeat, no close, no lapse check. In process there is
    // no sweep (every connection is the process's own); with Redis, other instances sweep
    // (realtime-multi-instance). The query still finds it.
    await app.app.get(PresenceService).beat(ghost!, 'connection-of-a-dead-instance');
    const announced = await waitStatus(a1, ghost!, 'online');
    await sleep(7_200); // PRESENCE_TTL_S=2, then the 5 s of clock skew the service allows
    assert.deepEqual(statuses(a1, ghost!), ['online'], 'nobody announced it');
    const res = await query(alice!, ghost!);
    const [entry] = res.body.users;
    assert.equal(entry.status, 'offline');
    assert.ok(entry.lastSeenAt > announced.lastSeenAt, `${entry.lastSeenAt} after ${announced.lastSeenAt}`);
    const offline = await waitStatus(a1, ghost!, 'offline');
    assert.equal(offline.lastSeenAt, entry.lastSeenAt, 'the contacts are told the same change');
    await query(alice!, ghost!);
    await sleep(300);
    assert.deepEqual(statuses(a1, ghost!), ['online', 'offline'], 'announced once');
  });

  it('a lapsed connection that then closes does not announce offline a second time', async () => {
    const [alice, bob] = users('alice', 'bob');
    await direct(alice!, bob!);
    const b1 = await device(bob!);
    const a1 = await device(alice!, false);
    await waitStatus(b1, alice!, 'offline', 1, 15_000);
    a1.socket.close();
    // Barrier: alice comes back on another connection; a second offline would have come first.
    await device(alice!);
    await waitStatus(b1, alice!, 'online', 2);
    assert.deepEqual(statuses(b1, alice!), ['online', 'offline', 'online']);
  });
});
