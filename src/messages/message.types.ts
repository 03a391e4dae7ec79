/** A message as clients see it (CONTRACT §3). */
export interface Message {
  id: string;
  conversationId: string;
  seq: number;
  senderId: string | null;
  clientMessageId: string | null;
  type: 'text' | 'system';
  content: { text: string } | null;
  createdAt: string;
  editedAt: string | null;
  deletedAt: string | null;
}

export interface MessageRow {
  id: string;
  conversation_id: string;
  seq: number;
  sender_id: string | null;
  client_message_id: string | null;
  type: 'text' | 'system';
  content: { text: string } | null;
  created_at: Date;
  edited_at: Date | null;
  deleted_at: Date | null;
}

export function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    seq: row.seq,
    senderId: row.sender_id,
    clientMessageId: row.client_message_id,
    type: row.type,
    content: row.deleted_at ? null : row.content,
    createdAt: row.created_at.toISOString(),
    editedAt: row.edited_at?.toISOString() ?? null,
    deletedAt: row.deleted_at?.toISOString() ?? null,
  };
}

export interface ReadState {
  lastReadSeq: number;
  unreadCount: number;
}
