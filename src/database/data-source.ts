import type { DataSourceOptions } from 'typeorm';
import type { AppConfig } from '../config/env';
import { MIGRATIONS } from './migrations';

/** TypeORM options for the primary (and read replicas, when configured). Never `synchronize`. */
export function dataSourceOptions(
  config: Pick<
    AppConfig,
    'DATABASE_REPLICA_URLS' | 'DATABASE_POOL_SIZE' | 'DATABASE_STATEMENT_TIMEOUT_MS' | 'MIGRATIONS_RUN'
  >,
  url: string,
): DataSourceOptions {
  const replicas = config.DATABASE_REPLICA_URLS;
  return {
    type: 'postgres',
    ...(replicas.length
      ? { replication: { master: { url }, slaves: replicas.map((u) => ({ url: u })) } }
      : { url }),
    poolSize: config.DATABASE_POOL_SIZE,
    connectTimeoutMS: 5000,
    synchronize: false,
    migrations: MIGRATIONS,
    migrationsRun: config.MIGRATIONS_RUN,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    logging: false,
    extra: {
      application_name: 'chat-service',
      // Set by the server on each connection: a statement running (or waiting for a lock) longer is
      // cancelled (57014), and the request answers SERVICE_UNAVAILABLE instead of hanging.
      ...(config.DATABASE_STATEMENT_TIMEOUT_MS
        ? { statement_timeout: config.DATABASE_STATEMENT_TIMEOUT_MS }
        : {}),
      // Dead connections (a peer gone without a reset) are found by TCP keepalive, not by a query hung on them.
      keepAlive: true,
      // A connection killed while checked out can emit 'error' after TypeORM has let go of it (its
      // listener removed): without a listener of its own that error would crash the process. The
      // pool and the query in flight still see the failure and drop the connection.
      onConnect: (client: { on(event: 'error', listener: (err: Error) => void): unknown }) => {
        client.on('error', () => undefined);
      },
    },
  };
}
