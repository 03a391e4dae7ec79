import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { Emitter } from './emitter';
import { newClientMessageId } from './ids';
import { MessageStream } from './message-stream';
import { PresenceView, type PresenceUpdate } from './presence-view';
import {
  ChatError,
  type AckError,
  type AckResult,
  type ClientEmitEvents,
  type ClientEventName,
  type ClientEvents,
  type components,
  type Conversation,
  type Message,
  type ReadState,
  type ServerEventPayload,
  type ServerEvents,
  type SessionEndReason,
  type UserPresence,
} from './protocol';
import { createRestClient, unwrap, type RestClient } from './rest';

export type ChatSocket = Socket<ServerEvents, ClientEmitEvents>;
export type ConnectionStatus = 'connecting' | 'connected' | 'disconnected' | 'closed';
type Schemas = components['schemas'];

export interface ChatClientOptions {
  /** The service's origin, e.g. `http://localhost:3000` (in a page served by it: `location.origin`). */
  baseUrl: string;
  /** The bearer token (JWT) to start with. */
  token: string;
  /**
   * Returns a fresh token. Called when the server ends the session with `token_expired`, when a
   * connect or a REST call is refused as unauthenticated; the client then reconnects (or retries) with it.
   * Without it, an expired session stays disconnected (`session:end` and `error` tell the app).
   */
  refreshToken?: (reason: 'token_expired' | 'unauthenticated') => Promise<string>;
  /** `presence:heartbeat` interval: a random delay in [min, max] ms before each beat. Default 20–25 s. */
  heartbeatMs?: { min: number; max: number };
  /** How long a socket send waits for its ack before it is sent again (same `clientMessageId`). Default 10 s. */
  ackTimeoutMs?: number;
  /** First delay of the retry backoffs (sends, catch-up), doubling up to 30 s. Default 500 ms. */
  retryMs?: number;
  /** Extra Socket.IO client options (reconnection delays, transports, …). */
  socket?: Partial<ManagerOptions & SocketOptions>;
  /** A fetch to use for REST (default: the global one). */
  fetch?: (input: Request) => Promise<Response>;
  /**
   * After each (re)connect, read the presence of everyone in the chat list (`presence:query`) and
   * fire `presence` for what the events have not told yet. Default true.
   */
  presenceSnapshot?: boolean;
}

export interface ChatClientEvents {
  /** Every message of every conversation the user is in, exactly once, in seq order per conversation. */
  message: (message: Message) => void;
  'message:deleted': (payload: ServerEventPayload<'message:deleted'>) => void;
  'conversation:updated': (conversation: Conversation) => void;
  'unread:updated': (payload: ServerEventPayload<'unread:updated'>) => void;
  'receipt:read': (payload: ServerEventPayload<'receipt:read'>) => void;
  typing: (payload: ServerEventPayload<'typing'>) => void;
  /**
   * A contact's presence: from the server's events, and after each (re)connect from a snapshot.
   * `lastSeenAt` is null only when the snapshot says a contact is offline and the server no longer
   * knows since when (e.g. an instance without Redis restarted).
   */
  presence: (payload: PresenceUpdate) => void;
  'session:end': (payload: ServerEventPayload<'session:end'>) => void;
  status: (status: ConnectionStatus) => void;
  /** After each (re)connect: the chat list as it is now, once missed messages are being caught up. */
  synced: (conversations: Conversation[]) => void;
  /** Something failed in the background (it is retried where that makes sense). */
  error: (error: unknown) => void;
}

/** A message handed to `send`: its id is known at once, `sent` resolves with the stored message. */
export interface OutgoingMessage {
  conversationId: string;
  clientMessageId: string;
  text: string;
  sent: Promise<Message>;
}

interface PendingSend {
  conversationId: string;
  clientMessageId: string;
  text: string;
  attempts: number;
  notBefore: number;
  resolve: (m: Message) => void;
  reject: (e: ChatError) => void;
}

/** Ack errors worth sending again with the same `clientMessageId` (the server stored nothing, or may have). */
const RETRYABLE = new Set(['SERVICE_UNAVAILABLE', 'RATE_LIMITED', 'INTERNAL', 'TIMEOUT']);
const MAX_INTERNAL_ATTEMPTS = 5;
const TYPING_RENEW_MS = 3000;
/** The most users one `GET /presence` or `presence:query` may name. */
const PRESENCE_QUERY_MAX = 100;
/** Deletions remembered for messages not delivered yet (see `deletedEarly`). */
const MAX_EARLY_DELETES = 1000;
/** Deletions already told to the app, remembered so that none is told twice (see `deletesTold`). */
const MAX_DELETES_TOLD = 10_000;
/**
 * After a reconnect: at most how many conversations whose `lastDeletedAt` moved are checked for deletes
 * missed (the most recently active first; the rest at the next reconnect)…
 */
const DELETE_CHECK_CONVERSATIONS = 20;
/** … and how many of their last delivered messages. */
const DELETE_CHECK_PAGE = 50;
/**
 * A delete's time is its transaction's start: two deletes may commit in the other order, so one a
 * little older than the `lastDeletedAt` last checked may still be new to the client.
 */
const DELETE_CLOCK_MARGIN_MS = 60_000;

/** The presence of `userIds`, asked PRESENCE_QUERY_MAX at a time, one request after another. */
async function presencePages(
  userIds: string[],
  ask: (chunk: string[]) => Promise<{ users: UserPresence[] }>,
): Promise<UserPresence[]> {
  const users: UserPresence[] = [];
  for (let i = 0; i < userIds.length; i += PRESENCE_QUERY_MAX)
    users.push(...(await ask(userIds.slice(i, i + PRESENCE_QUERY_MAX))).users);
  return users;
}

/** CONTRACT §4: clients send `presence:heartbeat` every 20–25 s (the server's presence TTL is 30 s). */
export const DEFAULT_HEARTBEAT_MS = { min: 20_000, max: 25_000 } as const;

/**
 * The chat service client: typed REST (openapi-fetch) and Socket.IO, with the behaviour the
 * contract leaves to clients done for you:
 * - `send` makes the `clientMessageId` and sends again with the same id until the server acks
 *   (ack lost, timeout, reconnect, `SERVICE_UNAVAILABLE`, `RATE_LIMITED` after its `retryAfterS`);
 * - every conversation's seq is tracked: `message` fires exactly once per message, in order; a gap
 *   and every reconnect trigger an `after=` catch-up;
 * - `token_expired` calls `refreshToken` and reconnects; heartbeats go out every 20–25 s.
 */
export class ChatClient extends Emitter<ChatClientEvents> {
  readonly rest: RestClient;
  readonly socket: ChatSocket;
  private token: string;
  private readonly stream: MessageStream;
  private readonly outbox = new Map<string, PendingSend[]>();
  private readonly inFlight = new Set<string>();
  private readonly pumpTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly typingSent = new Map<string, number>();
  private readonly presenceView = new PresenceView();
  /** Counts connects: acks and syncs of an earlier connection are ignored. */
  private connection = 0;
  /** Socket messages held while the chat list loads after a connect. */
  private held: Message[] | null = null;
  /**
   * Deletions of messages not delivered yet (a delete can overtake its message while the server holds
   * that one back for order), by message id, with when the delete came: the message is delivered
   * as the tombstone it is now. Bounded: the oldest go first.
   */
  private readonly deletedEarly = new Map<string, string>();
  /**
   * Messages whose deletion the app has been told (a `message:deleted`, or the message delivered as a
   * tombstone), so the check after a reconnect (`reportMissedDeletes`) tells each once. Bounded.
   */
  private readonly deletesTold = new Set<string>();
  /**
   * Each conversation's `lastDeletedAt` as of the last chat list whose deletes were all told: after a
   * reconnect, only the conversations where it moved are read again (`reportMissedDeletes`).
   */
  private readonly deletesChecked = new Map<string, string | null>();
  private baselineTaken = false;
  private endReason: SessionEndReason | undefined;
  private refreshing: Promise<void> | null = null;
  private authFailures = 0;
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  private syncTimer: ReturnType<typeof setTimeout> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private currentStatus: ConnectionStatus = 'disconnected';
  private closed = false;
  private readonly ackTimeoutMs: number;
  private readonly retryMs: number;
  private readonly heartbeat: { min: number; max: number };

  constructor(private readonly opts: ChatClientOptions) {
    super();
    this.token = opts.token;
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
    this.retryMs = opts.retryMs ?? 500;
    this.heartbeat = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.rest = createRestClient({ baseUrl: opts.baseUrl, token: () => this.token, fetch: opts.fetch });
    this.stream = new MessageStream({
      fetchAfter: (conversationId, after) =>
        this.call(() =>
          this.rest.GET('/conversations/{id}/messages', {
            params: { path: { id: conversationId }, query: { after, limit: 100 } },
          }),
        ),
      deliver: (m) => {
        const message = this.asDeleted(m);
        if (message.deletedAt) this.deleteTold(message.id);
        this.emit('message', message);
      },
      onError: (err) => this.emit('error', err),
      retryMs: this.retryMs,
    });
    this.socket = io(opts.baseUrl, {
      autoConnect: false,
      transports: ['websocket'],
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      ...opts.socket,
      // echo: false: our own messages come back in their acks, not again as message:new.
      auth: (cb) => cb({ token: this.token, echo: false }),
    });
    this.wire();
  }

  get status(): ConnectionStatus {
    return this.currentStatus;
  }

  /** Opens the socket. Messages flow once the chat list has been read (the `synced` event). */
  connect(): this {
    if (this.closed) throw new ChatError('CLOSED', 'client closed');
    this.setStatus('connecting');
    this.socket.connect();
    return this;
  }

  /** Closes the socket for good; sends still waiting are rejected with `CLOSED`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.close();
    for (const t of [this.heartbeatTimer, this.syncTimer, this.reconnectTimer, ...this.pumpTimers.values()])
      clearTimeout(t);
    for (const queue of this.outbox.values())
      for (const p of queue) p.reject(new ChatError('CLOSED', 'client closed before the message was acked'));
    this.outbox.clear();
    this.socket.disconnect();
    this.setStatus('closed');
  }

  /** Replaces the token (used from the next connect and REST call on). */
  setToken(token: string): void {
    this.token = token;
  }

  // ---- messages ------------------------------------------------------------------------------

  /**
   * Sends a text. It is sent again with the same `clientMessageId` until the server acks it, across
   * reconnects; a conversation's messages go one at a time, in the order they were given.
   * `sent` rejects only on a final refusal (e.g. `VALIDATION_FAILED`, `NOT_FOUND`) or `close()`.
   */
  send(conversationId: string, text: string, opts: { clientMessageId?: string } = {}): OutgoingMessage {
    const clientMessageId = opts.clientMessageId ?? newClientMessageId();
    let resolve!: (m: Message) => void;
    let reject!: (e: ChatError) => void;
    const sent = new Promise<Message>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    if (this.closed) reject(new ChatError('CLOSED', 'client closed'));
    else {
      const queue = this.outbox.get(conversationId) ?? [];
      queue.push({ conversationId, clientMessageId, text, attempts: 0, notBefore: 0, resolve, reject });
      this.outbox.set(conversationId, queue);
      this.pump(conversationId);
    }
    return { conversationId, clientMessageId, text, sent };
  }

  /** Sends waiting for their ack (or their turn). */
  pendingCount(): number {
    let n = 0;
    for (const q of this.outbox.values()) n += q.length;
    return n;
  }

  /** The last seq delivered through `message` for a conversation (undefined: not tracked yet). */
  lastSeq(conversationId: string): number | undefined {
    return this.stream.lastSeq(conversationId);
  }

  /**
   * The app has the conversation up to `seq` (e.g. from its own storage): `message` continues after
   * it. Call before `connect()` to resume from stored state instead of the chat list's `lastSeq`.
   */
  track(conversationId: string, seq: number): void {
    this.stream.track(conversationId, seq);
  }

  /** Catches a conversation up now (it also happens by itself on a gap and on every reconnect). */
  catchUp(conversationId: string): Promise<void> {
    return this.stream.catchUp(conversationId);
  }

  /** Older history, newest first (`before` a seq; from the newest when omitted). */
  async history(
    conversationId: string,
    opts: { before?: number; limit?: number } = {},
  ): Promise<{ items: Message[]; nextCursor: string | null }> {
    return this.call(() =>
      this.rest.GET('/conversations/{id}/messages', {
        params: { path: { id: conversationId }, query: { before: opts.before, limit: opts.limit ?? 50 } },
      }),
    );
  }

  /** Moves the read pointer (socket when connected, else REST). */
  async markRead(conversationId: string, seq: number): Promise<ReadState> {
    if (this.socket.connected) {
      try {
        return await this.emitAck('conversation:read', { conversationId, seq });
      } catch (err) {
        if (!(err instanceof ChatError) || err.code !== 'TIMEOUT') throw err;
      }
    }
    return this.call(() =>
      this.rest.POST('/conversations/{id}/read', { params: { path: { id: conversationId } }, body: { seq } }),
    );
  }

  async deleteMessage(conversationId: string, messageId: string): Promise<void> {
    await this.call(() =>
      this.rest.DELETE('/conversations/{id}/messages/{messageId}', {
        params: { path: { id: conversationId, messageId } },
      }),
    );
  }

  // ---- typing --------------------------------------------------------------------------------

  /** Call on every keystroke: `typing:start` goes out at most every 3 s (the server ends it after 5 s). */
  typing(conversationId: string): void {
    const last = this.typingSent.get(conversationId) ?? 0;
    if (!this.socket.connected || Date.now() - last < TYPING_RENEW_MS) return;
    this.typingSent.set(conversationId, Date.now());
    this.socket.emit('typing:start', { conversationId }, () => undefined);
  }

  stopTyping(conversationId: string): void {
    if (!this.typingSent.delete(conversationId) || !this.socket.connected) return;
    this.socket.emit('typing:stop', { conversationId }, () => undefined);
  }

  // ---- presence (REST) -----------------------------------------------------------------------

  /**
   * The presence of the users named (`GET /presence`, 100 per request), of those who share a
   * conversation with you; the others (you too) are left out.
   */
  presence(userIds: string[]): Promise<UserPresence[]> {
    return presencePages(userIds, (chunk) =>
      this.call(() => this.rest.GET('/presence', { params: { query: { userIds: chunk.join(',') } } })),
    );
  }

  // ---- conversations (REST) ------------------------------------------------------------------

  async listConversations(opts: { limit?: number; cursor?: string } = {}): Promise<{
    items: Conversation[];
    nextCursor: string | null;
  }> {
    return this.call(() => this.rest.GET('/conversations', { params: { query: opts } }));
  }

  /**
   * The whole chat list, page by page, most recent activity first. A conversation whose activity
   * moves it to the top while the later pages are read is passed over by the paging: so after more
   * than one page, the first page is read again until it shows no conversation not seen yet (those
   * go first).
   */
  async allConversations(): Promise<Conversation[]> {
    const all: Conversation[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await this.listConversations({ limit: 100, cursor });
      for (const c of page.items) {
        if (seen.has(c.id)) continue;
        seen.add(c.id);
        all.push(c);
      }
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    for (let round = 0; pages > 1 && round < 5; round++) {
      const moved = (await this.listConversations({ limit: 100 })).items.filter((c) => !seen.has(c.id));
      if (!moved.length) break;
      for (const c of moved) seen.add(c.id);
      all.unshift(...moved);
    }
    return all;
  }

  async getConversation(id: string): Promise<Conversation> {
    return this.call(() => this.rest.GET('/conversations/{id}', { params: { path: { id } } }));
  }

  /** A direct conversation with `userId` (the existing one if the pair has one). */
  async direct(userId: string): Promise<Conversation> {
    return this.createConversation({ type: 'direct', participantIds: [userId] });
  }

  async group(title: string, participantIds: string[]): Promise<Conversation> {
    return this.createConversation({ type: 'group', title, participantIds });
  }

  /** Opens (or returns the open) conversation with a business; routing assigns or queues it. */
  async business(businessId: string): Promise<Conversation> {
    return this.createConversation({ type: 'business', businessId });
  }

  async createConversation(body: Schemas['CreateConversationDto']): Promise<Conversation> {
    return this.call(() => this.rest.POST('/conversations', { body }));
  }

  async addParticipant(
    id: string,
    userId: string,
    role: 'member' | 'admin' = 'member',
  ): Promise<Conversation> {
    return this.call(() =>
      this.rest.POST('/conversations/{id}/participants', {
        params: { path: { id } },
        body: { userId, role },
      }),
    );
  }

  async removeParticipant(id: string, userId: string): Promise<void> {
    await this.call(() =>
      this.rest.DELETE('/conversations/{id}/participants/{userId}', { params: { path: { id, userId } } }),
    );
  }

  /** Business conversations (the assigned agent, or an admin). */
  async resolve(id: string): Promise<Conversation> {
    return this.call(() => this.rest.POST('/conversations/{id}/resolve', { params: { path: { id } } }));
  }

  async escalate(id: string): Promise<Conversation> {
    return this.call(() => this.rest.POST('/conversations/{id}/escalate', { params: { path: { id } } }));
  }

  async transfer(id: string, agentId: string): Promise<Conversation> {
    return this.call(() =>
      this.rest.POST('/conversations/{id}/transfer', { params: { path: { id } }, body: { agentId } }),
    );
  }

  // ---- internals -----------------------------------------------------------------------------

  /** A REST call; an unauthenticated answer refreshes the token (if it can) and tries once more. */
  private async call<T>(
    request: () => Promise<{ data?: T; error?: unknown; response: Response }>,
  ): Promise<T> {
    let result = await request();
    if (result.response.status === 401 && this.opts.refreshToken) {
      await this.refresh('unauthenticated');
      result = await request();
    }
    return unwrap(result);
  }

  /** Emits a client event and resolves with its ack's data, or rejects with a ChatError. */
  private emitAck<E extends ClientEventName>(
    event: E,
    payload: ClientEvents[E]['payload'],
  ): Promise<ClientEvents[E]['result']> {
    // `timeout()` turns the ack into `(err, result)`; Socket.IO's types for that are not worth fighting.
    const socket = this.socket.timeout(this.ackTimeoutMs) as unknown as {
      emit(ev: E, payload: unknown, ack: (err: Error | null, result: AckResult<any>) => void): void;
    };
    return new Promise((resolve, reject) => {
      socket.emit(event, payload, (err, result) => {
        if (err) reject(new ChatError('TIMEOUT', `no ack for ${event}`));
        else if (result.ok) resolve(result.data);
        else {
          const { code, message, retryAfterS } = result.error as AckError & { retryAfterS?: number };
          reject(new ChatError(code, message, undefined, undefined, retryAfterS));
        }
      });
    });
  }

  private wire(): void {
    const s = this.socket;
    s.on('connect', () => this.onConnect());
    s.on('disconnect', (reason) => this.onDisconnect(reason));
    s.on('connect_error', (err) => this.onConnectError(err));
    s.on('message:new', (m) => this.receive(m));
    s.on('message:deleted', (p) => {
      const delivered = this.stream.lastSeq(p.conversationId);
      if (delivered === undefined || p.seq > delivered) {
        this.deletedEarly.set(p.messageId, new Date().toISOString());
        if (this.deletedEarly.size > MAX_EARLY_DELETES)
          this.deletedEarly.delete(this.deletedEarly.keys().next().value!);
      }
      // Already told (the check after a reconnect may have read the tombstone before this event came).
      if (this.deletesTold.has(p.messageId)) return;
      this.deleteTold(p.messageId);
      this.emit('message:deleted', p);
    });
    s.on('conversation:updated', (c) => this.emit('conversation:updated', c));
    s.on('unread:updated', (p) => this.emit('unread:updated', p));
    s.on('receipt:read', (p) => this.emit('receipt:read', p));
    s.on('typing', (p) => this.emit('typing', p));
    s.on('presence', (p) => {
      if (this.presenceView.event(p)) this.emit('presence', p);
    });
    s.on('session:end', (p) => {
      this.endReason = p.reason;
      this.emit('session:end', p);
    });
  }

  private setStatus(status: ConnectionStatus): void {
    if (status === this.currentStatus || this.currentStatus === 'closed') return;
    this.currentStatus = status;
    this.emit('status', status);
  }

  private onConnect(): void {
    this.connection++;
    this.presenceView.connected();
    this.authFailures = 0;
    this.endReason = undefined;
    this.setStatus('connected');
    this.scheduleHeartbeat();
    void this.sync(this.connection, 0);
    for (const conversationId of this.outbox.keys()) this.pump(conversationId);
  }

  /**
   * After a connect: read the chat list, then catch up every conversation whose `lastSeq` is ahead
   * of what was delivered. The first time, the list's `lastSeq` is where delivery starts (older
   * messages are history), except that a message received since the connect (held, or an ack) is
   * delivered; a conversation first seen later is new, so it is delivered from seq 1. Deletes missed
   * while away are told after a reconnect (`reportMissedDeletes`).
   */
  private async sync(connection: number, failures: number): Promise<void> {
    this.held ??= [];
    try {
      const list = await this.allConversations();
      if (connection !== this.connection || this.closed) return;
      const first = !this.baselineTaken;
      if (first) {
        await this.addHeldConversations(connection, list);
        if (connection !== this.connection || this.closed) return;
      }
      if (this.opts.presenceSnapshot !== false) void this.presenceSnapshot(connection, list);
      const held = this.held ?? [];
      this.held = null;
      // Conversations whose messages were delivered before this sync (deletes since may have been missed).
      const known = first
        ? new Set<string>()
        : new Set(list.filter((c) => this.stream.isTracked(c.id)).map((c) => c.id));
      // The first time, a conversation starts after its `lastSeq`, or before the first message held
      // for it if that is lower (the list may have been read after that message was stored).
      const firstHeld = new Map<string, number>();
      for (const m of held)
        firstHeld.set(m.conversationId, Math.min(m.seq, firstHeld.get(m.conversationId) ?? m.seq));
      for (const c of list)
        if (!this.stream.isTracked(c.id))
          this.stream.track(c.id, first ? Math.min(c.lastSeq, (firstHeld.get(c.id) ?? Infinity) - 1) : 0);
      this.baselineTaken = true;
      for (const m of held) this.stream.receive(m);
      const behind = list.filter((c) => c.lastSeq > (this.stream.lastSeq(c.id) ?? 0));
      await pool(behind, 4, (c) => this.stream.catchUp(c.id));
      await this.reportMissedDeletes(connection, list, known);
      if (connection === this.connection) this.emit('synced', list);
    } catch (err) {
      this.emit('error', err);
      if (connection !== this.connection || this.closed) return;
      const delay = Math.min(30_000, this.retryMs * 2 ** Math.min(failures, 6));
      this.syncTimer = setTimeout(() => void this.sync(connection, failures + 1), delay);
    }
  }

  /**
   * The first sync: a conversation a held message belongs to that is neither tracked nor in the
   * chat list (its activity moved it past the paging, beyond what `allConversations` reads again)
   * is read on its own and added to `list`, so it gets its starting seq (not seq 1) and its place in
   * `synced` and in the presence snapshot. One the user can no longer read is left out.
   */
  private async addHeldConversations(connection: number, list: Conversation[]): Promise<void> {
    const asked = new Set(list.map((c) => c.id));
    // Held messages keep coming while these are read: a few rounds, until none is missing.
    for (let round = 0; round < 3 && connection === this.connection; round++) {
      const missing = [...new Set((this.held ?? []).map((m) => m.conversationId))].filter(
        (id) => !asked.has(id) && !this.stream.isTracked(id),
      );
      if (!missing.length) return;
      for (const id of missing) asked.add(id);
      await pool(missing, 4, async (id) => {
        try {
          list.unshift(await this.getConversation(id));
        } catch (err) {
          if (!(err instanceof ChatError) || !['NOT_FOUND', 'FORBIDDEN'].includes(err.code)) throw err;
        }
      });
    }
  }

  /**
   * After a reconnect: a delete made while the client was away came as no event, and the catch-up
   * reads only what follows the last delivered seq. A conversation's `lastDeletedAt` (an extension
   * of the chat list) tells when a sender last deleted one of its messages: for the conversations
   * where it moved since the last list checked (DELETE_CHECK_CONVERSATIONS at most, the most recently
   * active first), the last DELETE_CHECK_PAGE delivered messages are read again, and `message:deleted`
   * fires once for each tombstone deleted since then, up to the last delivered seq, that the app
   * has not been told. Only conversations `known` (delivered from before this sync) are checked: the
   * others' deletes are history (the first connect) or come with their catch-up from seq 1, as
   * tombstones. A read is tried three times; one that still fails, or one beyond the cap, is left to
   * the next reconnect.
   */
  private async reportMissedDeletes(
    connection: number,
    list: Conversation[],
    known: Set<string>,
  ): Promise<void> {
    const candidates: { c: Conversation; since: string | null }[] = [];
    for (const c of list) {
      const since = this.deletesChecked.get(c.id) ?? null;
      const now = c.lastDeletedAt ?? null;
      if (!known.has(c.id)) this.deletesChecked.set(c.id, now);
      else if (now !== since && candidates.length < DELETE_CHECK_CONVERSATIONS) candidates.push({ c, since });
    }
    await pool(candidates, 4, async ({ c, since }) => {
      const after = since === null ? -Infinity : Date.parse(since);
      for (let attempt = 0; ; attempt++) {
        if (connection !== this.connection || this.closed) return;
        try {
          const delivered = this.stream.lastSeq(c.id) ?? 0;
          // The `after=` listing (read from the primary, as the catch-up is: a replica behind the
          // chat list's could miss the tombstone, and the check would be marked done for good).
          const page = await this.call(() =>
            this.rest.GET('/conversations/{id}/messages', {
              params: {
                path: { id: c.id },
                query: { after: Math.max(0, delivered - DELETE_CHECK_PAGE), limit: DELETE_CHECK_PAGE },
              },
            }),
          );
          if (connection !== this.connection || this.closed) return;
          for (const m of page.items) {
            if (!m.deletedAt || m.seq > delivered || this.deletesTold.has(m.id)) continue;
            // Deletes commit in any order against their times: a margin, the told set keeps them single.
            if (!(Date.parse(m.deletedAt) > after - DELETE_CLOCK_MARGIN_MS)) continue;
            this.deleteTold(m.id);
            this.emit('message:deleted', { conversationId: m.conversationId, messageId: m.id, seq: m.seq });
          }
          this.deletesChecked.set(c.id, c.lastDeletedAt ?? null);
          return;
        } catch (err) {
          this.emit('error', err);
          if (attempt >= 2) return;
          await new Promise((r) => setTimeout(r, this.retryMs * 2 ** attempt));
        }
      }
    });
  }

  /** Remembers that the app has been told a message is deleted (the oldest are forgotten first). */
  private deleteTold(messageId: string): void {
    this.deletesTold.delete(messageId);
    this.deletesTold.add(messageId);
    if (this.deletesTold.size > MAX_DELETES_TOLD)
      this.deletesTold.delete(this.deletesTold.values().next().value!);
  }

  /**
   * The presence of everyone in `list`, over the socket (not REST: it does not spend the REST rate
   * limit the chat list and the catch-up use), then `presence` for what the events have not told
   * (PresenceView). Tried three times; then left to the next connect.
   */
  private async presenceSnapshot(connection: number, list: Conversation[]): Promise<void> {
    const userIds = [...new Set(list.flatMap((c) => c.participants.map((p) => p.userId)))];
    for (let attempt = 0; ; attempt++) {
      try {
        const users = await presencePages(userIds, (chunk) =>
          connection === this.connection && !this.closed
            ? this.emitAck('presence:query', { userIds: chunk })
            : Promise.resolve({ users: [] }),
        );
        if (connection !== this.connection || this.closed) return;
        for (const p of this.presenceView.snapshot(users)) this.emit('presence', p);
        return;
      } catch (err) {
        this.emit('error', err);
        if (attempt >= 2) return;
        await new Promise((r) => setTimeout(r, this.retryMs * 2 ** attempt));
      }
    }
  }

  private onDisconnect(reason: Socket.DisconnectReason): void {
    this.inFlight.clear();
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.syncTimer);
    this.typingSent.clear();
    if (this.closed) return;
    this.setStatus('disconnected');
    if (reason !== 'io server disconnect') {
      if (this.socket.active) this.setStatus('connecting'); // Socket.IO reconnects by itself
      return;
    }
    // The server closed the connection: Socket.IO does not come back by itself.
    const why = this.endReason;
    this.endReason = undefined;
    if (why === 'token_expired') void this.reauthenticate('token_expired');
    else this.reconnectLater(why === 'rate_limited' ? 5000 : 250 + Math.random() * 750);
  }

  private onConnectError(err: Error & { data?: { code?: string } }): void {
    if (this.closed) return;
    if (err.data?.code === 'UNAUTHENTICATED') {
      // Refused by the server's auth: Socket.IO does not retry by itself.
      this.authFailures++;
      if (this.authFailures <= 2 && this.opts.refreshToken) void this.reauthenticate('unauthenticated');
      else {
        this.setStatus('disconnected');
        this.emit('error', new ChatError('UNAUTHENTICATED', err.message));
      }
      return;
    }
    if (!this.socket.active) this.reconnectLater(this.retryMs * 2);
  }

  private async reauthenticate(reason: 'token_expired' | 'unauthenticated'): Promise<void> {
    if (!this.opts.refreshToken) {
      this.setStatus('disconnected');
      this.emit('error', new ChatError('UNAUTHENTICATED', `session ended (${reason}) and no refreshToken`));
      return;
    }
    try {
      await this.refresh(reason);
      if (!this.closed && !this.socket.connected) {
        this.setStatus('connecting');
        this.socket.connect();
      }
    } catch (err) {
      this.emit('error', err);
      this.setStatus('disconnected');
    }
  }

  /** One refresh at a time, shared by whoever needs it. */
  private refresh(reason: 'token_expired' | 'unauthenticated'): Promise<void> {
    this.refreshing ??= this.opts.refreshToken!(reason)
      .then((token) => {
        this.token = token;
      })
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  private reconnectLater(delayMs: number): void {
    clearTimeout(this.reconnectTimer);
    this.setStatus('connecting');
    this.reconnectTimer = setTimeout(() => {
      if (!this.closed && !this.socket.connected) this.socket.connect();
    }, delayMs);
  }

  private scheduleHeartbeat(): void {
    clearTimeout(this.heartbeatTimer);
    const { min, max } = this.heartbeat;
    this.heartbeatTimer = setTimeout(
      () => {
        if (this.socket.connected) this.socket.emit('presence:heartbeat', {}, () => undefined);
        if (!this.closed) this.scheduleHeartbeat();
      },
      min + Math.random() * Math.max(0, max - min),
    );
  }

  /**
   * `m`, or its tombstone if its deletion came first (see `deletedEarly`; `deletedAt` is then when the
   * deletion reached this client).
   */
  private asDeleted(m: Message): Message {
    const deletedAt = this.deletedEarly.get(m.id);
    if (deletedAt === undefined) return m;
    this.deletedEarly.delete(m.id);
    return m.deletedAt ? m : { ...m, content: null, deletedAt };
  }

  /** A message for the conversation streams (held back while a reconnect's sync runs). */
  private receive(m: Message, fromAck = false): void {
    if (this.held) this.held.push(m);
    else this.stream.receive(m, { patient: fromAck });
  }

  /** Sends the head of a conversation's queue; the next one goes when it is acked or refused for good. */
  private pump(conversationId: string): void {
    if (this.closed || !this.socket.connected || this.inFlight.has(conversationId)) return;
    const queue = this.outbox.get(conversationId);
    const head = queue?.[0];
    if (!queue || !head) {
      this.outbox.delete(conversationId);
      return;
    }
    const wait = head.notBefore - Date.now();
    if (wait > 0) {
      if (!this.pumpTimers.has(conversationId))
        this.pumpTimers.set(
          conversationId,
          setTimeout(() => {
            this.pumpTimers.delete(conversationId);
            this.pump(conversationId);
          }, wait),
        );
      return;
    }
    this.inFlight.add(conversationId);
    head.attempts++;
    const connection = this.connection;
    const payload = { conversationId, clientMessageId: head.clientMessageId, content: { text: head.text } };
    this.emitAck('message:send', payload).then(
      (message) => this.settle(connection, head, { message }),
      (err: ChatError) => this.settle(connection, head, { err }),
    );
  }

  private settle(
    connection: number,
    head: PendingSend,
    outcome: { message?: Message; err?: ChatError },
  ): void {
    const queue = this.outbox.get(head.conversationId);
    // An answer for an attempt on an earlier connection: the send was (or will be) made again.
    if (connection !== this.connection || queue?.[0] !== head) return;
    this.inFlight.delete(head.conversationId);
    const { message, err } = outcome;
    if (message) {
      queue.shift();
      // The sending connection gets its own message in the ack, not as `message:new`; the ack may
      // overtake the message:new of the seqs before it, so a gap it opens is given a moment.
      this.receive(message, true);
      head.resolve(message);
    } else if (
      err &&
      RETRYABLE.has(err.code) &&
      (err.code !== 'INTERNAL' || head.attempts < MAX_INTERNAL_ATTEMPTS)
    ) {
      const backoff = Math.min(30_000, this.retryMs * 2 ** Math.min(head.attempts - 1, 6));
      head.notBefore = Date.now() + (err.retryAfterS ? err.retryAfterS * 1000 : backoff);
    } else {
      queue.shift();
      head.reject(err ?? new ChatError('INTERNAL', 'send failed'));
    }
    this.pump(head.conversationId);
  }
}

/** Runs `work` over `items`, at most `n` at a time. */
async function pool<T>(items: T[], n: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}
