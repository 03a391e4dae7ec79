import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryDeadlines } from './deadlines';
import { MemoryExpiringSet } from './expiring-set';
import { MemoryOrderedChannel } from './ordered-channel';
import { MemorySlidingWindow } from './sliding-window';

/** Polls `check` until it holds (no fixed sleeps: the machine may be busy). */
async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms), at: (t: number) => (now = start + t) };
}

describe('MemoryOrderedChannel', () => {
  async function channel(gapMs = 10_000) {
    const ch = new MemoryOrderedChannel(gapMs);
    const seen: string[] = [];
    await ch.subscribe((p) => seen.push(p));
    return { ch, seen };
  }

  it('delivers in-order publishes at once', async () => {
    const { ch, seen } = await channel();
    for (let seq = 1; seq <= 5; seq++) await ch.publish('c1', seq, `c1:${seq}`);
    assert.deepEqual(seen, ['c1:1', 'c1:2', 'c1:3', 'c1:4', 'c1:5']);
  });

  it('holds out-of-order publishes back until the gap is filled, then delivers them in seq order', async () => {
    const { ch, seen } = await channel();
    await ch.publish('c1', 1, '1');
    await ch.publish('c1', 4, '4');
    await ch.publish('c1', 3, '3');
    assert.deepEqual(seen, ['1'], 'nothing after the gap goes out before it is filled');
    await ch.publish('c1', 2, '2');
    assert.deepEqual(seen, ['1', '2', '3', '4']);
    await ch.publish('c1', 5, '5');
    assert.deepEqual(seen, ['1', '2', '3', '4', '5']);
  });

  it('orders each stream on its own: a gap in one does not hold another back', async () => {
    const { ch, seen } = await channel();
    await ch.publish('a', 1, 'a1');
    await ch.publish('a', 3, 'a3');
    await ch.publish('b', 1, 'b1');
    await ch.publish('b', 2, 'b2');
    assert.deepEqual(seen, ['a1', 'b1', 'b2']);
    await ch.publish('a', 2, 'a2');
    assert.deepEqual(seen, ['a1', 'b1', 'b2', 'a2', 'a3']);
  });

  it('delivers every payload to every subscriber', async () => {
    const ch = new MemoryOrderedChannel(10_000);
    const first: string[] = [];
    const second: string[] = [];
    await ch.subscribe((p) => first.push(p));
    await ch.subscribe((p) => second.push(p));
    await ch.publish('c', 1, '1');
    await ch.publish('c', 3, '3');
    await ch.publish('c', 2, '2');
    assert.deepEqual(first, ['1', '2', '3']);
    assert.deepEqual(second, ['1', '2', '3']);
  });

  it('skips a gap that is not filled within gapMs, in seq order, and then carries on', async () => {
    const { ch, seen } = await channel(30);
    await ch.publish('c', 1, '1');
    await ch.publish('c', 4, '4');
    await ch.publish('c', 3, '3');
    assert.deepEqual(seen, ['1']);
    await waitFor(() => seen.length === 3, 'the gap to be skipped');
    assert.deepEqual(seen, ['1', '3', '4'], 'the waiting payloads go out in seq order');
    // The missing one turns up late: it goes out at once (clients de-duplicate by seq and re-fetch gaps).
    await ch.publish('c', 2, '2');
    assert.deepEqual(seen, ['1', '3', '4', '2']);
    // The stream goes on from where the skip left it.
    await ch.publish('c', 5, '5');
    assert.deepEqual(seen, ['1', '3', '4', '2', '5']);
  });

  it('does not deliver anything twice when a gap is filled before its skip timer fires', async () => {
    const { ch, seen } = await channel(20);
    await ch.publish('c', 1, '1');
    await ch.publish('c', 3, '3');
    await ch.publish('c', 2, '2');
    assert.deepEqual(seen, ['1', '2', '3']);
    // Let the (now pointless) skip timer fire, then check it changed nothing.
    await sleep(100);
    await ch.publish('c', 4, '4');
    assert.deepEqual(seen, ['1', '2', '3', '4']);
  });
});

describe('MemorySlidingWindow', () => {
  it('allows `limit` hits per window and refuses the next with the time until the oldest leaves', async () => {
    const clock = manualClock();
    const w = new MemorySlidingWindow(clock.now);
    for (const t of [0, 100, 200]) {
      clock.at(t);
      assert.deepEqual(await w.hit('u1', 3, 1000), { allowed: true, retryAfterMs: 0 }, `hit at ${t}`);
    }
    clock.at(300);
    assert.deepEqual(await w.hit('u1', 3, 1000), { allowed: false, retryAfterMs: 700 });
    clock.at(999);
    assert.deepEqual(await w.hit('u1', 3, 1000), { allowed: false, retryAfterMs: 1 });
  });

  it('keys of a longer window keep their hits through the idle clean-up that another, shorter limit triggers', async () => {
    const clock = manualClock();
    const w = new MemorySlidingWindow(clock.now);
    for (let i = 0; i < 3; i++) assert.equal((await w.hit('rest:u1', 3, 60_000)).allowed, true);
    clock.at(10_500);
    // Enough hits of a 10 s limit to run the clean-up (every 10,000 hits).
    for (let i = 0; i < 10_000; i++) await w.hit(`presence:u${i % 50}`, 1_000_000, 10_000);
    assert.equal((await w.hit('rest:u1', 3, 60_000)).allowed, false, 'still within its 60 s window');
  });

  it('slides: a slot frees when the oldest hit leaves the window, not when a fixed window resets', async () => {
    const clock = manualClock();
    const w = new MemorySlidingWindow(clock.now);
    for (const t of [0, 100, 200]) {
      clock.at(t);
      assert.equal((await w.hit('u1', 3, 1000)).allowed, true);
    }
    clock.at(1000); // the hit at 0 has left; those at 100 and 200 have not
    assert.equal((await w.hit('u1', 3, 1000)).allowed, true);
    clock.at(1050);
    assert.deepEqual(await w.hit('u1', 3, 1000), { allowed: false, retryAfterMs: 50 });
    clock.at(1100);
    assert.equal((await w.hit('u1', 3, 1000)).allowed, true);
    clock.at(1150);
    assert.equal((await w.hit('u1', 3, 1000)).allowed, false);
  });

  it('does not count refused hits: a client hammering the limit is let in once the window has moved', async () => {
    const clock = manualClock();
    const w = new MemorySlidingWindow(clock.now);
    assert.equal((await w.hit('u1', 2, 1000)).allowed, true);
    assert.equal((await w.hit('u1', 2, 1000)).allowed, true);
    for (let t = 10; t < 1000; t += 10) {
      clock.at(t);
      assert.equal((await w.hit('u1', 2, 1000)).allowed, false, `refused at ${t}`);
    }
    clock.at(1000);
    assert.equal((await w.hit('u1', 2, 1000)).allowed, true);
    assert.equal((await w.hit('u1', 2, 1000)).allowed, true);
    assert.equal((await w.hit('u1', 2, 1000)).allowed, false);
  });

  it('keeps one window per key', async () => {
    const clock = manualClock();
    const w = new MemorySlidingWindow(clock.now);
    assert.equal((await w.hit('u1', 1, 1000)).allowed, true);
    assert.equal((await w.hit('u1', 1, 1000)).allowed, false);
    assert.equal((await w.hit('u2', 1, 1000)).allowed, true);
  });
});

describe('MemoryExpiringSet', () => {
  it('add returns the live size before; remove what it took out and the live size after', async () => {
    const clock = manualClock();
    const s = new MemoryExpiringSet(clock.now);
    assert.deepEqual(await s.add('k', 'a', 1000), { before: 0, purged: 0 });
    assert.deepEqual(await s.add('k', 'b', 1000), { before: 1, purged: 0 });
    assert.deepEqual(
      await s.add('k', 'a', 1000),
      { before: 2, purged: 0 },
      'refreshing a member does not add it twice',
    );
    assert.deepEqual(await s.sizes(['k', 'other']), [2, 0]);
    assert.deepEqual(await s.remove('k', 'a'), { removed: 1, size: 1 });
    assert.deepEqual(await s.remove('k', 'a'), { removed: 0, size: 1 }, 'removing twice changes nothing');
    assert.deepEqual(await s.remove('k', 'b'), { removed: 1, size: 0 });
    assert.deepEqual(await s.remove('never', 'x'), { removed: 0, size: 0 });
  });

  it('members expire one by one; a refresh keeps a member alive', async () => {
    const clock = manualClock();
    const s = new MemoryExpiringSet(clock.now);
    await s.add('k', 'a', 1000);
    await s.add('k', 'b', 1000);
    clock.at(800);
    await s.add('k', 'a', 1000); // a now lives until 1800
    clock.at(999);
    assert.deepEqual(await s.sizes(['k']), [2]);
    clock.at(1000);
    assert.deepEqual(await s.sizes(['k']), [1], 'b expired at 1000');
    clock.at(1799);
    assert.deepEqual(await s.sizes(['k']), [1]);
    clock.at(1800);
    assert.deepEqual(await s.sizes(['k']), [0]);
  });

  it('expired names nothing in process (every set is the process’s own: its lapse check purges them)', async () => {
    const clock = manualClock();
    const s = new MemoryExpiringSet(clock.now);
    await s.add('a', 'x', 1000);
    clock.at(60_000);
    assert.deepEqual(await s.expired(), []);
  });

  it('purge with olderThanMs leaves what expired more recently, and counts it in the size', async () => {
    const clock = manualClock();
    const s = new MemoryExpiringSet(clock.now);
    await s.add('k', 'a', 1000);
    await s.add('k', 'b', 3000);
    clock.at(4000);
    assert.deepEqual(await s.purge('k', 2000), { removed: 1, size: 1 }, 'a expired 3 s ago, b 1 s ago');
    assert.deepEqual(await s.purge('k'), { removed: 1, size: 0 });
  });

  it('purge reports how many expired members it dropped, once', async () => {
    const clock = manualClock();
    const s = new MemoryExpiringSet(clock.now);
    await s.add('k', 'a', 1000);
    await s.add('k', 'b', 1000);
    await s.add('k', 'c', 5000);
    assert.deepEqual(await s.purge('k'), { removed: 0, size: 3 });
    clock.at(2000);
    // Counting does not purge: the purge after it still sees what expired (its caller announces it).
    assert.deepEqual(await s.sizes(['k']), [1]);
    assert.deepEqual(await s.census(['k', 'none']), [
      { live: 1, expired: 2 },
      { live: 0, expired: 0 },
    ]);
    assert.deepEqual(await s.purge('k'), { removed: 2, size: 1 });
    assert.deepEqual(await s.purge('k'), { removed: 0, size: 1 });
    clock.at(6000);
    assert.deepEqual(await s.purge('k'), { removed: 1, size: 0 });
    assert.deepEqual(await s.purge('k'), { removed: 0, size: 0 });
  });

  it('an add drops expired members and says how many (their end is its to announce), and counts only live ones before it; a remove drops them too', async () => {
    const clock = manualClock();
    const s = new MemoryExpiringSet(clock.now);
    await s.add('k', 'a', 1000);
    await s.add('k', 'b', 1000);
    clock.at(1500);
    assert.deepEqual(
      await s.add('k', 'c', 1000),
      { before: 0, purged: 2 },
      'a and b lapsed: dropped by the add',
    );
    assert.deepEqual(await s.purge('k'), { removed: 0, size: 1 });
    assert.deepEqual(await s.add('k', 'd', 1000), { before: 1, purged: 0 });
    clock.at(3000);
    await s.add('k2', 'x', 1000);
    clock.at(3100);
    assert.deepEqual(await s.remove('k2', 'y'), { removed: 0, size: 1 });
    clock.at(4000);
    assert.deepEqual(await s.remove('k2', 'y'), { removed: 1, size: 0 }, 'x lapsed and was dropped');
  });

  it('removing a member that was already purged as expired takes nothing out (its end was already reported)', async () => {
    const clock = manualClock();
    const s = new MemoryExpiringSet(clock.now);
    await s.add('k', 'a', 1000);
    clock.at(1000);
    assert.deepEqual(await s.purge('k'), { removed: 1, size: 0 });
    assert.deepEqual(await s.remove('k', 'a'), { removed: 0, size: 0 });
    // Expired but not yet purged: the remove is the one that takes it out.
    await s.add('k', 'b', 1000);
    clock.at(2500);
    assert.deepEqual(await s.remove('k', 'b'), { removed: 1, size: 0 });
  });
});

describe('MemoryDeadlines', () => {
  it('set reports whether the flag is new, get reads the latest deadline', async () => {
    const d = new MemoryDeadlines();
    assert.equal(await d.get('t'), undefined);
    assert.equal(await d.set('t', 1000, 0), true);
    assert.equal(await d.get('t'), 1000);
    assert.equal(await d.set('t', 2000, 0), false, 'extending is not a new start');
    assert.equal(await d.get('t'), 2000);
    assert.equal(await d.set('t', 9000, 2500), true, 'its deadline passed unannounced: a new start');
  });

  it('clearIfDue clears only once the deadline has passed, and only for one caller', async () => {
    const d = new MemoryDeadlines();
    await d.set('t', 1000, 0);
    assert.equal(await d.clearIfDue('t', 999), false);
    assert.equal(await d.get('t'), 1000, 'not due: left alone');
    const results = await Promise.all([
      d.clearIfDue('t', 1000),
      d.clearIfDue('t', 1000),
      d.clearIfDue('t', 5000),
    ]);
    assert.deepEqual(
      results.filter((r) => r),
      [true],
      'exactly one caller announces the end',
    );
    assert.equal(await d.get('t'), undefined);
    assert.equal(await d.clearIfDue('never-set', 5000), false);
  });

  it('a renewal moves the deadline so an earlier expiry check does nothing', async () => {
    const d = new MemoryDeadlines();
    await d.set('t', 1000, 0);
    await d.set('t', 3000, 0);
    assert.equal(await d.clearIfDue('t', 1500), false);
    assert.equal(await d.clearIfDue('t', 3000), true);
  });

  it('clear reports whether the flag was set', async () => {
    const d = new MemoryDeadlines();
    assert.equal(await d.clear('t'), false);
    await d.set('t', 1000, 0);
    assert.equal(await d.clear('t'), true);
    assert.equal(await d.clear('t'), false);
    assert.equal(await d.set('t', 1000, 0), true, 'after a clear, a set is a new start');
  });
});
