import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../config/env';
import { redisConnectionPlan } from './redis-options';

const base = { connectionName: 'chat-main', enableOfflineQueue: false, maxRetriesPerRequest: 2 };
const plan = (env: Record<string, string>) => redisConnectionPlan(loadConfig(env), base);

describe('redisConnectionPlan', () => {
  it('no REDIS_URL: no Redis at all (in-process state)', () => {
    assert.equal(plan({}), undefined);
  });

  it('REDIS_URL alone: one server, the URL as given', () => {
    assert.deepEqual(plan({ REDIS_URL: 'redis://:pw@cache:6380/2' }), {
      mode: 'standalone',
      url: 'redis://:pw@cache:6380/2',
      options: base,
    });
  });

  it('REDIS_SENTINELS: the master by name through the sentinels, credentials and db from REDIS_URL', () => {
    assert.deepEqual(
      plan({
        REDIS_URL: 'redis://app:s%40cret@ignored-host:1/3',
        REDIS_SENTINELS: 'sentinel-a:26379, sentinel-b.internal:26380,10.0.0.7:26381',
        REDIS_SENTINEL_NAME: 'chat-master',
        REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
      }),
      {
        mode: 'sentinel',
        options: {
          ...base,
          username: 'app',
          password: 's@cret',
          db: 3,
          sentinels: [
            { host: 'sentinel-a', port: 26379 },
            { host: 'sentinel-b.internal', port: 26380 },
            { host: '10.0.0.7', port: 26381 },
          ],
          name: 'chat-master',
          sentinelPassword: 'sentinel-pw',
        },
      },
    );
  });

  it('REDIS_SENTINELS with rediss:// turns TLS on for the master; the name defaults to mymaster', () => {
    const p = plan({ REDIS_URL: 'rediss://h:6379', REDIS_SENTINELS: 's1:26379' });
    assert.equal(p?.mode, 'sentinel');
    if (p?.mode !== 'sentinel') return;
    assert.deepEqual(p.options.tls, {});
    assert.equal(p.options.enableTLSForSentinelMode, true);
    assert.equal(p.options.name, 'mymaster');
    assert.equal(p.options.db, 0);
    assert.equal(p.options.sentinelPassword, undefined);
  });

  it('REDIS_CLUSTER=true: REDIS_URL is the seed node; per-node options under redisOptions', () => {
    const retryStrategy = (n: number) => n * 10;
    const p = redisConnectionPlan(
      loadConfig({ REDIS_URL: 'rediss://user:pw@node-1.cache:7000', REDIS_CLUSTER: 'true' }),
      { ...base, enableAutoPipelining: true, retryStrategy },
    );
    assert.equal(p?.mode, 'cluster');
    if (p?.mode !== 'cluster') return;
    assert.deepEqual(p.nodes, [{ host: 'node-1.cache', port: 7000 }]);
    const { clusterRetryStrategy, ...rest } = p.options;
    assert.deepEqual(rest, {
      redisOptions: {
        connectionName: 'chat-main',
        maxRetriesPerRequest: 2,
        username: 'user',
        password: 'pw',
        tls: {},
      },
      enableOfflineQueue: false,
      enableAutoPipelining: true,
    });
    assert.equal(clusterRetryStrategy?.(3, new Error('x')), 30);
    const defaultPort = redisConnectionPlan(
      loadConfig({ REDIS_URL: 'redis://seed', REDIS_CLUSTER: '1' }),
      base,
    );
    assert.deepEqual(defaultPort?.mode === 'cluster' && defaultPort.nodes, [{ host: 'seed', port: 6379 }]);
  });
});
