import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

/** What repositories run SQL through: a transaction's manager or the pool itself. */
export type Queryable = Pick<EntityManager, 'query'>;

/**
 * The thin seam between repositories and TypeORM: plain parameterised SQL on the primary,
 * reads that may go to a replica, and transactions.
 */
@Injectable()
export class Db {
  constructor(readonly dataSource: DataSource) {}

  query<T = unknown>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.dataSource.query(sql, params);
  }

  /** A read-path query (history, chat list): served by a read replica when there are any. */
  async read<T = unknown>(sql: string, params: unknown[] = []): Promise<T[]> {
    if (!(this.dataSource.options as { replication?: unknown }).replication)
      return this.dataSource.query(sql, params);
    const runner = this.dataSource.createQueryRunner('slave');
    try {
      return await runner.query(sql, params);
    } finally {
      await runner.release();
    }
  }

  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.dataSource.transaction((manager) => work(manager));
  }

  /** Pool statistics for /metrics (the primary's pool). */
  poolStats(): { total: number; idle: number; waiting: number } {
    const driver = this.dataSource.driver as unknown as {
      master?: { totalCount: number; idleCount: number; waitingCount: number };
    };
    const pool = driver.master;
    return { total: pool?.totalCount ?? 0, idle: pool?.idleCount ?? 0, waiting: pool?.waitingCount ?? 0 };
  }
}
