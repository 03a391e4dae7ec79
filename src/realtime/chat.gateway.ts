import { Inject, Logger, type BeforeApplicationShutdown, type OnApplicationShutdown } from '@nestjs/common';
import {
  WebSocketGateway,
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
} from '@nestjs/websockets';
import { AppError, rateLimited } from '../common/errors';
import { toErrorBody } from '../common/http-exception.filter';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { MessageService } from '../messages/message.service';
import { MetricsService } from '../observability/metrics.service';
import { inContext } from '../observability/spans';
import { PresenceQueryEvent } from '../presence/presence.dto';
import { PresenceService } from '../presence/presence.service';
import { TypingService } from '../presence/typing.service';
import { SlidingWindow } from '../state/sliding-window';
import type { AckError, AckResult, ClientEventName, ClientEvents } from './events';
import { Fanout, userRoom, type ChatServer } from './fanout.service';
import { scheduleExpiry, type AuthedSocket } from './socket-auth';
import { endSocketEventSpan, startSocketEventSpan } from './socket-tracing';
import { HeartbeatEvent, ReadEvent, SendMessageEvent, TypingEvent, validatePayload } from './socket.dto';

/**
 * `presence:query` per user: a client needs a few per (re)connect (100 users each); one asking in a
 * loop is refused (each query is a database join and two Redis round trips).
 */
const PRESENCE_QUERIES = { limit: 30, windowMs: 10_000 };

/**
 * `conversation:read`, `typing:*` and `presence:heartbeat`: each connection may send this many of
 * each per window (fixed, in process: these events are cheap, but each costs a query or a Redis
 * call, and a client gone wild must not make them unbounded). Far above what a client needs
 * (a heartbeat every 20 s, a typing renewal every 3 s, a read per message shown).
 */
const LIGHT_EVENTS = { limit: 100, windowMs: 10_000 };

/** See `checkLapsedHeartbeats`. */
const LAPSE_MARGIN_MS = 500;

/** How long shutdown waits for client events in flight (sends waiting for the database). */
const SHUTDOWN_DRAIN_MS = 10_000;

/** `acked`: the client asked for an ack (the result reaches it). */
type Handler<E extends ClientEventName> = (
  socket: AuthedSocket,
  payload: unknown,
  acked: boolean,
) => Promise<ClientEvents[E]['result']>;

/**
 * The Socket.IO edge (CONTRACT §4). It authenticates (handshake middleware), joins each connection
 * to its user's room, validates every client event and delegates to the same services as REST,
 * answering each ack with `{ ok, data }` or `{ ok: false, error }`.
 */
@WebSocketGateway()
export class ChatGateway
  implements
    OnGatewayInit,
    OnGatewayConnection,
    OnGatewayDisconnect,
    BeforeApplicationShutdown,
    OnApplicationShutdown
{
  private readonly logger = new Logger(ChatGateway.name);
  /** This instance's connections, by user: for the heartbeat-lapse check. */
  private readonly local = new Map<string, Set<AuthedSocket>>();
  private readonly lastBeat = new WeakMap<AuthedSocket, number>();
  /** Users whose lapse was checked, with their newest heartbeat then (`checkLapsedHeartbeats`). */
  private readonly lapseChecked = new Map<string, number>();
  private readonly cancelExpiry = new WeakMap<AuthedSocket, () => void>();
  /** Disconnects whose presence change (an `offline` to announce) is still on its way. */
  private readonly leaving = new Set<Promise<void>>();
  private readonly refusedInARow = new WeakMap<AuthedSocket, number>();
  /** Per connection, per light event: its count in the current window (`LIGHT_EVENTS`). */
  private readonly lightCounts = new WeakMap<AuthedSocket, Map<string, { from: number; count: number }>>();
  private lapseTimer: NodeJS.Timeout | undefined;
  private server: ChatServer | undefined;
  /** Shutting down: client events are refused, those in flight finish and are acked. */
  private draining = false;
  private inFlight = 0;

  private readonly handlers: { [E in ClientEventName]: Handler<E> } = {
    'message:send': async (socket, payload, acked) => {
      // Overloaded: refuse before any work (the client retries with the same clientMessageId).
      this.messages.assertAcceptingSends();
      const input = await validatePayload(SendMessageEvent, payload);
      await this.meterSend(socket);
      // A connection without echo gets its message in the ack only (when it asked for an ack).
      const { message } = await this.messages.send(socket.data.user, input.conversationId, input, {
        originSocketId: acked && !socket.data.echo ? socket.id : undefined,
        socketId: socket.id,
      });
      return message;
    },
    'conversation:read': async (socket, payload) => {
      this.meterLight(socket, 'conversation:read');
      const input = await validatePayload(ReadEvent, payload);
      return this.messages.markRead(socket.data.user, input.conversationId, input.seq);
    },
    'typing:start': async (socket, payload) => {
      this.meterLight(socket, 'typing:start');
      const input = await validatePayload(TypingEvent, payload);
      await this.typing.start(socket.data.user, input.conversationId);
      return {};
    },
    'typing:stop': async (socket, payload) => {
      this.meterLight(socket, 'typing:stop');
      const input = await validatePayload(TypingEvent, payload);
      await this.typing.stop(socket.data.user, input.conversationId);
      return {};
    },
    'presence:heartbeat': async (socket, payload) => {
      this.meterLight(socket, 'presence:heartbeat');
      await validatePayload(HeartbeatEvent, payload);
      this.lastBeat.set(socket, Date.now());
      await this.presence.beat(socket.data.user.id, socket.id);
      return {};
    },
    'presence:query': async (socket, payload) => {
      const input = await validatePayload(PresenceQueryEvent, payload);
      const { limit, windowMs } = PRESENCE_QUERIES;
      const verdict = await this.limiter.hit(`presence-query:${socket.data.user.id}`, limit, windowMs);
      if (!verdict.allowed) {
        this.metrics.rateLimited.inc({ scope: 'socket' });
        throw rateLimited('Too many presence queries, slow down', verdict.retryAfterMs);
      }
      return { users: await this.presence.visibleTo(socket.data.user.id, input.userIds) };
    },
  };

  constructor(
    private readonly messages: MessageService,
    private readonly typing: TypingService,
    private readonly presence: PresenceService,
    private readonly fanout: Fanout,
    private readonly limiter: SlidingWindow,
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  afterInit(server: ChatServer): void {
    this.server = server;
    this.fanout.attach(server);
    const every = Math.max(1000, (this.config.PRESENCE_TTL_S * 1000) / 3);
    this.lapseTimer = setInterval(() => this.checkLapsedHeartbeats(), every);
    this.lapseTimer.unref();
  }

  async handleConnection(socket: AuthedSocket): Promise<void> {
    const userId = socket.data.user.id;
    this.metrics.socketConnections.inc();
    this.cancelExpiry.set(socket, scheduleExpiry(socket));
    this.lastBeat.set(socket, Date.now());
    // One listener per connection for every event (not one closure per event name: connect storms
    // and memory per socket).
    socket.onAny((event: unknown, ...args: unknown[]) => {
      if (typeof event === 'string' && Object.hasOwn(this.handlers, event)) {
        const name = event as ClientEventName;
        return this.dispatch(socket, name, this.handlers[name] as Handler<ClientEventName>, args);
      }
      const ack = args[args.length - 1];
      if (typeof ack === 'function')
        ack({
          ok: false,
          error: { code: 'VALIDATION_FAILED', message: `unknown event ${String(event).slice(0, 64)}` },
        });
    });
    await socket.join(userRoom(userId));
    const mine = this.local.get(userId) ?? new Set();
    mine.add(socket);
    this.local.set(userId, mine);
    await this.presence
      .beat(userId, socket.id)
      .catch((err: unknown) => this.warn('presence on connect', err));
  }

  async handleDisconnect(socket: AuthedSocket): Promise<void> {
    const userId = socket.data.user?.id;
    this.metrics.socketConnections.dec();
    this.cancelExpiry.get(socket)?.();
    if (!userId) return;
    const mine = this.local.get(userId);
    mine?.delete(socket);
    if (mine && !mine.size) {
      this.local.delete(userId);
      this.lapseChecked.delete(userId);
    }
    const left = this.presence
      .disconnected(userId, socket.id)
      .catch((err: unknown) => this.warn('presence on disconnect', err));
    this.leaving.add(left);
    await left;
    this.leaving.delete(left);
  }

  /** Runs one client event and answers its ack (if the client asked for one), whatever happens. */
  private dispatch(
    socket: AuthedSocket,
    event: ClientEventName,
    handler: Handler<ClientEventName>,
    args: unknown[],
  ): void {
    const ack =
      typeof args[args.length - 1] === 'function' ? (args.pop() as (r: AckResult) => void) : undefined;
    if (this.draining) {
      ack?.({
        ok: false,
        error: { code: 'SERVICE_UNAVAILABLE', message: 'Server shutting down; reconnect and retry' },
      });
      return;
    }
    const stop = this.metrics.socketEventDuration.startTimer({ event });
    this.inFlight++;
    // A span per event (when tracing is on); an optional trace carrier may follow the payload.
    const traced = startSocketEventSpan(socket, event, args[1]);
    void inContext(traced?.context, () =>
      handler(socket, args[0], ack !== undefined)
        .then(
          (data) => {
            stop({ outcome: 'ok' });
            ack?.({ ok: true, data });
            endSocketEventSpan(traced?.span, 'ok');
          },
          (err: unknown) => {
            const error = this.toAckError(err, event);
            stop({ outcome: error.code });
            this.metrics.errors.inc({ transport: 'socket', code: error.code });
            ack?.({ ok: false, error });
            endSocketEventSpan(traced?.span, error.code, error.message);
          },
        )
        .finally(() => this.inFlight--),
    );
  }

  /** Counts a light event of the connection (`LIGHT_EVENTS`); past the limit, RATE_LIMITED. */
  private meterLight(socket: AuthedSocket, event: string): void {
    const now = Date.now();
    let counts = this.lightCounts.get(socket);
    if (!counts) this.lightCounts.set(socket, (counts = new Map()));
    let window = counts.get(event);
    if (!window || now - window.from >= LIGHT_EVENTS.windowMs)
      counts.set(event, (window = { from: now, count: 0 }));
    if (++window.count <= LIGHT_EVENTS.limit) return;
    this.metrics.rateLimited.inc({ scope: 'socket' });
    throw rateLimited(`Too many ${event} events, slow down`, window.from + LIGHT_EVENTS.windowMs - now);
  }

  /**
   * The per-user sliding window on `message:send`, shared by all the user's connections and instances.
   * A connection that keeps sending far past the limit is disconnected.
   */
  private async meterSend(socket: AuthedSocket): Promise<void> {
    const { MESSAGE_RATE_LIMIT: limit, MESSAGE_RATE_WINDOW_S: windowS } = this.config;
    const verdict = await this.limiter.hit(`msg:${socket.data.user.id}`, limit, windowS * 1000);
    if (verdict.allowed) {
      this.refusedInARow.delete(socket);
      return;
    }
    this.metrics.rateLimited.inc({ scope: 'socket' });
    const refused = (this.refusedInARow.get(socket) ?? 0) + 1;
    this.refusedInARow.set(socket, refused);
    if (refused > limit) {
      socket.emit('session:end', { reason: 'rate_limited' });
      setImmediate(() => socket.disconnect(true));
    }
    throw rateLimited('Too many messages, slow down', verdict.retryAfterMs);
  }

  private toAckError(err: unknown, event: string): AckError {
    const { body } = toErrorBody(err, '');
    if (body.code === 'INTERNAL')
      this.logger.error(
        { err: err instanceof Error ? err.stack : String(err), event },
        'socket event failed',
      );
    const error: AckError & { retryAfterS?: number } = { code: body.code, message: body.message };
    if (body.details) error.details = body.details;
    if (err instanceof AppError && err.retryAfterS !== undefined) error.retryAfterS = err.retryAfterS;
    return error;
  }

  /**
   * Users none of whose connections here heartbeated within the TTL may have gone offline: each is
   * checked once per lapse (not again at every tick while their silent connections stay open; a
   * heartbeat starts a new one). What a check misses, the sweep finds.
   */
  private checkLapsedHeartbeats(): void {
    const deadline = Date.now() - this.config.PRESENCE_TTL_S * 1000;
    for (const [userId, sockets] of this.local) {
      let newest = 0;
      for (const s of sockets) newest = Math.max(newest, this.lastBeat.get(s) ?? 0);
      if (newest >= deadline || this.lapseChecked.get(userId) === newest) continue;
      // Recorded once the lapse is surely past in the shared set too (its expiry there was set a
      // moment after lastBeat): a check made in that moment is made again at the next tick.
      if (newest < deadline - LAPSE_MARGIN_MS) this.lapseChecked.set(userId, newest);
      this.presence.checkLapsed(userId).catch((err: unknown) => this.warn('presence lapse check', err));
    }
    this.presence.sweepExpired().catch((err: unknown) => this.warn('presence sweep', err));
  }

  private warn(what: string, err: unknown): void {
    this.logger.warn(
      { err: err instanceof Error ? err.message : String(err), what },
      'realtime side effect failed',
    );
  }

  /**
   * Graceful shutdown (SIGTERM): refuse new client events, let those in flight finish (their acks
   * go out), then tell every local connection why and close it, so that clients reconnect to
   * another instance and recover with `after=`. The presence changes those closes make (`offline`
   * for users who had no other connection) go out before the database and Redis close: nobody else
   * would announce them, the connections being removed.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.draining = true;
    const deadline = Date.now() + SHUTDOWN_DRAIN_MS;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const server = this.server;
    if (!server) return;
    server.local.emit('session:end', { reason: 'server_shutdown' });
    await new Promise((r) => setTimeout(r, 50));
    server.local.disconnectSockets(true);
    const left = Promise.allSettled([...this.leaving]).then(() => this.fanout.settled());
    await Promise.race([left, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
  }

  onApplicationShutdown(): void {
    clearInterval(this.lapseTimer);
  }
}
