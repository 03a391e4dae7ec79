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
  last_deleted_at: Date | null;
  business_id: string | null;
  business_status: 'assigned' | 'queued' | 'closed' | 'resolved' | null;
  assigned_agent_id: string | null;
  priority: 'normal' | 'high';
  opens_at: Date | null;
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

/** The business side of a business conversation (CONTRACT §2). */
export interface BusinessInfo {
  id: string;
  profile: Profile | null;
  status: 'assigned' | 'queued' | 'closed' | 'resolved';
  assignedAgentId: string | null;
  queuePosition: number | null;
  priority: 'normal' | 'high';
  opensAt: string | null;
}

/** A conversation as one participant sees it (CONTRACT §2): `unreadCount` is theirs. */
export interface Conversation {
  id: string;
  type: ConversationType;
  title: string | null;
  createdAt: string;
  lastActivityAt: string;
  /** When a sender last deleted one of its messages (an extension; null: never). */
  lastDeletedAt: string | null;
  participants: Participant[];
  business: BusinessInfo | null;
  lastMessage: Message | null;
  lastSeq: number;
  unreadCount: number;
}
