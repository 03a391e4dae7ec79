import { ChatClient, ChatError, type Conversation, type Message, type Participant } from '../../src';
import { fill, h, time } from './dom';

type Presence = 'online' | 'offline';

/**
 * The signed-in screen: the chat list (unread badges, presence dots, typing) on the left, the open
 * conversation (history that loads as you scroll up, typing indicator, read receipts, business
 * status and agent actions) on the right. All state comes from the SDK's events.
 */
export class ChatApp {
  readonly client: ChatClient;
  private readonly conversations = new Map<string, Conversation>();
  private readonly presence = new Map<string, Presence>();
  /** conversation → user → timer that clears a typing flag the server never ended. */
  private readonly typing = new Map<string, Map<string, ReturnType<typeof setTimeout>>>();
  /** Conversations being fetched because a message of theirs came first, with the messages since. */
  private readonly fetching = new Map<string, Message[]>();
  private view: ConversationView | null = null;
  private readonly listEl = h('ul', { class: 'chat-list', 'data-testid': 'chat-list' });
  private readonly paneEl = h('section', { class: 'pane' });
  private readonly statusEl = h('span', { class: 'status', 'data-testid': 'connection' });

  constructor(
    private readonly root: HTMLElement,
    token: string,
    readonly me: string,
    private readonly opts: { admin: boolean; onSignOut: () => void; askToken: () => Promise<string> },
  ) {
    this.client = new ChatClient({
      baseUrl: location.origin,
      token,
      refreshToken: () => this.opts.askToken(),
    });
    this.render();
    this.listen();
    this.client.connect();
    document.addEventListener('visibilitychange', () => this.view?.markReadIfVisible());
  }

  close(): void {
    this.client.close();
  }

  private render(): void {
    fill(
      this.root,
      h(
        'div',
        { class: 'layout' },
        h(
          'aside',
          { class: 'sidebar' },
          h(
            'header',
            { class: 'me' },
            h('span', { class: 'me-name', 'data-testid': 'me' }, this.me),
            this.statusEl,
            h('button', { class: 'link', onclick: () => this.opts.onSignOut() }, 'Sign out'),
          ),
          this.newConversationForm(),
          this.opts.admin ? this.businessAdminForm() : null,
          this.listEl,
        ),
        this.paneEl,
      ),
    );
    fill(this.paneEl, h('p', { class: 'empty' }, 'Pick a conversation, or start one.'));
  }

  private listen(): void {
    const c = this.client;
    c.on('status', (s) => {
      this.statusEl.textContent = s;
      this.statusEl.dataset.state = s;
    });
    c.on('synced', (list) => {
      for (const conv of list) this.conversations.set(conv.id, conv);
      this.renderList();
      this.view?.refreshHeader();
    });
    c.on('message', (m) => this.onMessage(m));
    // Live, and after a reconnect for deletes made while away (the SDK tells them then).
    c.on('message:deleted', (p) => {
      const conv = this.conversations.get(p.conversationId);
      if (conv?.lastMessage?.id === p.messageId && !conv.lastMessage.deletedAt) {
        conv.lastMessage = { ...conv.lastMessage, content: null, deletedAt: new Date().toISOString() };
        this.renderList();
      }
      if (this.view?.conversationId === p.conversationId) this.view.tombstone(p.seq);
    });
    c.on('unread:updated', (p) => {
      const conv = this.conversations.get(p.conversationId);
      if (!conv) return;
      conv.unreadCount = p.unreadCount;
      const mine = conv.participants.find((x) => x.userId === this.me);
      if (mine) mine.lastReadSeq = Math.max(mine.lastReadSeq, p.lastReadSeq);
      this.renderList();
    });
    c.on('receipt:read', (p) => {
      const conv = this.conversations.get(p.conversationId);
      const who = conv?.participants.find((x) => x.userId === p.userId);
      if (who) who.lastReadSeq = Math.max(who.lastReadSeq, p.seq);
      if (this.view?.conversationId === p.conversationId) this.view.renderReceipts();
    });
    c.on('conversation:updated', (conv) => {
      if (!conv.participants.some((p) => p.userId === this.me)) {
        this.conversations.delete(conv.id);
        if (this.view?.conversationId === conv.id) this.closeView();
      } else this.conversations.set(conv.id, conv);
      this.renderList();
      if (this.view?.conversationId === conv.id) this.view.refreshHeader();
    });
    c.on('typing', (p) => this.setTyping(p.conversationId, p.userId, p.isTyping));
    c.on('presence', (p) => {
      this.presence.set(p.userId, p.status);
      this.renderList();
      this.view?.refreshHeader();
    });
    c.on('error', (err) => console.warn('chat client:', err));
  }

  private onMessage(m: Message): void {
    const conv = this.conversations.get(m.conversationId);
    if (!conv) return this.fetchNew(m);
    conv.lastSeq = Math.max(conv.lastSeq, m.seq);
    if (!conv.lastMessage || conv.lastMessage.seq < m.seq) conv.lastMessage = m;
    conv.lastActivityAt = m.createdAt > conv.lastActivityAt ? m.createdAt : conv.lastActivityAt;
    const mine = conv.participants.find((p) => p.userId === this.me);
    if (m.senderId !== this.me && !m.deletedAt && m.seq > (mine?.lastReadSeq ?? 0)) conv.unreadCount++;
    if (m.senderId !== null) this.setTyping(m.conversationId, m.senderId, false);
    if (this.view?.conversationId === m.conversationId) {
      this.view.add(m);
      this.view.markReadIfVisible();
    }
    this.renderList();
  }

  /**
   * A message of a conversation this tab has not seen yet (someone started it): fetch it once; what
   * arrives meanwhile is applied on top of it if the fetched state does not include it yet.
   */
  private fetchNew(m: Message): void {
    const waiting = this.fetching.get(m.conversationId);
    if (waiting) return void waiting.push(m);
    this.fetching.set(m.conversationId, [m]);
    this.client.getConversation(m.conversationId).then(
      (fresh) => {
        const arrived = this.fetching.get(fresh.id) ?? [];
        this.fetching.delete(fresh.id);
        this.conversations.set(fresh.id, fresh);
        for (const later of arrived) if (later.seq > fresh.lastSeq) this.onMessage(later);
        this.renderList();
      },
      (err: unknown) => {
        this.fetching.delete(m.conversationId);
        console.warn('conversation', err);
      },
    );
  }

  private setTyping(conversationId: string, userId: string, isTyping: boolean): void {
    const users = this.typing.get(conversationId) ?? new Map<string, ReturnType<typeof setTimeout>>();
    clearTimeout(users.get(userId));
    if (isTyping)
      // The server ends a typing flag after 5 s; this only covers an `isTyping: false` that was lost.
      users.set(
        userId,
        setTimeout(() => this.setTyping(conversationId, userId, false), 8000),
      );
    else users.delete(userId);
    this.typing.set(conversationId, users);
    this.renderList();
    if (this.view?.conversationId === conversationId) this.view.renderTyping([...users.keys()]);
  }

  typingIn(conversationId: string): string[] {
    return [...(this.typing.get(conversationId)?.keys() ?? [])];
  }

  presenceOf(userId: string): Presence | undefined {
    return this.presence.get(userId);
  }

  conversation(id: string): Conversation | undefined {
    return this.conversations.get(id);
  }

  /** What the list and the header call a conversation, from this user's side. */
  titleOf(conv: Conversation): string {
    if (conv.type === 'group') return conv.title ?? 'Group';
    if (conv.type === 'business') {
      const businessName = conv.business?.profile?.displayName ?? conv.business?.id ?? 'Business';
      if (this.roleIn(conv) === 'customer') return businessName;
      const customer = conv.participants.find((p) => p.role === 'customer');
      return `${nameOf(customer)} · ${businessName}`;
    }
    return nameOf(conv.participants.find((p) => p.userId !== this.me));
  }

  roleIn(conv: Conversation): Participant['role'] | undefined {
    return conv.participants.find((p) => p.userId === this.me)?.role;
  }

  /** The other user of a direct conversation (whose presence the dot shows). */
  peerOf(conv: Conversation): string | undefined {
    if (conv.type === 'direct') return conv.participants.find((p) => p.userId !== this.me)?.userId;
    if (conv.type === 'business')
      return this.roleIn(conv) === 'customer'
        ? (conv.business?.assignedAgentId ?? undefined)
        : conv.participants.find((p) => p.role === 'customer')?.userId;
    return undefined;
  }

  renderList(): void {
    const sorted = [...this.conversations.values()].sort((a, b) =>
      b.lastActivityAt.localeCompare(a.lastActivityAt),
    );
    fill(
      this.listEl,
      sorted.map((conv) => {
        const peer = this.peerOf(conv);
        const typing = this.typingIn(conv.id);
        const last = conv.lastMessage;
        const preview = typing.length
          ? h('em', {}, 'typing…')
          : last
            ? last.deletedAt
              ? h('em', {}, 'message deleted')
              : (last.content?.text ?? '')
            : h('em', {}, conv.type === 'business' ? (conv.business?.status ?? '') : 'no messages yet');
        return h(
          'li',
          {
            class: `chat-item${this.view?.conversationId === conv.id ? ' active' : ''}`,
            'data-conversation-id': conv.id,
            'data-testid': 'chat-item',
            onclick: () => this.open(conv.id),
          },
          h('span', { class: `avatar ${conv.type}` }, this.titleOf(conv).slice(0, 1).toUpperCase()),
          peer ? presenceDot(this.presence.get(peer)) : null,
          h(
            'span',
            { class: 'chat-text' },
            h('span', { class: 'chat-title' }, this.titleOf(conv)),
            h('span', { class: 'chat-preview' }, preview),
          ),
          conv.unreadCount > 0
            ? h('span', { class: 'badge', 'data-testid': 'unread' }, conv.unreadCount)
            : null,
        );
      }),
    );
  }

  open(conversationId: string): void {
    if (this.view?.conversationId === conversationId) return;
    this.view?.dispose();
    this.view = new ConversationView(this, conversationId);
    fill(this.paneEl, this.view.el);
    this.renderList();
    void this.view.load();
  }

  private closeView(): void {
    this.view?.dispose();
    this.view = null;
    fill(this.paneEl, h('p', { class: 'empty' }, 'Pick a conversation, or start one.'));
  }

  private newConversationForm(): HTMLElement {
    const kind = h(
      'select',
      { name: 'kind', 'data-testid': 'new-kind' },
      h('option', { value: 'direct' }, 'Direct'),
      h('option', { value: 'group' }, 'Group'),
      h('option', { value: 'business' }, 'Business'),
    );
    const title = h('input', { name: 'title', placeholder: 'Group title', hidden: true });
    const who = h('input', {
      name: 'who',
      placeholder: 'User id',
      required: true,
      'data-testid': 'new-who',
    });
    const error = h('p', { class: 'error' });
    kind.addEventListener('change', () => {
      title.hidden = kind.value !== 'group';
      title.required = kind.value === 'group';
      who.placeholder = { direct: 'User id', group: 'User ids, comma separated', business: 'Business id' }[
        kind.value as 'direct'
      ];
    });
    return h(
      'form',
      {
        class: 'new-chat',
        onsubmit: (e: Event) => {
          e.preventDefault();
          error.textContent = '';
          const ids = who.value
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean);
          const created =
            kind.value === 'group'
              ? this.client.group(title.value.trim(), ids)
              : kind.value === 'business'
                ? this.client.business(ids[0] ?? '')
                : this.client.direct(ids[0] ?? '');
          created.then(
            (conv) => {
              this.conversations.set(conv.id, conv);
              who.value = '';
              title.value = '';
              kind.value = 'direct';
              kind.dispatchEvent(new Event('change'));
              this.open(conv.id);
            },
            (err: unknown) => (error.textContent = errorText(err)),
          );
        },
      },
      h('div', { class: 'row' }, kind, title, who, h('button', { type: 'submit' }, 'Start')),
      error,
    );
  }

  /** Admins: make a business open around the clock (UTC) with the given agents. */
  private businessAdminForm(): HTMLElement {
    const id = h('input', { name: 'business', placeholder: 'Business id', required: true });
    const agents = h('input', { name: 'agents', placeholder: 'Agent ids, comma separated', required: true });
    const note = h('p', { class: 'note' });
    const days = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
    return h(
      'details',
      { class: 'admin' },
      h('summary', {}, 'Business admin'),
      h(
        'form',
        {
          onsubmit: (e: Event) => {
            e.preventDefault();
            void (async () => {
              try {
                const businessId = id.value.trim();
                const hours = days.map((day) => ({ day, open: '00:00', close: '24:00' }));
                await ok(
                  this.client.rest.PUT('/businesses/{id}', {
                    params: { path: { id: businessId } },
                    body: { timeZone: 'UTC', hours },
                  }),
                );
                for (const agent of agents.value
                  .split(',')
                  .map((s) => s.trim())
                  .filter(Boolean))
                  await ok(
                    this.client.rest.PUT('/businesses/{id}/agents/{userId}', {
                      params: { path: { id: businessId, userId: agent } },
                      body: { capacity: 5 },
                    }),
                  );
                note.textContent = `${businessId} is open 24/7 with ${agents.value}`;
              } catch (err) {
                note.textContent = errorText(err);
              }
            })();
          },
        },
        h('div', { class: 'row' }, id, agents, h('button', { type: 'submit' }, 'Save')),
        note,
      ),
    );
  }
}

/** The open conversation. */
class ConversationView {
  readonly el: HTMLElement;
  private readonly header = h('header', { class: 'conv-header' });
  private readonly list = h('ol', { class: 'messages', 'data-testid': 'messages' });
  private readonly older = h('button', { class: 'link older', hidden: true }, 'Load older messages');
  private readonly typingEl = h('p', { class: 'typing', 'data-testid': 'typing' });
  private readonly input = h('input', {
    name: 'text',
    placeholder: 'Write a message',
    autocomplete: 'off',
    maxlength: 4000,
    'data-testid': 'composer',
  });
  private readonly messages = new Map<number, Message>();
  private readonly rows = new Map<number, HTMLElement>();
  private readonly pending = new Map<string, HTMLElement>();
  private nextBefore: number | null = null;
  private loadingOlder = false;
  private disposed = false;

  constructor(
    private readonly app: ChatApp,
    readonly conversationId: string,
  ) {
    this.older.addEventListener('click', () => void this.loadOlder());
    this.list.addEventListener('scroll', () => {
      if (this.list.scrollTop < 40) void this.loadOlder();
    });
    this.input.addEventListener('input', () => {
      if (this.input.value) this.app.client.typing(conversationId);
      else this.app.client.stopTyping(conversationId);
    });
    const form = h(
      'form',
      { class: 'composer', onsubmit: (e: Event) => (e.preventDefault(), this.send()) },
      this.input,
      h('button', { type: 'submit', 'data-testid': 'send' }, 'Send'),
    );
    this.el = h(
      'div',
      { class: 'conversation', 'data-conversation-id': conversationId },
      this.header,
      this.older,
      this.list,
      this.typingEl,
      form,
    );
    this.refreshHeader();
    this.renderTyping(app.typingIn(conversationId));
  }

  dispose(): void {
    this.disposed = true;
    this.app.client.stopTyping(this.conversationId);
  }

  async load(): Promise<void> {
    const page = await this.app.client.history(this.conversationId, { limit: 50 });
    if (this.disposed) return;
    for (const m of page.items) this.add(m, false);
    this.nextBefore = page.nextCursor ? Number(page.nextCursor) : null;
    this.older.hidden = this.nextBefore === null;
    this.scrollToEnd();
    this.markReadIfVisible();
    this.input.focus();
  }

  private async loadOlder(): Promise<void> {
    if (this.loadingOlder || this.nextBefore === null) return;
    this.loadingOlder = true;
    try {
      const page = await this.app.client.history(this.conversationId, { before: this.nextBefore, limit: 50 });
      if (this.disposed) return;
      const fromBottom = this.list.scrollHeight - this.list.scrollTop;
      for (const m of page.items) this.add(m, false);
      this.nextBefore = page.nextCursor ? Number(page.nextCursor) : null;
      this.older.hidden = this.nextBefore === null;
      this.list.scrollTop = this.list.scrollHeight - fromBottom; // keep what was on screen in place
    } finally {
      this.loadingOlder = false;
    }
  }

  /** Adds (or replaces) a message at its seq's place. */
  add(m: Message, follow = true): void {
    const atEnd = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 60;
    if (m.clientMessageId && m.senderId === this.app.me) {
      this.pending.get(m.clientMessageId)?.remove();
      this.pending.delete(m.clientMessageId);
    }
    this.messages.set(m.seq, m);
    const row = this.row(m);
    const old = this.rows.get(m.seq);
    if (old) old.replaceWith(row);
    else {
      const after = [...this.rows.keys()].filter((s) => s > m.seq).sort((a, b) => a - b)[0];
      const next = after === undefined ? null : this.rows.get(after)!;
      const firstPending = this.pending.values().next().value ?? null;
      this.list.insertBefore(row, next ?? firstPending);
    }
    this.rows.set(m.seq, row);
    this.renderReceipts();
    if (follow && atEnd) this.scrollToEnd();
  }

  tombstone(seq: number): void {
    const m = this.messages.get(seq);
    if (m) this.add({ ...m, content: null, deletedAt: new Date().toISOString() }, false);
  }

  markReadIfVisible(): void {
    const conv = this.app.conversation(this.conversationId);
    if (!conv || document.visibilityState !== 'visible' || this.disposed) return;
    const mine = conv.participants.find((p) => p.userId === this.app.me);
    const top = Math.max(conv.lastSeq, ...this.messages.keys());
    if (top > 0 && (conv.unreadCount > 0 || (mine && mine.lastReadSeq < top)))
      this.app.client.markRead(this.conversationId, top).catch((err: unknown) => console.warn('read', err));
  }

  refreshHeader(): void {
    const conv = this.app.conversation(this.conversationId);
    if (!conv) return;
    const peer = this.app.peerOf(conv);
    const presence = peer ? this.app.presenceOf(peer) : undefined;
    const business = conv.business;
    const isAgent = this.app.roleIn(conv) === 'agent';
    let subtitle: string | HTMLElement = '';
    if (conv.type === 'group') subtitle = conv.participants.map((p) => nameOf(p)).join(', ');
    else if (peer) subtitle = presence ?? ''; // unknown until the SDK's snapshot (or an event) tells
    if (business) {
      const agent = conv.participants.find((p) => p.userId === business.assignedAgentId);
      const status = {
        assigned: `with ${agent ? nameOf(agent) : (business.assignedAgentId ?? 'an agent')}`,
        queued: `queued${business.queuePosition ? ` #${business.queuePosition}` : ''}`,
        closed: `closed${business.opensAt ? `, opens ${new Date(business.opensAt).toLocaleString()}` : ''}`,
        resolved: 'resolved',
      }[business.status];
      subtitle = h(
        'span',
        {},
        h('span', { class: `pill ${business.status}`, 'data-testid': 'business-status' }, business.status),
        ` ${status}${business.priority === 'high' ? ' · high priority' : ''}`,
        presence ? ` · ${presence}` : '',
      );
    }
    fill(
      this.header,
      peer ? presenceDot(presence) : null,
      h(
        'div',
        { class: 'conv-title' },
        h('h2', { 'data-testid': 'conversation-title' }, this.app.titleOf(conv)),
        h('p', { class: 'subtitle', 'data-testid': 'conversation-subtitle' }, subtitle),
      ),
      isAgent && business?.status === 'assigned'
        ? h(
            'div',
            { class: 'actions' },
            h(
              'button',
              { onclick: () => void this.act(() => this.app.client.escalate(conv.id)) },
              'Escalate',
            ),
            h(
              'button',
              {
                'data-testid': 'resolve',
                onclick: () => void this.act(() => this.app.client.resolve(conv.id)),
              },
              'Resolve',
            ),
          )
        : null,
    );
  }

  renderTyping(userIds: string[]): void {
    const conv = this.app.conversation(this.conversationId);
    const names = userIds.map((id) => nameOf(conv?.participants.find((p) => p.userId === id)) || id);
    this.typingEl.textContent = names.length
      ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…`
      : '';
  }

  /** "Read" under this user's messages once the others' read pointers pass them. */
  renderReceipts(): void {
    const conv = this.app.conversation(this.conversationId);
    if (!conv) return;
    const others = conv.participants.filter((p) => p.userId !== this.app.me);
    for (const [seq, row] of this.rows) {
      const m = this.messages.get(seq);
      const receipt = row.querySelector<HTMLElement>('.receipt');
      if (!m || !receipt || m.senderId !== this.app.me) continue;
      const readers = others.filter((p) => p.lastReadSeq >= seq);
      receipt.textContent =
        readers.length === 0
          ? '✓ sent'
          : conv.type === 'group'
            ? `✓✓ read by ${readers.length}/${others.length}`
            : '✓✓ read';
      receipt.dataset.read = String(readers.length > 0);
    }
  }

  private send(): void {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = '';
    this.app.client.stopTyping(this.conversationId);
    const out = this.app.client.send(this.conversationId, text);
    const row = h(
      'li',
      { class: 'msg mine pending', 'data-client-message-id': out.clientMessageId },
      h('div', { class: 'bubble' }, text),
      h('span', { class: 'meta' }, 'sending…'),
    );
    this.pending.set(out.clientMessageId, row);
    this.list.append(row);
    this.scrollToEnd();
    out.sent.then(
      (m) => this.add(m),
      (err: unknown) => {
        row.classList.add('failed');
        row.querySelector('.meta')!.textContent = `not sent: ${errorText(err)}`;
      },
    );
  }

  private row(m: Message): HTMLElement {
    if (m.type === 'system')
      return h('li', { class: 'msg system', 'data-seq': m.seq }, m.content?.text ?? '');
    const conv = this.app.conversation(this.conversationId);
    const mine = m.senderId === this.app.me;
    const sender = conv?.participants.find((p) => p.userId === m.senderId);
    return h(
      'li',
      { class: `msg ${mine ? 'mine' : 'theirs'}`, 'data-seq': m.seq },
      !mine && conv?.type !== 'direct' ? h('span', { class: 'sender' }, nameOf(sender) || m.senderId) : null,
      h('div', { class: 'bubble' }, m.deletedAt ? h('em', {}, 'message deleted') : (m.content?.text ?? '')),
      h('span', { class: 'meta' }, time(m.createdAt), mine ? h('span', { class: 'receipt' }) : null),
    );
  }

  private async act(action: () => Promise<Conversation>): Promise<void> {
    try {
      await action();
    } catch (err) {
      alert(errorText(err));
    }
  }

  private scrollToEnd(): void {
    this.list.scrollTop = this.list.scrollHeight;
  }
}

function presenceDot(status: Presence | undefined): HTMLElement {
  return h('span', {
    class: `dot ${status ?? 'unknown'}`,
    title: status ?? 'presence not known yet',
    'data-testid': 'presence',
    'data-status': status ?? 'unknown',
  });
}

function nameOf(p: Participant | undefined): string {
  return p?.profile?.displayName ?? p?.userId ?? '';
}

function errorText(err: unknown): string {
  return err instanceof ChatError ? `${err.code}: ${err.message}` : String(err);
}

async function ok(call: Promise<{ response: Response; error?: unknown }>): Promise<void> {
  const { response, error } = await call;
  if (!response.ok) {
    const body = (error ?? {}) as { code?: string; message?: string };
    throw new ChatError(body.code ?? 'INTERNAL', body.message ?? `HTTP ${response.status}`, response.status);
  }
}
