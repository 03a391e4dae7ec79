import { z } from 'zod';

/** The secret `npm start` signs and verifies dev tokens with; refused in production. */
export const DEV_JWT_SECRET = 'dev-secret-change-me';

/** A blank value counts as unset (its default applies), like the optional strings; never as 0. */
const blankAsUnset = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const int = (min: number, max: number, fallback: number) =>
  z.preprocess(blankAsUnset, z.coerce.number().int().min(min).max(max).default(fallback));
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));
const url = (protocols: string[]) =>
  optionalString.refine(
    (v) => v === undefined || (URL.canParse(v) && protocols.includes(new URL(v).protocol)),
    `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
  );
const csv = optionalString.transform((v) =>
  v === undefined
    ? []
    : v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
);

/**
 * Every environment variable the service reads, typed and defaulted (CONTRACT §8).
 * The README's configuration table is the human-readable copy of this schema.
 */
const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(0, 65535, 3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: url(['postgres:', 'postgresql:']),
  DATABASE_REPLICA_URLS: csv.refine(
    (list) => list.every((u) => URL.canParse(u) && /^postgres(ql)?:$/.test(new URL(u).protocol)),
    'must be a comma-separated list of postgres:// URLs',
  ),
  DATABASE_POOL_SIZE: int(1, 500, 10),
  DATABASE_STATEMENT_TIMEOUT_MS: int(0, 3_600_000, 30_000),
  SEND_LANES: int(1, 250, 3),
  SEND_QUEUE_MAX: int(1, 1_000_000, 5000),
  SEND_QUEUE_WAIT_MS: int(10, 600_000, 3000),
  MIGRATIONS_RUN: bool.default(true),
  DATA_DIR: z.string().min(1).default('.data'),
  EMBEDDED_PG_PORT: int(1, 65535, 54329),
  REDIS_URL: url(['redis:', 'rediss:']),
  REDIS_SENTINELS: csv.refine(
    (list) => list.every((hp) => /^[A-Za-z0-9.-]+:\d{1,5}$/.test(hp) && Number(hp.split(':')[1]) <= 65535),
    'must be a comma-separated list of host:port',
  ),
  REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
  REDIS_SENTINEL_PASSWORD: optionalString,
  REDIS_CLUSTER: bool.default(false),
  REDIS_COMMAND_TIMEOUT_MS: int(0, 60_000, 1000),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,64}$/)
    .default('chat:'),
  JWT_SECRET: optionalString,
  JWT_PUBLIC_KEY: optionalString.refine(
    (v) => v === undefined || v.includes('-----BEGIN PUBLIC KEY-----'),
    'must be a PEM public key (-----BEGIN PUBLIC KEY-----)',
  ),
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  MESSAGE_RATE_LIMIT: int(1, 1_000_000, 20),
  MESSAGE_RATE_WINDOW_S: int(1, 86_400, 10),
  REST_RATE_LIMIT: int(1, 1_000_000, 100),
  REST_RATE_WINDOW_S: int(1, 86_400, 10),
  RETENTION_DAYS: int(1, 36_500, 90),
  RETENTION_SWEEP_S: int(0, 86_400, 3600),
  AGENT_GRACE_S: int(0, 86_400, 120),
  ROUTING_SWEEP_S: int(0, 3600, 15),
  PRESENCE_TTL_S: int(1, 3600, 30),
  TYPING_TTL_S: int(1, 600, 5),
  SOCKET_ECHO: bool.default(true),
  PROFILE_SERVICE_URL: url(['http:', 'https:']),
  PROFILE_CACHE_TTL_S: int(0, 86_400, 300),
  PROFILE_TIMEOUT_MS: int(1, 60_000, 1000),
  BODY_LIMIT_BYTES: int(1024, 10 * 1024 * 1024, 64 * 1024),
  CORS_ORIGINS: csv,
  SHUTDOWN_TIMEOUT_MS: int(1000, 600_000, 15_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Env = z.infer<typeof schema>;

export interface AppConfig extends Env {
  /** The HS256 secret actually in force (the dev default outside production, unless a public key is set). */
  jwtSecret: string | undefined;
  isProduction: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super('Invalid configuration:\n' + problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Parses and validates the environment; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? '(environment)'),
        message: issue.message,
      })),
    );
  }
  const e = parsed.data;
  const isProduction = e.NODE_ENV === 'production';
  const problems: { variable: string; message: string }[] = [];
  if (isProduction) {
    if (!e.JWT_SECRET && !e.JWT_PUBLIC_KEY)
      problems.push({ variable: 'JWT_SECRET', message: 'production requires JWT_SECRET or JWT_PUBLIC_KEY' });
    if (e.JWT_SECRET === DEV_JWT_SECRET)
      problems.push({ variable: 'JWT_SECRET', message: 'production refuses the development secret' });
    if (e.JWT_SECRET !== undefined && e.JWT_SECRET.length < 32)
      problems.push({ variable: 'JWT_SECRET', message: 'production requires at least 32 characters' });
    if (!e.DATABASE_URL)
      problems.push({
        variable: 'DATABASE_URL',
        message: 'production requires a database URL (no embedded database)',
      });
  }
  if ((e.REDIS_SENTINELS.length || e.REDIS_CLUSTER) && !e.REDIS_URL)
    problems.push({
      variable: e.REDIS_SENTINELS.length ? 'REDIS_SENTINELS' : 'REDIS_CLUSTER',
      message: 'requires REDIS_URL (credentials, database and TLS; the seed node in cluster mode)',
    });
  if (e.REDIS_SENTINELS.length && e.REDIS_CLUSTER)
    problems.push({ variable: 'REDIS_CLUSTER', message: 'cannot be combined with REDIS_SENTINELS' });
  if (problems.length) throw new ConfigError(problems);
  // With only a public key configured, HS256 is not accepted at all: no silent dev-secret fallback.
  const jwtSecret = e.JWT_SECRET ?? (e.JWT_PUBLIC_KEY || isProduction ? undefined : DEV_JWT_SECRET);
  return { ...e, jwtSecret, isProduction };
}
