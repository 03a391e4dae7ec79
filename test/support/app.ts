import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { io, type Socket, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import { createApp } from '../../src/app';
import type { AppModuleOptions } from '../../src/app.module';
import { signDevToken } from '../../src/auth/dev-token';
import { DEV_JWT_SECRET, loadConfig, type AppConfig } from '../../src/config/env';
import { createTestDatabase, type TestDatabase } from './db';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Captures the app's JSON log lines. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
      this.raw.push(line);
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not JSON: kept in raw only */
      }
    }
    done();
  }
}

export interface TestApp {
  app: NestExpressApplication;
  config: AppConfig;
  url: string;
  logs: LogCapture;
  close(): Promise<void>;
}

/**
 * Boots the real app (HTTP + Socket.IO) on a free port against `databaseUrl`.
 * Pass `redis: true` to share state through the machine's Redis under a key prefix of its own.
 */
export async function startApp(opts: {
  databaseUrl: string;
  env?: Record<string, string>;
  redisPrefix?: string;
  extraImports?: AppModuleOptions['extraImports'];
}): Promise<TestApp> {
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    DATABASE_URL: opts.databaseUrl,
    MIGRATIONS_RUN: 'false',
    // Most tests send far more than a user would; the rate-limit tests set their own limits.
    REST_RATE_LIMIT: '100000',
    MESSAGE_RATE_LIMIT: '100000',
    ...(opts.redisPrefix ? { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: opts.redisPrefix } : {}),
    ...opts.env,
  };
  const config = loadConfig(env);
  const logs = new LogCapture();
  const app = await createApp({
    config,
    databaseUrl: opts.databaseUrl,
    logStream: logs,
    extraImports: opts.extraImports,
  });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, config, url: `http://127.0.0.1:${port}`, logs, close: () => app.close() };
}

/** A test file's world: its own database and, optionally, a Redis key prefix. */
export async function testWorld(opts: { redis?: boolean } = {}): Promise<{
  db: TestDatabase;
  redisPrefix: string | undefined;
  start(env?: Record<string, string>, extraImports?: AppModuleOptions['extraImports']): Promise<TestApp>;
  close(): Promise<void>;
}> {
  const db = await createTestDatabase();
  const redisPrefix = opts.redis ? `t${randomBytes(4).toString('hex')}:` : undefined;
  const apps: TestApp[] = [];
  return {
    db,
    redisPrefix,
    async start(env, extraImports) {
      const app = await startApp({ databaseUrl: db.url, env, redisPrefix, extraImports });
      apps.push(app);
      return app;
    },
    async close() {
      await Promise.all(apps.map((a) => a.close().catch(() => undefined)));
      await db.drop();
    },
  };
}

export function token(
  userId: string,
  opts: { admin?: boolean; ttlS?: number; secret?: string } = {},
): Promise<string> {
  return signDevToken(userId, { secret: opts.secret ?? DEV_JWT_SECRET, admin: opts.admin, ttlS: opts.ttlS });
}

/** User ids for one test: the names given, with a tag of their own so tests never share users. */
export function users(...names: string[]): string[] {
  const tag = randomBytes(3).toString('hex');
  return names.map((n) => `${n}.${tag}`);
}

/**
 * Two fresh users (`alice.<tag>`, `bob.<tag>`) and their direct conversation, created by alice
 * through `base`'s REST API (asserting the 201).
 */
export async function directPair(base: string): Promise<{ alice: string; bob: string; conv: string }> {
  const tag = randomBytes(3).toString('hex');
  const alice = `alice.${tag}`;
  const bob = `bob.${tag}`;
  const res = await http(base, 'POST', '/conversations', {
    token: await token(alice),
    body: { type: 'direct', participantIds: [bob] },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { alice, bob, conv: res.body.id as string };
}

/** A small fetch wrapper: JSON in, `{ status, headers, body }` out. */
export async function http(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(base + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* keep text */
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Connects a Socket.IO client and waits for `connect` (or rejects with the connect_error). */
export function connectSocket(
  url: string,
  tokenValue: string | undefined,
  opts: Partial<ManagerOptions & SocketOptions> = {},
): Promise<Socket> {
  const socket = io(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth: tokenValue === undefined ? {} : { token: tokenValue },
    ...opts,
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** Emits with an ack and resolves with the ack's payload. */
export function emitAck<T = any>(
  socket: Socket,
  event: string,
  payload: unknown,
  timeoutMs = 5000,
): Promise<T> {
  return socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<T>;
}

/** Resolves with the next `event` the socket receives that matches `filter`. */
export function nextEvent<T = any>(
  socket: Socket,
  event: string,
  timeoutMs = 5000,
  filter: (p: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, on);
      reject(new Error(`timed out waiting for ${event}`));
    }, timeoutMs);
    const on = (payload: T) => {
      if (!filter(payload)) return;
      clearTimeout(timer);
      socket.off(event, on);
      resolve(payload);
    };
    socket.on(event, on);
  });
}
