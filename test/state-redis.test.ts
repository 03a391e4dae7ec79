import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import Redis from 'ioredis';
import { RedisDeadlines } from '../src/state/deadlines';
import { RedisExpiringSet } from '../src/state/expiring-set';
import { QUIET_ENOUGH_MS, RedisOrderedChannel } from '../src/state/ordered-channel';
import { loadConfig } from '../src/config/env';
import { handlePublishFailures } from '../src/state/redis-publish';
import { RedisService } from '../src/state/redis.service';
import { RedisSlidingWindow } from '../src/state/sliding-window';
import { TEST_REDIS_URL } from './support/app';
import { until } from './support/processes';

/** The same behaviours as src/state/state.spec.ts, against the Redis implementations (what several instances share). */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Redis-backed state', () => {
  const prefix = `tstate${randomBytes(4).toString('hex')}:`;
  const connections: Redis[] = [];
  const services: RedisService[] = [];
  let redis: Redis;
  const connect = () => {
    const conn = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 2 });
    connections.push(conn);
    return conn;
  };

  before(() => {
    Logger.overrideLogger(false); // the channel warns when it skips a gap: expected here
    redis = connect();
  });

  after(async () => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length) await redis.del(...keys);
    await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
    await Promise.all(services.map((s) => s.onApplicationShutdown()));
  });

  describe('RedisOrderedChannel', () => {
    /** Two channel objects on separate connections stand for two instances sharing Redis. */
    async function twoInstances(gapMs: number) {
      const a = new RedisOrderedChannel(connect(), connect(), prefix, gapMs);
      const b = new RedisOrderedChannel(connect(), connect(), prefix, gapMs);
      const seenA: string[] = [];
      const seenB: string[] = [];
      await a.subscribe((p) => seenA.push(p));
      await b.subscribe((p) => seenB.push(p));
      return { a, b, seenA, seenB };
    }
    const only = (seen: string[], stream: string) =>
      seen.filter((p) => p.startsWith(`${stream}:`)).map((p) => Number(p.split(':')[1]));

    it('delivers out-of-order publishes from two instances in seq order to every subscriber', async () => {
      const { a, b, seenA, seenB } = await twoInstances(10_000);
      const s = `s${randomBytes(3).toString('hex')}`;
      await a.publish(s, 1, `${s}:1`);
      await b.publish(s, 4, `${s}:4`);
      await a.publish(s, 3, `${s}:3`);
      // A barrier on another stream: once it has arrived, anything published before it has too.
      await b.publish(`${s}x`, 1, `${s}x:1`);
      await until(() => only(seenA, `${s}x`).length === 1 && only(seenB, `${s}x`).length === 1, 'barrier');
      assert.deepEqual(only(seenA, s), [1], 'nothing after the gap goes out before it is filled');
      await b.publish(s, 2, `${s}:2`);
      await a.publish(s, 5, `${s}:5`);
      await until(() => only(seenA, s).length === 5 && only(seenB, s).length === 5, 'all five');
      assert.deepEqual(only(seenA, s), [1, 2, 3, 4, 5]);
      assert.deepEqual(only(seenB, s), [1, 2, 3, 4, 5]);
    });

    it('a stream whose position was forgotten (idle past its TTL) publishes at once a payload whose predecessor is old', async () => {
      const { a, b, seenA, seenB } = await twoInstances(60_000);
      const s = `i${randomBytes(3).toString('hex')}`;
      await a.publish(s, 7, `${s}:7`, QUIET_ENOUGH_MS);
      await b.publish(s, 8, `${s}:8`, 5);
      await until(
        () => only(seenA, s).length === 2 && only(seenB, s).length === 2,
        'both, without the gap wait',
      );
      assert.deepEqual(only(seenA, s), [7, 8]);
      assert.deepEqual(only(seenB, s), [7, 8]);
    });

    it('a forgotten position with a recent predecessor (Redis lost a busy stream) waits for it as for a gap', async () => {
      const { a, b, seenA } = await twoInstances(60_000);
      const s = `r${randomBytes(3).toString('hex')}`;
      await b.publish(s, 8, `${s}:8`, 1_000);
      await b.publish(`${s}x`, 1, `${s}x:1`);
      await until(() => only(seenA, `${s}x`).length === 1, 'barrier');
      assert.deepEqual(only(seenA, s), [], 'held: its predecessor may still be on its way');
      await a.publish(s, 7, `${s}:7`, QUIET_ENOUGH_MS);
      await until(() => only(seenA, s).length === 2, 'the predecessor, then the held one');
      assert.deepEqual(only(seenA, s), [7, 8]);
    });

    it('orders each stream on its own', async () => {
      const { a, b, seenA } = await twoInstances(10_000);
      const s1 = `p${randomBytes(3).toString('hex')}`;
      const s2 = `q${randomBytes(3).toString('hex')}`;
      await a.publish(s1, 1, `${s1}:1`);
      await a.publish(s1, 3, `${s1}:3`);
      await b.publish(s2, 1, `${s2}:1`);
      await b.publish(s2, 2, `${s2}:2`);
      await until(() => only(seenA, s2).length === 2, 'the other stream');
      assert.deepEqual(only(seenA, s1), [1]);
      await b.publish(s1, 2, `${s1}:2`);
      await until(() => only(seenA, s1).length === 3, 'the filled stream');
      assert.deepEqual(only(seenA, s1), [1, 2, 3]);
    });

    it('skips a gap that is not filled within gapMs, then carries on', async () => {
      const { a, b, seenA, seenB } = await twoInstances(100);
      const s = `g${randomBytes(3).toString('hex')}`;
      await a.publish(s, 1, `${s}:1`);
      await b.publish(s, 4, `${s}:4`);
      await a.publish(s, 3, `${s}:3`);
      await until(() => only(seenA, s).length === 3 && only(seenB, s).length === 3, 'the gap to be skipped');
      assert.deepEqual(only(seenA, s), [1, 3, 4]);
      assert.deepEqual(only(seenB, s), [1, 3, 4]);
      // The missing one turns up late: it goes out at once; the stream carries on after 4.
      await b.publish(s, 2, `${s}:2`);
      await a.publish(s, 5, `${s}:5`);
      await until(() => only(seenA, s).length === 5 && only(seenB, s).length === 5, 'the late ones');
      assert.deepEqual(only(seenA, s), [1, 3, 4, 2, 5]);
      assert.deepEqual(only(seenB, s), [1, 3, 4, 2, 5]);
    });

    it('does not deliver anything twice when the gap is filled before the skip timer fires', async () => {
      const { a, b, seenA } = await twoInstances(50);
      const s = `f${randomBytes(3).toString('hex')}`;
      await a.publish(s, 1, `${s}:1`);
      await a.publish(s, 3, `${s}:3`);
      await b.publish(s, 2, `${s}:2`);
      await until(() => only(seenA, s).length === 3, 'the filled gap');
      await sleep(200); // the skip timer has fired by now
      await b.publish(s, 4, `${s}:4`);
      await until(() => only(seenA, s).length >= 4, 'the next one');
      assert.deepEqual(only(seenA, s), [1, 2, 3, 4]);
    });
    it('a subscription made while its connection is in the handshake holds (redis/ioredis#2037)', async () => {
      // The window an instance's boot can hit: the subscriber connection has its socket but has not
      // finished CLIENT SETNAME and the ready check. ioredis 5 then lost the subscription silently.
      // A subscriber connection as the service makes them (RedisService.duplicate).
      const service = new RedisService(loadConfig({ REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix }));
      services.push(service);
      const subscriber = service.duplicate('ordered-sub', { subscriber: true });
      subscriber.on('error', () => undefined);
      const channel = new RedisOrderedChannel(connect(), subscriber, prefix);
      const seen: string[] = [];
      await new Promise<void>((resolve, reject) =>
        subscriber.once('connect', () => {
          assert.equal(subscriber.status, 'connect');
          channel.subscribe((p) => seen.push(p)).then(resolve, reject);
        }),
      );
      await sleep(200); // ioredis 5's failed ready check and its reconnect happened within this
      const s = `h${randomBytes(3).toString('hex')}`;
      await channel.publish(s, 1, `${s}:1`);
      await until(() => only(seen, s).length === 1, 'the message on the subscribed connection', 3000);
    });
  });

  describe('RedisSlidingWindow', () => {
    it('allows `limit` hits per window across instances and refuses the next with a retry time', async () => {
      const a = new RedisSlidingWindow(redis, prefix + 'rl:');
      const b = new RedisSlidingWindow(connect(), prefix + 'rl:');
      const key = `u${randomBytes(3).toString('hex')}`;
      const verdicts = await Promise.all([
        a.hit(key, 3, 60_000),
        b.hit(key, 3, 60_000),
        a.hit(key, 3, 60_000),
        b.hit(key, 3, 60_000),
      ]);
      assert.equal(verdicts.filter((v) => v.allowed).length, 3);
      const refused = verdicts.find((v) => !v.allowed)!;
      assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 60_000, String(refused.retryAfterMs));
      assert.equal((await a.hit(`${key}-other`, 3, 60_000)).allowed, true, 'one window per key');
    });

    it('slides: a slot frees when the oldest hit leaves, while the later ones still count', async () => {
      const w = new RedisSlidingWindow(redis, prefix + 'rl:');
      const key = `s${randomBytes(3).toString('hex')}`;
      const windowMs = 3000;
      assert.equal((await w.hit(key, 3, windowMs)).allowed, true);
      await sleep(1500);
      assert.equal((await w.hit(key, 3, windowMs)).allowed, true);
      assert.equal((await w.hit(key, 3, windowMs)).allowed, true);
      const refused = await w.hit(key, 3, windowMs);
      assert.equal(refused.allowed, false);
      // The first hit leaves after retryAfterMs; the two later ones stay about 1.5 s longer.
      await sleep(refused.retryAfterMs + 50);
      assert.equal((await w.hit(key, 3, windowMs)).allowed, true, 'the oldest hit has left the window');
      assert.equal((await w.hit(key, 3, windowMs)).allowed, false, 'a fixed window would have reset here');
    });

    it('does not count refused hits', async () => {
      const w = new RedisSlidingWindow(redis, prefix + 'rl:');
      const key = `r${randomBytes(3).toString('hex')}`;
      assert.equal((await w.hit(key, 1, 1000)).allowed, true);
      for (let i = 0; i < 20; i++) await w.hit(key, 1, 1000);
      assert.equal(await redis.zcard(prefix + 'rl:' + key), 1, 'only the allowed hit is logged');
    });
  });

  describe('RedisExpiringSet', () => {
    /** The set takes its clock from the caller: the test moves it by hand (TTLs of minutes keep Redis's own key expiry out of the way). */
    function withClock() {
      const start = Date.now();
      let now = start;
      const set = new RedisExpiringSet(redis, prefix + 'set:', () => now);
      return { set, at: (t: number) => (now = start + t) };
    }
    const MIN = 60_000;

    it('add returns the live size before; remove what it took out and the live size after', async () => {
      const { set: s } = withClock();
      const k = `k${randomBytes(3).toString('hex')}`;
      assert.deepEqual(await s.add(k, 'a', MIN), { before: 0, purged: 0 });
      assert.deepEqual(await s.add(k, 'b', MIN), { before: 1, purged: 0 });
      assert.deepEqual(
        await s.add(k, 'a', MIN),
        { before: 2, purged: 0 },
        'refreshing a member does not add it twice',
      );
      assert.deepEqual(await s.sizes([k, `${k}-other`]), [2, 0]);
      assert.deepEqual(await s.remove(k, 'a'), { removed: 1, size: 1 });
      assert.deepEqual(await s.remove(k, 'a'), { removed: 0, size: 1 });
      assert.deepEqual(await s.remove(k, 'b'), { removed: 1, size: 0 });
      assert.deepEqual(await s.remove(`${k}-never`, 'x'), { removed: 0, size: 0 });
    });

    it('members expire one by one; a refresh keeps a member alive', async () => {
      const { set: s, at } = withClock();
      const k = `k${randomBytes(3).toString('hex')}`;
      await s.add(k, 'a', MIN);
      await s.add(k, 'b', MIN);
      at(0.8 * MIN);
      await s.add(k, 'a', MIN);
      at(MIN - 1);
      assert.deepEqual(await s.sizes([k]), [2]);
      at(MIN);
      assert.deepEqual(await s.sizes([k]), [1]);
      at(1.8 * MIN - 1);
      assert.deepEqual(await s.sizes([k]), [1]);
      at(1.8 * MIN);
      assert.deepEqual(await s.sizes([k]), [0]);
    });

    it('expired names the sets whose members all expired, until a purge takes them out; remove and purge keep the index right', async () => {
      const start = Date.now();
      let now = start;
      const own = `${prefix}exp${randomBytes(3).toString('hex')}:`;
      const s = new RedisExpiringSet(redis, own, () => now);
      const due = async (olderThanMs = 0) => (await s.expired(10, { olderThanMs, quietMs: 0 })).sort();
      await s.add('presence:a', 'x', MIN);
      await s.add('presence:b', 'y', MIN);
      await s.add('presence:c', 'z', 3 * MIN);
      await s.add('presence:d', 'w', MIN);
      assert.deepEqual(await due(), []);
      // Removed cleanly: out of the index at once.
      assert.deepEqual(await s.remove('presence:d', 'w'), { removed: 1, size: 0 });
      now = start + 2 * MIN;
      assert.deepEqual(await due(), ['presence:a', 'presence:b']);
      assert.deepEqual(await due(1.5 * MIN), [], 'expired less than 1.5 min ago');
      assert.deepEqual(await s.expired(1, { olderThanMs: 0, quietMs: 0 }), ['presence:a'], 'at most limit');
      await s.add('presence:b', 'y2', MIN); // back before anyone purged it
      assert.deepEqual(await due(), ['presence:a']);
      assert.deepEqual(await s.purge('presence:a'), { removed: 1, size: 0 });
      assert.deepEqual(await due(), [], 'purged and out of the index');
      // An add with a shorter TTL indexes the set too early; the purge re-indexes it at its latest member.
      await s.add('presence:c', 'short', MIN / 2);
      now = start + 2.6 * MIN;
      assert.deepEqual(await due(), ['presence:c']);
      assert.deepEqual(await s.purge('presence:c'), { removed: 1, size: 1 });
      assert.deepEqual(await due(), [], 'z lives until 3 min');
      now = start + 3.1 * MIN;
      assert.deepEqual(await due(), ['presence:b', 'presence:c']);
      // The set's key outlives its members for the sweep to find it (not collected after 2 × TTL).
      assert.ok((await redis.pttl(`${own}presence:c`)) > 30 * MIN);
      // Nothing within quietMs of the connection's last ready.
      assert.deepEqual(await s.expired(10, { olderThanMs: 0, quietMs: 3.2 * MIN }), []);
    });

    it('purge reports how many expired members it dropped, once', async () => {
      const { set: s, at } = withClock();
      const k = `k${randomBytes(3).toString('hex')}`;
      await s.add(k, 'a', MIN);
      await s.add(k, 'b', MIN);
      await s.add(k, 'c', 5 * MIN);
      assert.deepEqual(await s.purge(k), { removed: 0, size: 3 });
      at(2 * MIN);
      assert.deepEqual(await s.sizes([k]), [1], 'counting does not purge');
      assert.deepEqual(await s.census([k, `${k}-none`]), [
        { live: 1, expired: 2 },
        { live: 0, expired: 0 },
      ]);
      assert.deepEqual(await s.purge(k), { removed: 2, size: 1 });
      assert.deepEqual(await s.purge(k), { removed: 0, size: 1 });
      at(6 * MIN);
      assert.deepEqual(await s.purge(k), { removed: 1, size: 0 });
    });

    it('an add drops expired members and says how many (their end is its to announce), and counts only live ones before it', async () => {
      const { set: s, at } = withClock();
      const k = `k${randomBytes(3).toString('hex')}`;
      await s.add(k, 'a', MIN);
      at(1.5 * MIN);
      assert.deepEqual(await s.add(k, 'c', MIN), { before: 0, purged: 1 }, 'a lapsed: dropped by the add');
      assert.deepEqual(await s.purge(k), { removed: 0, size: 1 });
      const k2 = `k${randomBytes(3).toString('hex')}`;
      await s.add(k2, 'x', MIN);
      at(3 * MIN);
      assert.deepEqual(await s.purge(k2), { removed: 1, size: 0 });
      assert.deepEqual(await s.add(k2, 'y', MIN), { before: 0, purged: 0 }, 'purged (announced gone) before');
      at(3 * MIN);
      assert.deepEqual(await s.remove(k, 'zzz'), { removed: 1, size: 0 }, 'c lapsed and was dropped');
    });

    it('removing a member that was already purged as expired takes nothing out', async () => {
      const { set: s, at } = withClock();
      const k = `k${randomBytes(3).toString('hex')}`;
      await s.add(k, 'a', MIN);
      at(MIN);
      assert.deepEqual(await s.purge(k), { removed: 1, size: 0 });
      assert.deepEqual(await s.remove(k, 'a'), { removed: 0, size: 0 });
      await s.add(k, 'b', MIN);
      at(2.5 * MIN);
      assert.deepEqual(await s.remove(k, 'b'), { removed: 1, size: 0 });
    });
  });

  describe('RedisDeadlines', () => {
    it('set reports whether the flag is new, get reads the latest deadline', async () => {
      const d = new RedisDeadlines(redis, prefix + 'dl:');
      const k = `t${randomBytes(3).toString('hex')}`;
      const t = Date.now() + 10_000;
      assert.equal(await d.get(k), undefined);
      assert.equal(await d.set(k, t, Date.now()), true);
      assert.equal(await d.get(k), t);
      assert.equal(await d.set(k, t + 1000, Date.now()), false);
      assert.equal(await d.get(k), t + 1000);
    });

    it('clearIfDue clears only once the deadline has passed, and for exactly one of several instances', async () => {
      const a = new RedisDeadlines(redis, prefix + 'dl:');
      const b = new RedisDeadlines(connect(), prefix + 'dl:');
      const k = `t${randomBytes(3).toString('hex')}`;
      const t = Date.now() + 10_000;
      await a.set(k, t, Date.now());
      assert.equal(await b.clearIfDue(k, t - 1), false);
      assert.equal(await a.get(k), t);
      const results = await Promise.all([
        a.clearIfDue(k, t),
        b.clearIfDue(k, t),
        a.clearIfDue(k, t + 5),
        b.clearIfDue(k, t + 9),
      ]);
      assert.equal(results.filter(Boolean).length, 1, JSON.stringify(results));
      assert.equal(await b.get(k), undefined);
    });

    it('a renewal on another instance moves the deadline', async () => {
      const a = new RedisDeadlines(redis, prefix + 'dl:');
      const b = new RedisDeadlines(connect(), prefix + 'dl:');
      const k = `t${randomBytes(3).toString('hex')}`;
      const t = Date.now() + 10_000;
      assert.equal(await a.set(k, t, Date.now()), true);
      assert.equal(await b.set(k, t + 2000, Date.now()), false);
      assert.equal(await a.clearIfDue(k, t + 1000), false);
      assert.equal(await a.clearIfDue(k, t + 2000), true);
    });

    it('a flag whose deadline passed unannounced (its instance died) makes the next set a new start', async () => {
      const d = new RedisDeadlines(redis, prefix + 'dl:');
      const k = `t${randomBytes(3).toString('hex')}`;
      const t = Date.now() + 10_000;
      assert.equal(await d.set(k, t, Date.now()), true);
      assert.equal(await d.set(k, t + 20_000, t + 1), true, 'the first deadline had passed: a new start');
      assert.equal(await d.set(k, t + 25_000, t + 2), false, 'a renewal');
    });

    it('clearOverdue hands each flag left overdue to one caller, and skips renewed and cleared ones', async () => {
      const p = `${prefix}dlo${randomBytes(2).toString('hex')}:`;
      const a = new RedisDeadlines(redis, p);
      const b = new RedisDeadlines(connect(), p);
      const now = Date.now();
      await a.set('left', now + 1000, now); // its instance goes away
      await a.set('renewed', now + 1000, now);
      await b.set('renewed', now + 60_000, now); // renewed on the other instance
      await a.set('stopped', now + 1000, now);
      await a.clear('stopped'); // typing:stop
      await a.set('recent', now + 4000, now); // overdue, but not by olderThanMs yet
      const later = now + 5000;
      const [one, two] = await Promise.all([
        a.clearOverdue(later, 2000, 100),
        b.clearOverdue(later, 2000, 100),
      ]);
      assert.deepEqual([...one!, ...two!], ['left'], 'to one caller only');
      assert.equal(await a.get('left'), undefined);
      assert.equal(await a.get('renewed'), now + 60_000);
      assert.deepEqual(await b.clearOverdue(now + 7000, 2000, 100), ['recent']);
      assert.deepEqual(await b.clearOverdue(now + 70_000, 2000, 100), ['renewed']);
      assert.equal(await redis.zcard(`${p}deadlines`), 0, 'the index is left empty');
    });

    it('clear reports whether the flag was set', async () => {
      const d = new RedisDeadlines(redis, prefix + 'dl:');
      const k = `t${randomBytes(3).toString('hex')}`;
      assert.equal(await d.clear(k), false);
      await d.set(k, Date.now() + 10_000, Date.now());
      assert.equal(await d.clear(k), true);
      assert.equal(await d.clear(k), false);
      assert.equal(await d.set(k, Date.now() + 10_000, Date.now()), true);
    });
  });
});

describe('handlePublishFailures (the Socket.IO adapter publishes without handling the promise)', () => {
  it('a PUBLISH that fails goes to the handler and leaves no unhandled rejection; one that works is untouched', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const conn = new Redis(TEST_REDIS_URL, { lazyConnect: false });
    try {
      const failures: unknown[] = [];
      handlePublishFailures(conn, (err) => failures.push(err));
      // Working: the command's own promise and result (subscribers reached: none).
      assert.equal(await conn.publish(`tpub${randomBytes(4).toString('hex')}`, 'x'), 0);
      await conn.quit();
      // As the adapter does at shutdown: publish on a closed connection, and not wait.
      void conn.publish('tpub-closed', 'x');
      await sleep(50);
      assert.equal(failures.length, 1);
      assert.match(String(failures[0]), /Connection is closed/);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      conn.disconnect();
    }
  });
});
