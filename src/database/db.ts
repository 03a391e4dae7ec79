import { Injectable } from '@nestjs/common';
import { DataSource, type QueryRunner } from 'typeorm';

/** What repositories run SQL through: a transaction or the pool. Always resolves to the result rows. */
export interface Queryable {
  query<T = any>(sql: string, params?: unknown[]): Promise<T[]>;
}

/** TypeORM answers UPDATE/DELETE with [rows, count] unless asked for a structured result: always ask. */
const rowsOf = (runner: QueryRunner): Queryable => ({
  query: async (sql, params = []) => (await runner.query(sql, params, true)).records,
});

/**
 * The thin seam between repositories and TypeORM: plain parameterised SQL on the primary,
 * reads that may go to a replica, and transactions.
 */
@Injectable()
export class Db implements Queryable {
  private readonly replicated: boolean;

  constructor(readonly dataSource: DataSource) {
    this.replicated = Boolean((dataSource.options as { replication?: unknown }).replication);
  }

  query<T = any>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.run('master', sql, params);
  }

  /**
   * A read-path query (the chat list, history pages, presence contacts): served by a read replica
   * when there are any, so it may lag the primary by the replication delay. `fresh`: a read that
   * must see every committed write (the caller's own, or one an event just announced) goes to the
   * primary whatever the replicas.
   */
  read<T = any>(sql: string, params: unknown[] = [], fresh = false): Promise<T[]> {
    return this.run(this.replicated && !fresh ? 'slave' : 'master', sql, params);
  }

  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.dataSource.transaction((manager) => work(rowsOf(manager.queryRunner!)));
  }

  /** Pool statistics for /metrics (the primary's pool). */
  poolStats(): { total: number; idle: number; waiting: number } {
    const driver = this.dataSource.driver as unknown as {
      master?: { totalCount: number; idleCount: number; waitingCount: number };
    };
    const pool = driver.master;
    return { total: pool?.totalCount ?? 0, idle: pool?.idleCount ?? 0, waiting: pool?.waitingCount ?? 0 };
  }

  private async run<T>(mode: 'master' | 'slave', sql: string, params: unknown[]): Promise<T[]> {
    const runner = this.dataSource.createQueryRunner(mode);
    try {
      return (await runner.query(sql, params, true)).records as T[];
    } finally {
      await runner.release();
    }
  }
}
