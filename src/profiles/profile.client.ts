import type { ProfileRecord, ProfileSource } from './profile.types';

/** `POST {PROFILE_SERVICE_URL}/profiles/batch { ids }` → `{ profiles: [...] }`. */
export class HttpProfileSource implements ProfileSource {
  constructor(private readonly baseUrl: string) {}

  /** One call; `signal` aborts it (the resilience policy's timeout). */
  async fetchBatch(ids: string[], signal?: AbortSignal): Promise<ProfileRecord[]> {
    const res = await fetch(
      new URL('profiles/batch', this.baseUrl.endsWith('/') ? this.baseUrl : this.baseUrl + '/'),
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ ids }),
        signal,
      },
    );
    if (!res.ok) throw new Error(`profile service answered ${res.status}`);
    const body = (await res.json()) as { profiles?: unknown };
    if (!Array.isArray(body.profiles)) throw new Error('profile service answered without profiles');
    return body.profiles.filter(isProfileRecord);
  }
}

function isProfileRecord(p: unknown): p is ProfileRecord {
  if (!p || typeof p !== 'object') return false;
  const r = p as Record<string, unknown>;
  return (
    typeof r.id === 'string' &&
    typeof r.displayName === 'string' &&
    (r.avatarUrl === null || r.avatarUrl === undefined || typeof r.avatarUrl === 'string')
  );
}
