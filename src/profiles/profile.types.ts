/** What the chat shows of a user or a business (CONTRACT §6). */
export interface Profile {
  displayName: string;
  avatarUrl: string | null;
}

export interface ProfileRecord extends Profile {
  id: string;
  kind: 'user' | 'business';
}

/** One batched fetch from wherever profiles come from (the profile service, or the built-in mock). */
export interface ProfileSource {
  fetchBatch(ids: string[]): Promise<ProfileRecord[]>;
}
