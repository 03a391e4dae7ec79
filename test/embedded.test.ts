import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Client } from 'pg';

const ROOT = path.resolve(__dirname, '..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A free port in 55000-59000 (embedded PostgreSQL's). */
async function freeHighPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 55000 + Math.floor(Math.random() * 4000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port in 55000-59000');
}

/** True while something accepts TCP connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** PIDs of the processes whose command line mentions `needle` (e.g. the data directory). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(needle)) pids.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Service {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

describe('zero-setup start (embedded PostgreSQL, in-process state)', () => {
  const dataDir = mkdtempSync('/tmp/chat-embedded-');
  chmodSync(dataDir, 0o755); // embedded PostgreSQL runs as the `postgres` user when we are root
  const started: Service[] = [];
  let pgPort = 0;
  let httpPort = 0;

  function start(): Service {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const key of Object.keys(env)) if (/^(DATABASE_|REDIS_|JWT_|PORT$|HOST$)/.test(key)) delete env[key];
    Object.assign(env, {
      NODE_ENV: 'development',
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(pgPort),
      PORT: String(httpPort),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    });
    const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so that `after` can kill whatever it left behind
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const service = { child, output: () => out, exited };
    started.push(service);
    return service;
  }

  async function waitReady(service: Service, timeoutMs: number): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (service.child.exitCode !== null || service.child.signalCode !== null)
        assert.fail(`the service exited before being ready:\n${service.output()}`);
      const res = await fetch(`http://127.0.0.1:${httpPort}/health/ready`).catch(() => undefined);
      if (res?.status === 200) return res.json();
      last = res ? `${res.status} ${await res.text()}` : 'no answer';
      await sleep(250);
    }
    assert.fail(`not ready after ${timeoutMs} ms (${last}):\n${service.output()}`);
  }

  async function stop(service: Service): Promise<void> {
    service.child.kill('SIGTERM');
    const result = await Promise.race([service.exited, sleep(15_000).then(() => 'timeout' as const)]);
    assert.notEqual(
      result,
      'timeout',
      `the service did not exit within 15 s of SIGTERM:\n${service.output()}`,
    );
    // Its embedded PostgreSQL must be gone with it: port closed, no process left on the data directory.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && ((await listening(pgPort)) || processesMentioning(dataDir).length))
      await sleep(100);
    assert.equal(
      await listening(pgPort),
      false,
      'embedded PostgreSQL still listens after the service exited',
    );
    assert.deepEqual(processesMentioning(dataDir), [], 'processes left running on the data directory');
    // A clean shutdown (not a kill) removes the postmaster's pid file.
    assert.equal(
      existsSync(path.join(dataDir, 'pg', 'postmaster.pid')),
      false,
      'PostgreSQL was not shut down cleanly',
    );
  }

  after(() => {
    for (const s of started) {
      try {
        process.kill(-s.child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    for (const pid of processesMentioning(dataDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts with DATABASE_URL and REDIS_URL unset, keeps its data across a restart, and stops its PostgreSQL', async () => {
    pgPort = await freeHighPort();
    httpPort = await freePort();
    const pgUrl = `postgres://postgres:postgres@127.0.0.1:${pgPort}/chat`;

    const first = start();
    const ready = await waitReady(first, 120_000);
    assert.equal(ready.details.database.status, 'up');
    assert.equal(ready.details.redis.mode, 'in-process');
    assert.match(first.output(), /ready on http:\/\/127\.0\.0\.1:\d+/);
    assert.match(first.output(), /embedded PostgreSQL/);

    // The migrations ran on the embedded database; write a marker of our own.
    const c1 = new Client({ connectionString: pgUrl });
    await c1.connect();
    try {
      const { rows } = await c1.query<{ name: string }>('SELECT name FROM migrations');
      assert.ok(rows.length > 0, 'migrations ran on start');
      await c1.query('CREATE TABLE embedded_marker (note text)');
      await c1.query(`INSERT INTO embedded_marker VALUES ('still here')`);
    } finally {
      await c1.end();
    }

    await stop(first);

    const second = start();
    await waitReady(second, 90_000);
    const c2 = new Client({ connectionString: pgUrl });
    await c2.connect();
    try {
      const { rows } = await c2.query<{ note: string }>('SELECT note FROM embedded_marker');
      assert.deepEqual(rows, [{ note: 'still here' }]);
    } finally {
      await c2.end();
    }
    await stop(second);
  });
});
