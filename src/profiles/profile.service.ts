import { Inject, Injectable, Logger } from '@nestjs/common';
import { KeyValueStore } from '../state/key-value.store';
import type { Profile, ProfileRecord, ProfileSource } from './profile.types';

export const PROFILE_SOURCE = Symbol('PROFILE_SOURCE');
export const PROFILE_CACHE_TTL_S = Symbol('PROFILE_CACHE_TTL_S');

/** What the cache holds for an id the profile service does not know. */
const UNKNOWN = '-';
/** How long an unknown id stays cached (at most): it may be a user the service has not heard of yet. */
const UNKNOWN_TTL_S = 30;
/** Ids per call to the profile service: a larger set of misses is fetched in several batches at once. */
export const PROFILE_BATCH_MAX = 100;

/**
 * Profiles for display: cached (Redis or in process) with a TTL, the misses fetched in one batch,
 * and `null` for whatever could not be had (a slow or failing profile service never fails a list).
 */
@Injectable()
export class ProfileService {
  private readonly logger = new Logger(ProfileService.name);
  /** Fetches in flight, per id: a cold key asked for by many lists at once is fetched once (single flight). */
  private readonly inFlight = new Map<string, Promise<Map<string, Profile> | undefined>>();

  constructor(
    @Inject(PROFILE_SOURCE) private readonly source: ProfileSource,
    @Inject(PROFILE_CACHE_TTL_S) private readonly ttlS: number,
    private readonly cache: KeyValueStore,
  ) {}

  async getMany(ids: Iterable<string>): Promise<Map<string, Profile | null>> {
    const unique = [...new Set(ids)];
    const result = new Map<string, Profile | null>();
    if (!unique.length) return result;
    const cached = await this.cache.getMany(unique.map(cacheKey)).catch(() => unique.map(() => null));
    const misses: string[] = [];
    unique.forEach((id, i) => {
      const hit = cached[i] === UNKNOWN ? null : fromCache(cached[i]);
      if (hit === undefined) misses.push(id);
      else result.set(id, hit);
    });
    if (misses.length) {
      const waits = new Map<string, Promise<Map<string, Profile> | undefined>>();
      const fresh = misses.filter((id) => !this.inFlight.has(id));
      for (let from = 0; from < fresh.length; from += PROFILE_BATCH_MAX) {
        const chunk = fresh.slice(from, from + PROFILE_BATCH_MAX);
        const batch = this.fetchAndCache(chunk).finally(() =>
          chunk.forEach((id) => this.inFlight.delete(id)),
        );
        for (const id of chunk) this.inFlight.set(id, batch);
      }
      for (const id of misses) waits.set(id, this.inFlight.get(id)!);
      for (const id of misses) result.set(id, (await waits.get(id))?.get(id) ?? null);
    }
    return result;
  }

  private async fetchAndCache(ids: string[]): Promise<Map<string, Profile> | undefined> {
    const fetched = await this.fetch(ids);
    if (fetched) {
      const known: [string, string][] = [];
      const unknown: [string, string][] = [];
      for (const id of ids) {
        const p = fetched.get(id);
        if (p) known.push([cacheKey(id), JSON.stringify(p)]);
        else unknown.push([cacheKey(id), UNKNOWN]);
      }
      await Promise.all([
        known.length && this.cache.setMany(known, this.ttlS),
        unknown.length && this.cache.setMany(unknown, Math.min(this.ttlS, UNKNOWN_TTL_S)),
      ]).catch(() => undefined);
    }
    return fetched;
  }

  async get(id: string): Promise<Profile | null> {
    return (await this.getMany([id])).get(id) ?? null;
  }

  /** One batched call; undefined when the source failed (nothing is cached then). */
  private async fetch(ids: string[]): Promise<Map<string, Profile> | undefined> {
    try {
      const records: ProfileRecord[] = await this.source.fetchBatch(ids);
      const wanted = new Set(ids);
      return new Map(
        records
          .filter((r) => wanted.has(r.id))
          .map((r) => [r.id, { displayName: r.displayName, avatarUrl: r.avatarUrl ?? null }]),
      );
    } catch (err) {
      this.logger.warn(
        { err: err instanceof Error ? err.message : String(err), ids: ids.length },
        'profile fetch failed',
      );
      return undefined;
    }
  }
}

const cacheKey = (id: string) => `profile:${id}`;

/**
 * A cached profile, or undefined when there is none or it cannot be read (written by another
 * version, or damaged): then it is fetched again, never a failed list.
 */
function fromCache(value: string | null | undefined): Profile | undefined {
  if (value === null || value === undefined) return undefined;
  try {
    const p = JSON.parse(value) as Partial<Profile> | null;
    if (!p || typeof p.displayName !== 'string') return undefined;
    return { displayName: p.displayName, avatarUrl: typeof p.avatarUrl === 'string' ? p.avatarUrl : null };
  } catch {
    return undefined;
  }
}
