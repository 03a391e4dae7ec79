import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryKeyValueStore } from '../state/key-value.store';
import { PROFILE_BATCH_MAX, ProfileService } from './profile.service';
import type { ProfileRecord, ProfileSource } from './profile.types';

/** The profile service (the external one, the only thing faked): knows the ids in `known`, records each call. */
function fakeSource(known: (id: string) => boolean) {
  const calls: string[][] = [];
  const source: ProfileSource = {
    fetchBatch: async (ids: string[]): Promise<ProfileRecord[]> => {
      calls.push([...ids]);
      return ids
        .filter(known)
        .map((id) => ({ id, kind: 'user', displayName: `name of ${id}`, avatarUrl: null }));
    },
  };
  return { source, calls };
}

function clock() {
  let t = 1_000_000;
  return { now: () => t, at: (ms: number) => (t = 1_000_000 + ms) };
}

describe('ProfileService', () => {
  it('fetches many misses in batches of at most PROFILE_BATCH_MAX, each id once', async () => {
    const { source, calls } = fakeSource(() => true);
    const profiles = new ProfileService(source, 300, new MemoryKeyValueStore());
    const ids = Array.from({ length: 2 * PROFILE_BATCH_MAX + 1 }, (_, i) => `u${i}`);
    const got = await profiles.getMany(ids);
    assert.equal(got.size, ids.length);
    assert.equal(got.get('u200')?.displayName, 'name of u200');
    assert.deepEqual(
      calls.map((c) => c.length),
      [PROFILE_BATCH_MAX, PROFILE_BATCH_MAX, 1],
    );
    assert.deepEqual(calls.flat().sort(), [...ids].sort());
  });

  it('an id the service does not know is asked again after 30 s; a known one is kept for the TTL', async () => {
    const { source, calls } = fakeSource((id) => id === 'known');
    const c = clock();
    const profiles = new ProfileService(source, 300, new MemoryKeyValueStore(1000, c.now));
    assert.deepEqual(
      [...(await profiles.getMany(['known', 'new-user'])).values()].map((p) => p?.displayName ?? null),
      ['name of known', null],
    );
    c.at(29_000);
    await profiles.getMany(['known', 'new-user']);
    assert.equal(calls.length, 1, 'both cached');
    c.at(31_000);
    await profiles.getMany(['known', 'new-user']);
    assert.deepEqual(calls[1], ['new-user'], 'the unknown one asked again, the known one still cached');
  });

  it('a cached value it cannot read (another version wrote it, or it is damaged) is fetched again', async () => {
    const { source, calls } = fakeSource(() => true);
    const cache = new MemoryKeyValueStore();
    await cache.setMany(
      [
        ['profile:a', '{not json'],
        ['profile:b', '{"name":"old shape"}'],
        ['profile:c', 'null'],
      ],
      300,
    );
    const got = await profiles(source, cache).getMany(['a', 'b', 'c']);
    assert.deepEqual(
      [...got.values()].map((p) => p?.displayName),
      ['name of a', 'name of b', 'name of c'],
    );
    assert.deepEqual(calls, [['a', 'b', 'c']]);
  });
});

const profiles = (source: ProfileSource, cache: MemoryKeyValueStore) =>
  new ProfileService(source, 300, cache);
