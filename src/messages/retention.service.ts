import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Clock } from '../common/clock';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { Db } from '../database/db';
import { MessageRepository } from './message.repository';

const DAY_MS = 86_400_000;
/** Expired messages stay as tombstones this long before their rows are purged. */
export const PURGE_GRACE_MS = DAY_MS;
const BATCH = 500;
const MAX_BATCHES_PER_SWEEP = 200;

/**
 * Retention (CONTRACT §3): messages older than RETENTION_DAYS are tombstoned (unread counters
 * corrected, like a delete), and purged a day later, in bounded batches. Read paths already hide
 * them from the moment they expire. Safe to run on every instance at once.
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap {
  private readonly logger = new Logger(RetentionService.name);
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly db: Db,
    private readonly messages: MessageRepository,
    private readonly clock: Clock,
    private readonly scheduler: SchedulerRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.RETENTION_SWEEP_S <= 0) return;
    const timer = setInterval(() => {
      this.running ??= this.sweep()
        .catch((err: unknown) =>
          this.logger.warn(
            { err: err instanceof Error ? err.message : String(err) },
            'retention sweep failed',
          ),
        )
        .finally(() => (this.running = undefined));
    }, this.config.RETENTION_SWEEP_S * 1000);
    timer.unref();
    this.scheduler.addInterval('retention', timer);
  }

  /** One sweep at `now`: returns how many messages were tombstoned and purged. */
  async sweep(now: Date = this.clock.now()): Promise<{ tombstoned: number; purged: number }> {
    const cutoff = new Date(now.getTime() - this.config.RETENTION_DAYS * DAY_MS);
    let tombstoned = 0;
    for (let i = 0; i < MAX_BATCHES_PER_SWEEP; i++) {
      const batch = await this.messages.expiredBatch(cutoff, BATCH);
      if (!batch.length) break;
      const byConversation = new Map<string, string[]>();
      for (const m of batch)
        byConversation.set(m.conversation_id, [...(byConversation.get(m.conversation_id) ?? []), m.id]);
      for (const [conversationId, ids] of byConversation) {
        // Same lock order as a delete: conversation, then messages, then participants.
        tombstoned += await this.db.transaction(async (tx) => {
          await this.messages.lockConversation(tx, conversationId);
          const gone = await this.messages.tombstoneMany(tx, conversationId, ids, now);
          if (gone.length)
            await this.messages.uncountDeleted(
              tx,
              conversationId,
              gone.map((g) => g.seq),
              gone.map((g) => g.sender_id),
            );
          return gone.length;
        });
      }
      if (batch.length < BATCH) break;
    }
    let purged = 0;
    const purgeBefore = new Date(now.getTime() - PURGE_GRACE_MS);
    for (let i = 0; i < MAX_BATCHES_PER_SWEEP; i++) {
      const n = await this.messages.purgeExpired(cutoff, purgeBefore, BATCH);
      purged += n;
      if (n < BATCH) break;
    }
    if (tombstoned || purged) this.logger.log({ tombstoned, purged }, 'retention sweep');
    return { tombstoned, purged };
  }
}
