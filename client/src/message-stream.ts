import type { Message } from './protocol';

/** One page of `GET /conversations/:id/messages?after=<seq>` (oldest first). */
export type FetchAfter = (
  conversationId: string,
  after: number,
) => Promise<{ items: Message[]; nextCursor: string | null }>;

export interface MessageStreamOptions {
  fetchAfter: FetchAfter;
  /** Called once per message, in seq order within its conversation. */
  deliver: (message: Message) => void;
  /** A catch-up that failed (it is retried). */
  onError?: (err: unknown, conversationId: string) => void;
  /** First delay before a failed or incomplete catch-up is tried again (doubles up to 30 s). */
  retryMs?: number;
}

interface Track {
  /** The highest seq delivered to the app; everything up to it is done. */
  delivered: number;
  /** Messages received ahead of a gap, waiting for the ones before them. */
  ahead: Map<number, Message>;
  /** The catch-up in progress, if any. */
  running: Promise<void> | null;
  /** Another catch-up was asked for while one was running. */
  again: boolean;
  retry: ReturnType<typeof setTimeout> | null;
  failures: number;
}

/**
 * Per-conversation seq tracking: each message reaches the app exactly once and in seq order.
 *
 * A socket message whose seq is the next one is delivered at once; an older or repeated one is
 * dropped; one further ahead means a gap: it waits, and the conversation is caught up with
 * `after=<last delivered seq>` (page by page). The `after=` listing is the server's record: what it
 * lists is delivered in its order, and a seq it skips no longer exists (retention). If the listing
 * does not yet reach a message that waits (a read replica lagging), the catch-up is tried again later.
 */
export class MessageStream {
  private readonly tracks = new Map<string, Track>();
  private closed = false;
  private readonly retryMs: number;

  constructor(private readonly opts: MessageStreamOptions) {
    this.retryMs = opts.retryMs ?? 500;
  }

  /** The last seq delivered for a conversation, or undefined when it is not tracked yet. */
  lastSeq(conversationId: string): number | undefined {
    return this.tracks.get(conversationId)?.delivered;
  }

  isTracked(conversationId: string): boolean {
    return this.tracks.has(conversationId);
  }

  /**
   * The app already has the conversation up to `seq` (from the chat list, history or its own
   * storage): delivery continues after it. Never moves backwards.
   */
  track(conversationId: string, seq: number): void {
    const t = this.get(conversationId, seq);
    if (seq > t.delivered) {
      t.delivered = seq;
      for (const s of t.ahead.keys()) if (s <= seq) t.ahead.delete(s);
      this.drain(t);
    }
  }

  /**
   * A message from the socket (or an ack). A conversation seen for the first time starts from seq 0.
   * `patient`: a gap it opens is probably already on its way (an ack can overtake the `message:new`
   * of the seqs before it): the catch-up waits `retryMs` and happens only if the gap is still open.
   */
  receive(message: Message, opts: { patient?: boolean } = {}): void {
    if (this.closed) return;
    const t = this.get(message.conversationId, 0);
    if (message.seq <= t.delivered || t.ahead.has(message.seq)) return;
    t.ahead.set(message.seq, message);
    this.drain(t);
    if (!t.ahead.size) return;
    if (opts.patient) this.catchUpLater(message.conversationId, t);
    else void this.catchUp(message.conversationId);
  }

  /**
   * Fetches and delivers everything after the last delivered seq. Concurrent calls share one
   * catch-up (and run it once more if asked while it ran). Resolves when the conversation has
   * been caught up or the catch-up failed (a retry is then scheduled).
   */
  catchUp(conversationId: string): Promise<void> {
    const t = this.get(conversationId, 0);
    if (t.running) {
      t.again = true;
      return t.running;
    }
    if (t.retry) {
      clearTimeout(t.retry);
      t.retry = null;
    }
    t.running = this.runCatchUp(conversationId, t).finally(() => {
      t.running = null;
    });
    return t.running;
  }

  /** Stops: no more deliveries, no more retries. */
  close(): void {
    this.closed = true;
    for (const t of this.tracks.values()) if (t.retry) clearTimeout(t.retry);
  }

  private async runCatchUp(conversationId: string, t: Track): Promise<void> {
    try {
      do {
        t.again = false;
        let after = t.delivered;
        for (;;) {
          const page = await this.opts.fetchAfter(conversationId, after);
          if (this.closed) return;
          for (const m of page.items) {
            if (m.seq <= t.delivered) continue;
            // The listing skips a seq only when that message no longer exists (retention): what the
            // socket brought of it still goes first.
            for (const s of [...t.ahead.keys()].sort((a, b) => a - b))
              if (s < m.seq) this.deliverOne(t, t.ahead.get(s)!);
            t.ahead.delete(m.seq);
            this.deliverOne(t, m);
          }
          this.drain(t);
          const last = page.items.at(-1);
          if (!page.nextCursor || !last) break;
          after = last.seq;
        }
      } while (t.again && !this.closed);
      // Messages still waiting are beyond what the server listed (a read replica behind): later, with backoff.
      t.failures = t.ahead.size ? t.failures + 1 : 0;
      if (t.ahead.size) this.scheduleRetry(conversationId, t);
    } catch (err) {
      t.failures++;
      this.opts.onError?.(err, conversationId);
      this.scheduleRetry(conversationId, t);
    }
  }

  /** A catch-up in `retryMs`, if by then messages still wait (and none is already scheduled). */
  private catchUpLater(conversationId: string, t: Track): void {
    if (this.closed || t.retry || t.running) return;
    t.retry = setTimeout(() => {
      t.retry = null;
      if (t.ahead.size) void this.catchUp(conversationId);
    }, this.retryMs);
  }

  private scheduleRetry(conversationId: string, t: Track): void {
    if (this.closed || t.retry) return;
    const delay = Math.min(30_000, this.retryMs * 2 ** Math.min(Math.max(t.failures - 1, 0), 6));
    t.retry = setTimeout(() => {
      t.retry = null;
      void this.catchUp(conversationId);
    }, delay);
  }

  /** Delivers the waiting messages that have become next in line. */
  private drain(t: Track): void {
    for (let next = t.ahead.get(t.delivered + 1); next; next = t.ahead.get(t.delivered + 1))
      this.deliverOne(t, next);
  }

  private deliverOne(t: Track, m: Message): void {
    t.ahead.delete(m.seq);
    t.delivered = m.seq;
    if (!this.closed) this.opts.deliver(m);
  }

  private get(conversationId: string, startAt: number): Track {
    let t = this.tracks.get(conversationId);
    if (!t) {
      t = { delivered: startAt, ahead: new Map(), running: null, again: false, retry: null, failures: 0 };
      this.tracks.set(conversationId, t);
    }
    return t;
  }
}
