import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import Redis, { Cluster } from 'ioredis';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { redisConnectionPlan } from './redis-options';
import { guardSubscriptions } from './redis-subscribe';

/** How long the boot waits for Redis before it serves on in-process state (and joins Redis when it comes). */
const BOOT_WAIT_MS = 5000;

/**
 * The Redis connection, when `REDIS_URL` is set (one server, Sentinel or Cluster: see
 * redis-options.ts); `client` is undefined in single-instance mode, and the state services then
 * keep their state in process.
 */
@Injectable()
export class RedisService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  readonly client: Redis | undefined;
  /**
   * A second connection like `client` whose commands fail after REDIS_COMMAND_TIMEOUT_MS: for the
   * state a request waits on (rate-limit windows, the profile cache), so that a Redis that stalls
   * with its connections open delays requests instead of hanging them (the caller falls back to
   * process memory). Presence, typing and the ordered fan-out stay on `client`: a script that timed
   * out may still run afterwards, and their callers announce by its outcome.
   */
  readonly timed: Redis | undefined;
  private readonly extra: Redis[] = [];
  private readonly bootDeadline = Date.now() + BOOT_WAIT_MS;

  /**
   * In cluster mode every key carries the prefix as a hash tag (`{chat:}…`): the multi-key commands and
   * scripts of the state services then stay in one slot. The shared state is small; the cluster gives
   * failover, not sharding of it.
   */
  private readonly prefix: string;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.prefix = config.REDIS_CLUSTER ? `{${config.REDIS_KEY_PREFIX}}` : config.REDIS_KEY_PREFIX;
    // The main connection fails fast when Redis is away (no offline queue): callers fall back at once.
    if (config.REDIS_URL) {
      this.client = this.connect('main', false);
      this.timed = this.connect('timed', false, 2, config.REDIS_COMMAND_TIMEOUT_MS);
    }
  }

  /** True while the main connection is usable; the state services fall back to process memory otherwise. */
  readonly ready = (): boolean => this.client?.status === 'ready';

  /** The configured key prefix + key: every key this service writes is namespaced. */
  key(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  /**
   * A further connection (pub/sub needs its own). Closed with the app. A `subscriber`'s commands
   * (SUBSCRIBE) wait for Redis however long it is away, instead of failing after a few retries:
   * an instance started while Redis is down subscribes when it comes up (ioredis re-subscribes
   * after later reconnects by itself).
   */
  duplicate(name: string, opts: { subscriber?: boolean } = {}): Redis {
    const conn = this.connect(name, true, opts.subscriber ? null : 2);
    // A subscription made during the connection's handshake would be lost (redis-subscribe.ts).
    if (opts.subscriber) guardSubscriptions(conn);
    this.extra.push(conn);
    return conn;
  }

  /**
   * Holds the boot (so the instance listens only after) until every connection is ready and has
   * sent what it queued meanwhile, the subscriptions above all: without this an instance that
   * answered its first requests while its connections were still coming up sent those events to
   * its own sockets only (the state services fell back to process memory) and missed what the
   * other instances published. Gives up BOOT_WAIT_MS after this service was made (the subscriptions'
   * own wait at module init counts): Redis down at boot is served degraded.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (!this.client) return;
    const cleanups: (() => void)[] = [];
    const settled = (conn: Redis): Promise<unknown> =>
      new Promise<void>((resolve) => {
        if (conn.status === 'ready') return resolve();
        const onReady = () => resolve();
        conn.once('ready', onReady);
        cleanups.push(() => conn.off('ready', onReady));
      })
        // A round trip after the queued commands (SUBSCRIBE first) means the server has them.
        .then(() => (conn instanceof Cluster ? undefined : conn.ping()))
        .catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      Promise.all([this.client, this.timed, ...this.extra].flatMap((c) => (c ? [settled(c)] : []))).then(
        () => true,
      ),
      new Promise<boolean>(
        (resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, this.bootDeadline - Date.now()))),
      ),
    ]);
    clearTimeout(timer);
    for (const cleanup of cleanups) cleanup();
    if (!done)
      this.logger.warn(`Redis not ready after ${BOOT_WAIT_MS} ms: serving on in-process state until it is`);
  }

  async ping(timeoutMs: number): Promise<void> {
    if (!this.client) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.client.ping(),
        new Promise(
          (_, reject) => (timer = setTimeout(() => reject(new Error('ping timed out')), timeoutMs)),
        ),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private connect(
    name: string,
    enableOfflineQueue = true,
    maxRetriesPerRequest: number | null = 2,
    commandTimeout = 0,
  ): Redis {
    const plan = redisConnectionPlan(this.config, {
      connectionName: `chat-${name}`,
      enableOfflineQueue,
      maxRetriesPerRequest,
      ...(commandTimeout > 0 ? { commandTimeout } : {}),
      retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2000) + Math.floor(Math.random() * 100),
    })!;
    // A Cluster speaks the same commands (scripts, pub/sub, pipelines within a slot) as one server.
    const conn =
      plan.mode === 'cluster'
        ? (new Cluster(plan.nodes, plan.options) as unknown as Redis)
        : plan.mode === 'sentinel'
          ? new Redis(plan.options)
          : new Redis(plan.url, plan.options);
    let reported = false;
    conn.on('error', (err: Error) => {
      if (!reported) this.logger.warn(`redis (${name}): ${err.message}`);
      reported = true;
    });
    conn.on('ready', () => (reported = false));
    return conn;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(
      [this.client, this.timed, ...this.extra].map((c) => c?.quit().catch(() => c.disconnect())),
    );
  }
}
