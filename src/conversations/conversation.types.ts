import type { Message } from '../messages/message.types';
import type { Profile } from '../profiles/profile.types';

export type ConversationType = 'direct' | 'group' | 'business';
export type ParticipantRole = 'owner' | 'admin' | 'member' | 'customer' | 'agent';

export interface ConversationRow {
  id: string;
  type: ConversationType;
  title: string | null;
  last_seq: number;
  created_at: Date;
  last_activity_at: Date;
}

export interface ParticipantRow {
  conversation_id: string;
  user_id: string;
  role: ParticipantRole;
  joined_at: Date;
  last_read_seq: number;
  unread_count: number;
}

export interface Participant {
  userId: string;
  role: ParticipantRole;
  joinedAt: string;
  lastReadSeq: number;
  profile: Profile | null;
}

/** A conversation as one participant sees it (CONTRACT §2): `unreadCount` is theirs. */
export interface Conversation {
  id: string;
  type: ConversationType;
  title: string | null;
  createdAt: string;
  lastActivityAt: string;
  participants: Participant[];
  business: null;
  lastMessage: Message | null;
  lastSeq: number;
  unreadCount: number;
}
