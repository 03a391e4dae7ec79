import type { ParticipantRole } from './conversation.types';

/** A group holds at most this many participants, the creator included (CONTRACT §2). */
export const MAX_GROUP_PARTICIPANTS = 8;
export const MIN_GROUP_PARTICIPANTS = 2;

export type PolicyVerdict =
  | { ok: true }
  | { ok: false; code: 'FORBIDDEN' | 'LIMIT_EXCEEDED' | 'VALIDATION_FAILED' | 'CONFLICT'; message: string };

const ok: PolicyVerdict = { ok: true };
const no = (code: Exclude<PolicyVerdict, { ok: true }>['code'], message: string): PolicyVerdict => ({
  ok: false,
  code,
  message,
});

/** The participants a new group starts with, or why not. `others` excludes the creator. */
export function checkNewGroup(creatorId: string, others: string[]): PolicyVerdict {
  const unique = new Set(others.filter((id) => id !== creatorId));
  if (unique.size + 1 < MIN_GROUP_PARTICIPANTS)
    return no('VALIDATION_FAILED', 'a group needs at least one other participant');
  if (unique.size + 1 > MAX_GROUP_PARTICIPANTS)
    return no(
      'LIMIT_EXCEEDED',
      `a group has at most ${MAX_GROUP_PARTICIPANTS} participants, the creator included`,
    );
  return ok;
}

/** May `actor` add `newcomer` with `role` to a group of `size` participants? */
export function checkAdd(
  actor: ParticipantRole,
  role: ParticipantRole,
  size: number,
  alreadyIn: boolean,
): PolicyVerdict {
  if (actor !== 'owner' && actor !== 'admin')
    return no('FORBIDDEN', 'only the owner or an admin may add participants');
  if (role !== 'member' && role !== 'admin') return no('VALIDATION_FAILED', 'role must be member or admin');
  if (role === 'admin' && actor !== 'owner') return no('FORBIDDEN', 'only the owner may add an admin');
  if (alreadyIn) return no('CONFLICT', 'already a participant');
  if (size + 1 > MAX_GROUP_PARTICIPANTS)
    return no('LIMIT_EXCEEDED', `a group has at most ${MAX_GROUP_PARTICIPANTS} participants`);
  return ok;
}

/** May `actor` (role `actorRole`) remove `target` (role `targetRole`)? Anyone may leave. */
export function checkRemove(
  actorId: string,
  actorRole: ParticipantRole,
  targetId: string,
  targetRole: ParticipantRole,
): PolicyVerdict {
  if (actorId === targetId) return ok;
  if (actorRole === 'owner') return ok;
  if (actorRole === 'admin' && targetRole === 'member') return ok;
  return no(
    'FORBIDDEN',
    actorRole === 'admin'
      ? 'an admin may remove members only'
      : 'only the owner or an admin may remove participants',
  );
}

/** May `actorRole` give `targetRole`'s holder the role `role`? Only the owner changes roles, and not their own. */
export function checkRoleChange(
  actorId: string,
  actorRole: ParticipantRole,
  targetId: string,
  role: ParticipantRole,
): PolicyVerdict {
  if (actorRole !== 'owner') return no('FORBIDDEN', 'only the owner may change roles');
  if (actorId === targetId) return no('FORBIDDEN', 'the owner cannot change their own role');
  if (role !== 'admin' && role !== 'member') return no('VALIDATION_FAILED', 'role must be admin or member');
  return ok;
}

/**
 * Who owns the group once the owner leaves: the longest-standing admin, else the longest-standing member.
 * `remaining` is in joining order.
 */
export function nextOwner(remaining: { userId: string; role: ParticipantRole }[]): string | undefined {
  return (remaining.find((p) => p.role === 'admin') ?? remaining[0])?.userId;
}
