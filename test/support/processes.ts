// Real processes for the fault-injection tests: a redis-server of the test's own (stopped and
// restarted on the same port), and the service itself as a child process (killed or terminated).
import { tmpdir } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import Redis from 'ioredis';

const ROOT = path.resolve(__dirname, '..', '..');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A free port below the ephemeral range (Linux: 32768-60999) that freePort() and outgoing
 * connections draw from: a server that is down for a while (RedisServer between stop() and
 * restart()) does not see its port taken by another test meanwhile. (A cluster node's bus port is
 * one too: `--cluster-port`, not the default port + 10000, which can fall in the ephemeral range.)
 */
export async function freeFixedPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (await isFree(port)) return port;
  }
}

/**
 * Polls `check` every `everyMs` until it returns something truthy, and returns that; fails with
 * `what` after `timeoutMs`.
 */
export async function until<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 15_000,
  everyMs = 25,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** A redis-server on a port of its own, without persistence: `stop()` loses everything, as a crash would. */
export class RedisServer {
  private child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    private readonly extraArgs: string[],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** `args` adds to the command line (e.g. `--replicaof`, cluster mode), given the port. */
  static async start(args: (port: number) => string[] = () => []): Promise<RedisServer> {
    const port = await freeFixedPort();
    const server = new RedisServer(port, args(port));
    await server.restart();
    return server;
  }

  /** Freezes it (SIGSTOP): connections stay open and nothing is answered, as with a stalled server. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Lets a paused server go on (SIGCONT). */
  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Starts it (again) on the same port and waits until it answers (itself, not another server on that port). */
  async restart(): Promise<void> {
    if (this.child) throw new Error('redis-server is already running');
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        ...this.extraArgs,
      ],
      // Files a replica or a cluster node writes (dump.rdb, nodes.conf) go to the temp dir, not the checkout.
      { stdio: 'ignore', cwd: tmpdir() },
    );
    this.child = child;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis(this.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on('error', () => undefined);
      const pid = await probe
        .connect()
        .then(() => probe.info('server'))
        .then(
          (info) => Number(/process_id:(\d+)/.exec(info)?.[1]),
          () => undefined,
        );
      probe.disconnect();
      if (pid === child.pid) return;
      if (pid !== undefined) {
        child.kill('SIGKILL');
        this.child = undefined;
        throw new Error(`port ${this.port} is taken by another redis-server (pid ${pid})`);
      }
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        this.child = undefined;
        throw new Error(`redis-server did not start on port ${this.port}`);
      }
      await sleep(50);
    }
  }

  /** Kills it (SIGKILL: no goodbye to the clients) and waits until it is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    child.kill('SIGKILL');
    await exited(child);
  }
}

/** The service as a real process (`node src/main.ts`), as operators run it. */
export class Instance {
  private out = '';
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.exit = exited(child);
  }

  get output(): string {
    return this.out;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawns it with `env` (over a clean environment) and waits until /health/ready answers 200. */
  static async start(env: Record<string, string>, readyTimeoutMs = 60_000): Promise<Instance> {
    const port = await freePort();
    const base = { ...process.env };
    for (const key of Object.keys(base))
      if (/^(NODE_ENV|PORT|HOST|DATABASE_|REDIS_|JWT_|MIGRATIONS_RUN|LOG_LEVEL|SHUTDOWN_)/.test(key))
        delete base[key];
    const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts'], {
      cwd: ROOT,
      env: {
        ...base,
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: String(port),
        MIGRATIONS_RUN: 'false',
        LOG_LEVEL: 'warn',
        REST_RATE_LIMIT: '100000',
        MESSAGE_RATE_LIMIT: '100000',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const instance = new Instance(child, `http://127.0.0.1:${port}`);
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (!instance.running) throw new Error(`the instance exited before it was ready:\n${instance.out}`);
      const res = await fetch(`${instance.url}/health/ready`).catch(() => undefined);
      if (res?.status === 200) return instance;
      if (Date.now() > deadline) {
        instance.kill('SIGKILL');
        throw new Error(`the instance was not ready after ${readyTimeoutMs} ms:\n${instance.out}`);
      }
      await sleep(100);
    }
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }
}
