// The SDK's merge of presence events with the snapshot read after each connect (client/src/presence-view.ts):
// which of them the app is told, whatever order they arrive in.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PresenceView } from '../client/src/presence-view';

const T1 = '2026-11-28T10:00:00.000Z';
const T2 = '2026-11-28T10:00:05.000Z';
const T0 = '2026-11-28T09:59:59.999Z';

const online = (userId: string, lastSeenAt: string) => ({ userId, status: 'online' as const, lastSeenAt });
const offline = <T extends string | null>(userId: string, lastSeenAt: T) => ({
  userId,
  status: 'offline' as const,
  lastSeenAt,
});

describe('PresenceView', () => {
  it('tells events as they come, out of clock order too (instances’ clocks differ); not an exact repeat', () => {
    const view = new PresenceView();
    view.connected();
    assert.equal(view.event(online('bob', T1)), true);
    // Offline announced by an instance whose clock is behind: still the newer change.
    assert.equal(view.event(offline('bob', T0)), true);
    assert.equal(view.event(offline('bob', T0)), false, 'the same change twice');
    assert.equal(view.event(online('bob', T0)), true, 'same time, other status: a change');
  });

  it('a snapshot tells what no event since the connect has told, once', () => {
    const view = new PresenceView();
    view.connected();
    assert.deepEqual(view.snapshot([online('bob', T1), offline('carol', T1), offline('dave', null)]), [
      online('bob', T1),
      offline('carol', T1),
    ]);
    // The next connect's snapshot, nothing changed: nothing told again.
    view.connected();
    assert.deepEqual(view.snapshot([online('bob', T1), offline('carol', T1)]), []);
    // bob went offline while the client was away: told.
    view.connected();
    assert.deepEqual(view.snapshot([offline('bob', T2)]), [offline('bob', T2)]);
  });

  it('an event since the connect wins over the snapshot, which may have been read before it', () => {
    const view = new PresenceView();
    view.connected();
    // The snapshot was read (bob online), then bob left; his offline event arrives before the answer.
    assert.equal(view.event(offline('bob', T2)), true);
    assert.deepEqual(view.snapshot([online('bob', T1)]), []);
    // The same change in the answer and the event: told once.
    assert.equal(view.event(online('carol', T1)), true);
    assert.deepEqual(view.snapshot([online('carol', T1)]), []);
    // After a reconnect, the events of the earlier connection no longer hide the snapshot.
    view.connected();
    assert.deepEqual(view.snapshot([online('bob', T2)]), [online('bob', T2)]);
  });

  it('an offline nobody announced (its instance died) is told, though lastSeenAt is that of the online', () => {
    const view = new PresenceView();
    view.connected();
    assert.equal(view.event(online('bob', T1)), true);
    view.connected();
    assert.deepEqual(view.snapshot([offline('bob', T1)]), [offline('bob', T1)]);
  });

  it('an offline without lastSeenAt (a restarted instance forgot it) is told to an app shown online, once, as null', () => {
    const view = new PresenceView();
    view.connected();
    assert.equal(view.event(online('bob', T1)), true);
    assert.deepEqual(view.snapshot([online('carol', T1)]), [online('carol', T1)]);
    view.connected();
    assert.deepEqual(view.snapshot([offline('bob', null), online('carol', T1)]), [offline('bob', null)]);
    // Nothing new at the next connect: not told again.
    view.connected();
    assert.deepEqual(view.snapshot([offline('bob', null)]), []);
    // An app told offline already (with a time) is not told again for a missing time.
    view.connected();
    assert.equal(view.event(offline('carol', T2)), true);
    view.connected();
    assert.deepEqual(view.snapshot([offline('carol', null)]), []);
    // Nor is one never told anything (nothing is known); an event since the connect still wins.
    assert.deepEqual(view.snapshot([offline('dave', null)]), []);
    view.connected();
    assert.equal(view.event(online('bob', T2)), true);
    assert.deepEqual(view.snapshot([offline('bob', null)]), []);
  });
});
