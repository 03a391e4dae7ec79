import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError, DEV_JWT_SECRET, loadConfig } from './env';

const PUBLIC_KEY_PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();
const PROD_SECRET = 'x'.repeat(40);
const PROD_DB = 'postgres://chat:pw@db.internal:5432/chat';

/** Runs loadConfig and returns the ConfigError it must throw. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail(`loadConfig accepted ${JSON.stringify(env)}`);
}

function assertRefused(env: Record<string, string>, variable: string): ConfigError {
  const err = configError(env);
  assert.ok(
    err.problems.some((p) => p.variable === variable),
    `expected a problem naming ${variable}, got ${JSON.stringify(err.problems)}`,
  );
  assert.match(err.message, new RegExp(`\\b${variable}\\b`));
  return err;
}

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const c = loadConfig({});
    assert.equal(c.NODE_ENV, 'development');
    assert.equal(c.PORT, 3000);
    assert.equal(c.HOST, '0.0.0.0');
    assert.equal(c.DATABASE_URL, undefined);
    assert.deepEqual(c.DATABASE_REPLICA_URLS, []);
    assert.equal(c.DATABASE_POOL_SIZE, 10);
    assert.equal(c.DATABASE_STATEMENT_TIMEOUT_MS, 30_000);
    assert.equal(c.SEND_LANES, 3);
    assert.equal(c.SOCKET_ECHO, true);
    assert.equal(c.SEND_QUEUE_MAX, 5000);
    assert.equal(c.SEND_QUEUE_WAIT_MS, 3000);
    assert.equal(c.MIGRATIONS_RUN, true);
    assert.equal(c.DATA_DIR, '.data');
    assert.equal(c.EMBEDDED_PG_PORT, 54329);
    assert.equal(c.REDIS_URL, undefined);
    assert.equal(c.REDIS_KEY_PREFIX, 'chat:');
    assert.deepEqual(c.REDIS_SENTINELS, []);
    assert.equal(c.REDIS_SENTINEL_NAME, 'mymaster');
    assert.equal(c.REDIS_SENTINEL_PASSWORD, undefined);
    assert.equal(c.REDIS_CLUSTER, false);
    assert.equal(c.REDIS_COMMAND_TIMEOUT_MS, 1000);
    assert.equal(c.JWT_SECRET, undefined);
    assert.equal(c.JWT_PUBLIC_KEY, undefined);
    assert.equal(c.JWT_ISSUER, undefined);
    assert.equal(c.JWT_AUDIENCE, undefined);
    assert.equal(c.MESSAGE_RATE_LIMIT, 20);
    assert.equal(c.MESSAGE_RATE_WINDOW_S, 10);
    assert.equal(c.REST_RATE_LIMIT, 100);
    assert.equal(c.REST_RATE_WINDOW_S, 10);
    assert.equal(c.RETENTION_DAYS, 90);
    assert.equal(c.RETENTION_SWEEP_S, 3600);
    assert.equal(c.AGENT_GRACE_S, 120);
    assert.equal(c.ROUTING_SWEEP_S, 15);
    assert.equal(c.PRESENCE_TTL_S, 30);
    assert.equal(c.TYPING_TTL_S, 5);
    assert.equal(c.PROFILE_SERVICE_URL, undefined);
    assert.equal(c.PROFILE_CACHE_TTL_S, 300);
    assert.equal(c.PROFILE_TIMEOUT_MS, 1000);
    assert.equal(c.BODY_LIMIT_BYTES, 64 * 1024);
    assert.deepEqual(c.CORS_ORIGINS, []);
    assert.equal(c.SHUTDOWN_TIMEOUT_MS, 15_000);
    assert.equal(c.LOG_LEVEL, 'info');
    assert.equal(c.isProduction, false);
    assert.equal(c.jwtSecret, DEV_JWT_SECRET, 'outside production the dev secret is in force');
  });

  it('parses every variable into its type', () => {
    const env = {
      NODE_ENV: 'test',
      PORT: '8080',
      HOST: '127.0.0.1',
      DATABASE_URL: 'postgresql://u:p@h:5433/db',
      DATABASE_REPLICA_URLS: ' postgres://r1/db , postgresql://r2/db ,',
      DATABASE_POOL_SIZE: '25',
      DATABASE_STATEMENT_TIMEOUT_MS: '5000',
      SEND_LANES: '4',
      SOCKET_ECHO: 'false',
      SEND_QUEUE_MAX: '100',
      SEND_QUEUE_WAIT_MS: '500',
      MIGRATIONS_RUN: 'false',
      DATA_DIR: '/var/lib/chat',
      EMBEDDED_PG_PORT: '55432',
      REDIS_URL: 'rediss://cache:6380/2',
      REDIS_KEY_PREFIX: 'svc.a:',
      REDIS_SENTINELS: 'sentinel-1:26379, sentinel-2.internal:26380',
      REDIS_SENTINEL_NAME: 'chat-master',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      REDIS_CLUSTER: 'false',
      REDIS_COMMAND_TIMEOUT_MS: '250',
      JWT_SECRET: 'some-secret',
      JWT_PUBLIC_KEY: PUBLIC_KEY_PEM,
      JWT_ISSUER: 'https://id.example.com',
      JWT_AUDIENCE: 'chat',
      MESSAGE_RATE_LIMIT: '5',
      MESSAGE_RATE_WINDOW_S: '60',
      REST_RATE_LIMIT: '1000',
      REST_RATE_WINDOW_S: '30',
      RETENTION_DAYS: '7',
      RETENTION_SWEEP_S: '0',
      AGENT_GRACE_S: '0',
      ROUTING_SWEEP_S: '60',
      PRESENCE_TTL_S: '45',
      TYPING_TTL_S: '3',
      PROFILE_SERVICE_URL: 'https://profiles.internal',
      PROFILE_CACHE_TTL_S: '0',
      PROFILE_TIMEOUT_MS: '250',
      BODY_LIMIT_BYTES: '2048',
      CORS_ORIGINS: 'https://a.example, https://b.example',
      SHUTDOWN_TIMEOUT_MS: '5000',
      LOG_LEVEL: 'debug',
    };
    const c = loadConfig(env);
    assert.deepEqual(
      Object.keys(c)
        .filter((k) => k !== 'jwtSecret' && k !== 'isProduction')
        .sort(),
      Object.keys(env).sort(),
      'a variable of the schema is not covered: add it to this test (a value and its parsed form)',
    );
    assert.deepEqual(
      {
        NODE_ENV: c.NODE_ENV,
        PORT: c.PORT,
        HOST: c.HOST,
        DATABASE_URL: c.DATABASE_URL,
        DATABASE_REPLICA_URLS: c.DATABASE_REPLICA_URLS,
        DATABASE_POOL_SIZE: c.DATABASE_POOL_SIZE,
        DATABASE_STATEMENT_TIMEOUT_MS: c.DATABASE_STATEMENT_TIMEOUT_MS,
        SEND_LANES: c.SEND_LANES,
        SOCKET_ECHO: c.SOCKET_ECHO,
        SEND_QUEUE_MAX: c.SEND_QUEUE_MAX,
        SEND_QUEUE_WAIT_MS: c.SEND_QUEUE_WAIT_MS,
        MIGRATIONS_RUN: c.MIGRATIONS_RUN,
        DATA_DIR: c.DATA_DIR,
        EMBEDDED_PG_PORT: c.EMBEDDED_PG_PORT,
        REDIS_URL: c.REDIS_URL,
        REDIS_KEY_PREFIX: c.REDIS_KEY_PREFIX,
        REDIS_SENTINELS: c.REDIS_SENTINELS,
        REDIS_SENTINEL_NAME: c.REDIS_SENTINEL_NAME,
        REDIS_SENTINEL_PASSWORD: c.REDIS_SENTINEL_PASSWORD,
        REDIS_CLUSTER: c.REDIS_CLUSTER,
        REDIS_COMMAND_TIMEOUT_MS: c.REDIS_COMMAND_TIMEOUT_MS,
        JWT_SECRET: c.JWT_SECRET,
        JWT_PUBLIC_KEY: c.JWT_PUBLIC_KEY,
        JWT_ISSUER: c.JWT_ISSUER,
        JWT_AUDIENCE: c.JWT_AUDIENCE,
        MESSAGE_RATE_LIMIT: c.MESSAGE_RATE_LIMIT,
        MESSAGE_RATE_WINDOW_S: c.MESSAGE_RATE_WINDOW_S,
        REST_RATE_LIMIT: c.REST_RATE_LIMIT,
        REST_RATE_WINDOW_S: c.REST_RATE_WINDOW_S,
        RETENTION_DAYS: c.RETENTION_DAYS,
        RETENTION_SWEEP_S: c.RETENTION_SWEEP_S,
        AGENT_GRACE_S: c.AGENT_GRACE_S,
        ROUTING_SWEEP_S: c.ROUTING_SWEEP_S,
        PRESENCE_TTL_S: c.PRESENCE_TTL_S,
        TYPING_TTL_S: c.TYPING_TTL_S,
        PROFILE_SERVICE_URL: c.PROFILE_SERVICE_URL,
        PROFILE_CACHE_TTL_S: c.PROFILE_CACHE_TTL_S,
        PROFILE_TIMEOUT_MS: c.PROFILE_TIMEOUT_MS,
        BODY_LIMIT_BYTES: c.BODY_LIMIT_BYTES,
        CORS_ORIGINS: c.CORS_ORIGINS,
        SHUTDOWN_TIMEOUT_MS: c.SHUTDOWN_TIMEOUT_MS,
        LOG_LEVEL: c.LOG_LEVEL,
      },
      {
        NODE_ENV: 'test',
        PORT: 8080,
        HOST: '127.0.0.1',
        DATABASE_URL: 'postgresql://u:p@h:5433/db',
        DATABASE_REPLICA_URLS: ['postgres://r1/db', 'postgresql://r2/db'],
        DATABASE_POOL_SIZE: 25,
        DATABASE_STATEMENT_TIMEOUT_MS: 5000,
        SEND_LANES: 4,
        SOCKET_ECHO: false,
        SEND_QUEUE_MAX: 100,
        SEND_QUEUE_WAIT_MS: 500,
        MIGRATIONS_RUN: false,
        DATA_DIR: '/var/lib/chat',
        EMBEDDED_PG_PORT: 55432,
        REDIS_URL: 'rediss://cache:6380/2',
        REDIS_KEY_PREFIX: 'svc.a:',
        REDIS_SENTINELS: ['sentinel-1:26379', 'sentinel-2.internal:26380'],
        REDIS_SENTINEL_NAME: 'chat-master',
        REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
        REDIS_CLUSTER: false,
        REDIS_COMMAND_TIMEOUT_MS: 250,
        JWT_SECRET: 'some-secret',
        JWT_PUBLIC_KEY: PUBLIC_KEY_PEM,
        JWT_ISSUER: 'https://id.example.com',
        JWT_AUDIENCE: 'chat',
        MESSAGE_RATE_LIMIT: 5,
        MESSAGE_RATE_WINDOW_S: 60,
        REST_RATE_LIMIT: 1000,
        REST_RATE_WINDOW_S: 30,
        RETENTION_DAYS: 7,
        RETENTION_SWEEP_S: 0,
        AGENT_GRACE_S: 0,
        ROUTING_SWEEP_S: 60,
        PRESENCE_TTL_S: 45,
        TYPING_TTL_S: 3,
        PROFILE_SERVICE_URL: 'https://profiles.internal',
        PROFILE_CACHE_TTL_S: 0,
        PROFILE_TIMEOUT_MS: 250,
        BODY_LIMIT_BYTES: 2048,
        CORS_ORIGINS: ['https://a.example', 'https://b.example'],
        SHUTDOWN_TIMEOUT_MS: 5000,
        LOG_LEVEL: 'debug',
      },
    );
    assert.equal(c.jwtSecret, 'some-secret');
  });

  it('accepts the boolean spellings 1/0/true/false for MIGRATIONS_RUN', () => {
    assert.equal(loadConfig({ MIGRATIONS_RUN: '1' }).MIGRATIONS_RUN, true);
    assert.equal(loadConfig({ MIGRATIONS_RUN: '0' }).MIGRATIONS_RUN, false);
    assert.equal(loadConfig({ MIGRATIONS_RUN: 'true' }).MIGRATIONS_RUN, true);
  });

  it('treats blank optional strings as unset', () => {
    const c = loadConfig({ DATABASE_URL: '', REDIS_URL: '  ', JWT_SECRET: '', CORS_ORIGINS: '' });
    assert.equal(c.DATABASE_URL, undefined);
    assert.equal(c.REDIS_URL, undefined);
    assert.equal(c.JWT_SECRET, undefined);
    assert.equal(c.jwtSecret, DEV_JWT_SECRET);
    assert.deepEqual(c.CORS_ORIGINS, []);
  });

  it('treats a blank numeric variable as unset (its default), never as 0', () => {
    // `PORT=` in a shell or a compose file must not silently mean "any free port".
    assert.equal(loadConfig({ PORT: '' }).PORT, 3000);
    assert.equal(loadConfig({ AGENT_GRACE_S: ' ' }).AGENT_GRACE_S, 120);
    assert.equal(loadConfig({ PROFILE_CACHE_TTL_S: '' }).PROFILE_CACHE_TTL_S, 300);
  });

  const bad: [variable: string, value: string][] = [
    ['NODE_ENV', 'staging'],
    ['PORT', 'notaport'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['DATABASE_URL', 'mysql://u@h/db'],
    ['DATABASE_URL', 'not a url'],
    ['DATABASE_REPLICA_URLS', 'postgres://ok/db,redis://nope'],
    ['DATABASE_POOL_SIZE', '0'],
    ['SEND_LANES', '0'],
    ['SOCKET_ECHO', 'maybe'],
    ['SEND_QUEUE_MAX', '0'],
    ['SEND_QUEUE_WAIT_MS', 'soon'],
    ['DATABASE_POOL_SIZE', 'ten'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '-1'],
    ['MIGRATIONS_RUN', 'yes'],
    ['EMBEDDED_PG_PORT', '0'],
    ['REDIS_URL', 'http://cache:6379'],
    ['REDIS_KEY_PREFIX', 'has space'],
    ['REDIS_SENTINELS', 'sentinel-without-port'],
    ['REDIS_SENTINELS', 'a:26379,b:99999'],
    ['REDIS_CLUSTER', 'yes'],
    ['REDIS_COMMAND_TIMEOUT_MS', '-1'],
    ['JWT_PUBLIC_KEY', 'not-a-pem'],
    ['MESSAGE_RATE_LIMIT', '0'],
    ['MESSAGE_RATE_WINDOW_S', 'abc'],
    ['REST_RATE_LIMIT', '-5'],
    ['REST_RATE_WINDOW_S', '0'],
    ['RETENTION_DAYS', '0'],
    ['RETENTION_SWEEP_S', '-1'],
    ['AGENT_GRACE_S', '-1'],
    ['ROUTING_SWEEP_S', '3601'],
    ['PRESENCE_TTL_S', '0'],
    ['TYPING_TTL_S', 'x'],
    ['PROFILE_SERVICE_URL', 'ftp://profiles'],
    ['PROFILE_CACHE_TTL_S', '-1'],
    ['PROFILE_TIMEOUT_MS', '0'],
    ['BODY_LIMIT_BYTES', '100'],
    ['BODY_LIMIT_BYTES', String(100 * 1024 * 1024)],
    ['SHUTDOWN_TIMEOUT_MS', '500'],
    ['SHUTDOWN_TIMEOUT_MS', 'forever'],
    ['LOG_LEVEL', 'verbose'],
  ];
  for (const [variable, value] of bad) {
    it(`refuses ${variable}=${JSON.stringify(value)} with a ConfigError naming ${variable}`, () => {
      const err = assertRefused({ [variable]: value }, variable);
      assert.deepEqual(
        err.problems.map((p) => p.variable),
        [variable],
        'only the bad variable is reported',
      );
    });
  }

  it('REDIS_SENTINELS and REDIS_CLUSTER need REDIS_URL, and exclude each other', () => {
    assertRefused({ REDIS_SENTINELS: 's1:26379' }, 'REDIS_SENTINELS');
    assertRefused({ REDIS_CLUSTER: 'true' }, 'REDIS_CLUSTER');
    assertRefused(
      { REDIS_URL: 'redis://h', REDIS_SENTINELS: 's1:26379', REDIS_CLUSTER: 'true' },
      'REDIS_CLUSTER',
    );
    assert.equal(loadConfig({ REDIS_URL: 'redis://h', REDIS_CLUSTER: 'true' }).REDIS_CLUSTER, true);
  });

  it('reports every bad variable at once', () => {
    const err = configError({ PORT: 'x', LOG_LEVEL: 'loud', REDIS_URL: 'nope' });
    assert.deepEqual(err.problems.map((p) => p.variable).sort(), ['LOG_LEVEL', 'PORT', 'REDIS_URL']);
  });

  describe('production', () => {
    it('starts with an explicit strong secret and a database URL', () => {
      const c = loadConfig({ NODE_ENV: 'production', JWT_SECRET: PROD_SECRET, DATABASE_URL: PROD_DB });
      assert.equal(c.isProduction, true);
      assert.equal(c.jwtSecret, PROD_SECRET);
    });

    it('refuses the development secret', () => {
      const err = assertRefused(
        { NODE_ENV: 'production', JWT_SECRET: DEV_JWT_SECRET, DATABASE_URL: PROD_DB },
        'JWT_SECRET',
      );
      assert.match(err.message, /development secret/);
    });

    it('refuses a missing secret (no dev fallback)', () => {
      assertRefused({ NODE_ENV: 'production', DATABASE_URL: PROD_DB }, 'JWT_SECRET');
      assertRefused({ NODE_ENV: 'production', JWT_SECRET: '  ', DATABASE_URL: PROD_DB }, 'JWT_SECRET');
    });

    it('refuses a short secret', () => {
      assertRefused({ NODE_ENV: 'production', JWT_SECRET: 'short', DATABASE_URL: PROD_DB }, 'JWT_SECRET');
    });

    it('refuses a missing DATABASE_URL (no embedded database in production)', () => {
      const err = assertRefused({ NODE_ENV: 'production', JWT_SECRET: PROD_SECRET }, 'DATABASE_URL');
      assert.deepEqual(
        err.problems.map((p) => p.variable),
        ['DATABASE_URL'],
      );
    });

    it('accepts a public key alone, and then no HS256 secret is in force', () => {
      const c = loadConfig({ NODE_ENV: 'production', JWT_PUBLIC_KEY: PUBLIC_KEY_PEM, DATABASE_URL: PROD_DB });
      assert.equal(c.jwtSecret, undefined);
    });
  });

  it('with only a public key configured (outside production too) HS256 is disabled', () => {
    for (const NODE_ENV of ['development', 'test']) {
      const c = loadConfig({ NODE_ENV, JWT_PUBLIC_KEY: PUBLIC_KEY_PEM });
      assert.equal(c.jwtSecret, undefined, `${NODE_ENV}: the dev secret must not be a silent fallback`);
      assert.equal(c.JWT_PUBLIC_KEY, PUBLIC_KEY_PEM);
    }
  });

  it('with both a secret and a public key configured, both are in force', () => {
    const c = loadConfig({ JWT_SECRET: 'shared', JWT_PUBLIC_KEY: PUBLIC_KEY_PEM });
    assert.equal(c.jwtSecret, 'shared');
    assert.equal(c.JWT_PUBLIC_KEY, PUBLIC_KEY_PEM);
  });
});
