import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { AppConfig } from '../config/env';

type RedisConfig = Pick<
  AppConfig,
  'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME' | 'REDIS_SENTINEL_PASSWORD' | 'REDIS_CLUSTER'
>;

/** How to reach Redis: one server (REDIS_URL), a master found through Sentinel, or a Redis Cluster. */
export type RedisConnectionPlan =
  | { mode: 'standalone'; url: string; options: RedisOptions }
  | { mode: 'sentinel'; options: RedisOptions }
  | { mode: 'cluster'; nodes: { host: string; port: number }[]; options: ClusterOptions };

const hostPort = (hp: string) => {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
};

/**
 * The ioredis options for the configured topology, on top of `base` (retries, offline queue, name).
 * REDIS_URL always gives the credentials, the database and TLS (`rediss://`). With REDIS_SENTINELS
 * its host is ignored: the master named REDIS_SENTINEL_NAME is asked of the sentinels, and found
 * again after a failover. With REDIS_CLUSTER=true its host is the seed node; the others are discovered.
 */
export function redisConnectionPlan(
  config: RedisConfig,
  base: RedisOptions,
): RedisConnectionPlan | undefined {
  if (!config.REDIS_URL) return undefined;
  const url = new URL(config.REDIS_URL);
  const tls = url.protocol === 'rediss:';
  const auth: RedisOptions = {
    ...(url.username && { username: decodeURIComponent(url.username) }),
    ...(url.password && { password: decodeURIComponent(url.password) }),
    ...(tls && { tls: {} }),
  };
  if (config.REDIS_SENTINELS.length) {
    const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
    return {
      mode: 'sentinel',
      options: {
        ...base,
        ...auth,
        db,
        sentinels: config.REDIS_SENTINELS.map(hostPort),
        name: config.REDIS_SENTINEL_NAME,
        ...(config.REDIS_SENTINEL_PASSWORD && { sentinelPassword: config.REDIS_SENTINEL_PASSWORD }),
        ...(tls && { enableTLSForSentinelMode: true }),
      },
    };
  }
  if (config.REDIS_CLUSTER) {
    const { enableOfflineQueue, enableAutoPipelining, retryStrategy, ...perNode } = base;
    return {
      mode: 'cluster',
      nodes: [{ host: url.hostname, port: Number(url.port || 6379) }],
      options: {
        redisOptions: { ...perNode, ...auth },
        ...(enableOfflineQueue !== undefined && { enableOfflineQueue }),
        ...(enableAutoPipelining !== undefined && { enableAutoPipelining }),
        ...(retryStrategy && { clusterRetryStrategy: (times: number) => retryStrategy(times) }),
      },
    };
  }
  return { mode: 'standalone', url: config.REDIS_URL, options: base };
}
