import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { TokenVerifier } from '../src/auth/token-verifier';
import { DEV_JWT_SECRET } from '../src/config/env';
import { TEST_REDIS_URL } from './support/app';
import { createTestDatabase, type TestDatabase } from './support/db';

const ROOT = path.resolve(__dirname, '..');
const STRONG_SECRET = 'production-secret-with-more-than-32-characters';
/** A database that does not exist: should a bad configuration get past validation, it still cannot boot. */
const UNUSED_DB = 'postgres://postgres@127.0.0.1:5432/chat_config_boot_does_not_exist';
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/m;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment of a child: ours without any of the service's variables, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const key of Object.keys(base)) {
    if (
      /^(NODE_ENV|PORT|HOST|DATABASE_|REDIS_|JWT_|MIGRATIONS_RUN|DATA_DIR|EMBEDDED_PG_PORT|LOG_LEVEL)/.test(
        key,
      )
    )
      delete base[key];
  }
  return { ...base, ...env };
}

function run(command: string, args: string[], env: Record<string, string>, timeoutMs = 90_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const startMain = (env: Record<string, string>) =>
  run(process.execPath, ['-r', '@swc-node/register', 'src/main.ts'], env);
const npmToken = (args: string[], env: Record<string, string> = {}) =>
  run('npm', ['run', '--silent', 'token', '--', ...args], { NODE_ENV: 'development', ...env });

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

function assertRefusedAtBoot(r: Run, variable: string): void {
  assert.equal(r.signal, null, `still running after 90 s (did it start anyway?), stderr: ${r.stderr}`);
  assert.notEqual(r.code, 0, `exited 0; stderr: ${r.stderr}`);
  assert.match(r.stderr, /Invalid configuration/, r.stderr);
  assert.match(r.stderr, new RegExp(`\\b${variable}\\b`), r.stderr);
  assert.doesNotMatch(r.stderr, /ready on|initialising embedded/, 'it went on booting');
}

// Two at a time: each child compiles the whole app, and the suite runs other files meanwhile.
describe('configuration is validated at boot (the real process)', { concurrency: 2 }, () => {
  it('PORT=notaport stops the process, naming PORT', async () => {
    assertRefusedAtBoot(await startMain({ PORT: 'notaport', DATABASE_URL: UNUSED_DB }), 'PORT');
  });

  it('production refuses the dev secret, naming JWT_SECRET', async () => {
    const r = await startMain({
      NODE_ENV: 'production',
      JWT_SECRET: DEV_JWT_SECRET,
      DATABASE_URL: UNUSED_DB,
    });
    assertRefusedAtBoot(r, 'JWT_SECRET');
  });

  it('production refuses a missing secret, naming JWT_SECRET', async () => {
    assertRefusedAtBoot(await startMain({ NODE_ENV: 'production', DATABASE_URL: UNUSED_DB }), 'JWT_SECRET');
  });

  it('production refuses a missing DATABASE_URL (no embedded database), naming it', async () => {
    assertRefusedAtBoot(
      await startMain({ NODE_ENV: 'production', JWT_SECRET: STRONG_SECRET }),
      'DATABASE_URL',
    );
  });
});

describe('a valid production configuration boots (control for the refusals above)', () => {
  let db: TestDatabase | undefined;
  let child: ChildProcess | undefined;
  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await db?.drop();
  });

  it('starts, answers /health/ready, and exits on SIGTERM', async () => {
    db = await createTestDatabase();
    const port = await freePort();
    const proc = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts'], {
      cwd: ROOT,
      env: childEnv({
        NODE_ENV: 'production',
        JWT_SECRET: STRONG_SECRET,
        DATABASE_URL: db.url,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: `cfgboot${port}:`,
        PORT: String(port),
        HOST: '127.0.0.1',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stdout.resume();
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const deadline = Date.now() + 90_000;
    let status = 0;
    while (Date.now() < deadline && proc.exitCode === null) {
      status = await fetch(`http://127.0.0.1:${port}/health/ready`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status, 200, `not ready; stderr: ${stderr}`);
    assert.doesNotMatch(stderr, /dev token/, 'production must not advertise dev tokens');
    proc.kill('SIGTERM');
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref());
    const result = await Promise.race([exited, timeout]);
    assert.notEqual(result, 'timeout', 'the process did not exit within 10 s of SIGTERM');
  });
});

describe('npm run token', { concurrency: 2 }, () => {
  it('prints a dev token for the user', async () => {
    const r = await npmToken(['alice']);
    assert.equal(r.code, 0, r.stderr);
    const tok = JWT.exec(r.stdout)?.[0];
    assert.ok(tok, `no JWT in stdout: ${r.stdout}`);
    assert.equal(tok.split('.').length, 3);
    const user = await new TokenVerifier({ secret: DEV_JWT_SECRET }).verify(tok);
    assert.equal(user.id, 'alice');
    assert.deepEqual(user.roles, []);
    const ttl = user.exp - Date.now() / 1000;
    assert.ok(ttl > 3500 && ttl <= 3600, `default ttl is one hour, got ${ttl}`);
  });

  it('--admin and --ttl, signed with JWT_SECRET when one is set', async () => {
    const r = await npmToken(['bob', '--admin', '--ttl', '120'], { JWT_SECRET: 'a-local-secret' });
    assert.equal(r.code, 0, r.stderr);
    const tok = JWT.exec(r.stdout)?.[0];
    assert.ok(tok, r.stdout);
    const user = await new TokenVerifier({ secret: 'a-local-secret' }).verify(tok);
    assert.equal(user.id, 'bob');
    assert.deepEqual(user.roles, ['admin']);
    const ttl = user.exp - Date.now() / 1000;
    assert.ok(ttl > 100 && ttl <= 120, `ttl ${ttl}`);
    await assert.rejects(new TokenVerifier({ secret: DEV_JWT_SECRET }).verify(tok));
  });

  it('refuses when NODE_ENV=production (even with a valid production configuration)', async () => {
    const r = await npmToken(['alice'], {
      NODE_ENV: 'production',
      JWT_SECRET: STRONG_SECRET,
      DATABASE_URL: UNUSED_DB,
    });
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stdout, JWT, 'a token was printed');
    assert.match(r.stderr, /production/);
  });

  it('refuses when NODE_ENV=production with the dev secret', async () => {
    const r = await npmToken(['alice'], { NODE_ENV: 'production', JWT_SECRET: DEV_JWT_SECRET });
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stdout, JWT);
  });

  it('refuses a missing or invalid user id', async () => {
    for (const args of [['not valid'], ['alice', '--ttl', 'soon']]) {
      const r = await npmToken(args);
      assert.notEqual(r.code, 0, `${JSON.stringify(args)} was accepted`);
      assert.doesNotMatch(r.stdout, JWT);
      assert.match(r.stderr, /usage/);
    }
  });
});
