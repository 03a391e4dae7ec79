import type { ProfileRecord, ProfileSource } from './profile.types';

/** The built-in profile source when no PROFILE_SERVICE_URL is set: answers for every id. */
export class MockProfileSource implements ProfileSource {
  async fetchBatch(ids: string[]): Promise<ProfileRecord[]> {
    return ids.map((id) => ({ id, kind: 'user', displayName: displayNameFor(id), avatarUrl: null }));
  }
}

/** `alice.smith` → `Alice Smith`: readable names for local use. */
export function displayNameFor(id: string): string {
  return id
    .split(/[._:-]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join(' ');
}
