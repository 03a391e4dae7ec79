import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const BENCH_JWT_SECRET = 'bench-secret-0123456789abcdef0123456789';

const ROOT = path.join(__dirname, '..', '..');

export interface ServiceInstance {
  pid: number;
  url: string;
  child: ChildProcess;
}

export interface Service {
  instances: ServiceInstance[];
  urls: string[];
  pids: number[];
  /** SIGTERM (graceful shutdown), then SIGKILL after 15 s. */
  stop(): Promise<void>;
}

/**
 * Starts the service as separate processes, as in production (compiled from the sources by swc
 * at start, so what is measured is the code as it is). Production mode, logs at warn, the rate limits
 * raised (a load generator is one client sending for thousands of users). With several instances,
 * pass a Redis URL: they share it, as they would behind a load balancer.
 */
export async function startService(opts: {
  databaseUrl: string;
  redisUrl?: string;
  instances?: number;
  basePort: number;
  env?: Record<string, string>;
  log: (message: string) => void;
}): Promise<Service> {
  // The sources as they are (a stale dist/ would measure old code); swc compiles them at start.
  // BENCH_CPU_PROF=<dir>: a V8 CPU profile of each instance, written when it stops (bench/profile-summary.ts).
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`]
    : [];
  const args = [...profile, '-r', '@swc-node/register', path.join(ROOT, 'src', 'main.ts')];
  const instances: ServiceInstance[] = [];
  const count = opts.instances ?? 1;
  for (let i = 0; i < count; i++) {
    const port = opts.basePort + i;
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...process.env,
        NODE_ENV: 'production',
        JWT_SECRET: BENCH_JWT_SECRET,
        DATABASE_URL: opts.databaseUrl,
        ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : { REDIS_URL: '' }),
        PORT: String(port),
        LOG_LEVEL: 'warn',
        MESSAGE_RATE_LIMIT: '1000000',
        REST_RATE_LIMIT: '1000000',
        // The first instance migrates (the database is a migrated clone anyway).
        MIGRATIONS_RUN: i === 0 ? 'true' : 'false',
        ...opts.env,
      },
    });
    instances.push({ pid: child.pid!, url: `http://127.0.0.1:${port}`, child });
  }
  const stop = async () => {
    await Promise.all(
      instances.map(
        ({ child }) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
            child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  };
  try {
    for (const instance of instances) await waitReady(instance);
  } catch (err) {
    await stop();
    throw err;
  }
  opts.log(`service: ${count} instance(s) ready at ${instances.map((i) => i.url).join(', ')}`);
  return { instances, urls: instances.map((i) => i.url), pids: instances.map((i) => i.pid), stop };
}

async function waitReady(instance: ServiceInstance): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (instance.child.exitCode !== null) throw new Error(`service on ${instance.url} exited early`);
    try {
      const res = await fetch(`${instance.url}/health/ready`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`service on ${instance.url} not ready within 60 s`);
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Resident set size of a process in MB, from /proc. */
export function rssMB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return Math.round(kb / 1024);
  } catch {
    return NaN;
  }
}
