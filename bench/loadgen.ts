/**
 * The service and a reference server measured side by side, in one run, by the shared black-box
 * load generator (`../shared/loadgen`, used as it is: its load.mjs and ref/server.mjs are run, not
 * copied). Each target gets the same runs: idle sockets, direct 1:1 at several rates, groups of 8,
 * and an overload run past saturation.
 *
 * The generator needs its dependencies: if `--loadgen` has no node_modules (the shared folder is
 * read-only), it is copied to a temporary folder and `npm ci` runs there once.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { ADMIN_URL, createTestDatabase } from '../test/support/db';
import { TEST_REDIS_URL } from '../test/support/app';
import { intFlag, intListFlag, type Flags, type Scenario, type ScenarioContext } from './lib/scenario';
import { BENCH_JWT_SECRET, startService, type Service } from './lib/service';

export const loadgenHelp = `loadgen flags:
  --loadgen DIR        the shared load generator (default ../shared/loadgen)
  --targets a,b        service, ref-postgres, ref-redis (default service,ref-postgres)
  --instances N        service instances (default 1; 2 uses Redis, sockets alternate)
  --direct r1,r2,…     direct msgs/s (default 1000,2000,4000)
  --group r1,…         group-of-8 msgs/s (default 1000)
  --overload R         one direct run past saturation (default 8000; 0 = none)
  --idle N             idle sockets held (default 10000; 0 = none)
  --duration S         steady seconds per run (default 10)
  --users N            users for the message runs (default 1000)`;

type Target = 'service' | 'ref-postgres' | 'ref-redis';

interface Run {
  target: Target;
  kind: 'idle' | 'direct' | 'group';
  rate?: number;
  sockets?: number;
  file: string;
}

export const loadgenScenario: Scenario = {
  name: 'loadgen',
  description:
    'The shared load generator against the service and a reference server in one run: idle sockets, ' +
    'direct at 1k/2k/4k msgs/s, groups of 8, overload.',
  options: {
    loadgen: { type: 'string' },
    targets: { type: 'string' },
    instances: { type: 'string' },
    direct: { type: 'string' },
    group: { type: 'string' },
    overload: { type: 'string' },
    idle: { type: 'string' },
    duration: { type: 'string' },
    users: { type: 'string' },
  },
  async run(flags: Flags, ctx) {
    const dir = prepareLoadgen(
      String(flags.loadgen ?? path.join(__dirname, '..', '..', 'shared', 'loadgen')),
      ctx,
    );
    const targets = String(flags.targets ?? 'service,ref-postgres').split(',') as Target[];
    const instances = intFlag(flags, 'instances', 1);
    const direct = intListFlag(flags, 'direct', [1000, 2000, 4000]);
    const group = intListFlag(flags, 'group', [1000]);
    const overload = intFlag(flags, 'overload', 8000);
    const idle = intFlag(flags, 'idle', 10_000);
    const duration = intFlag(flags, 'duration', 10);
    const users = intFlag(flags, 'users', 1000);
    const out = mkdtempSync(path.join(os.tmpdir(), 'loadgen-'));
    const runs: Run[] = [];

    for (const target of targets) {
      // A fresh server per kind of run, as the baseline does.
      const plan: { kind: Run['kind']; rates: number[] }[] = [
        ...(idle ? [{ kind: 'idle' as const, rates: [0] }] : []),
        ...(direct.length || overload
          ? [{ kind: 'direct' as const, rates: [...direct, ...(overload ? [overload] : [])] }]
          : []),
        ...(group.length ? [{ kind: 'group' as const, rates: group }] : []),
      ];
      for (const { kind, rates } of plan) {
        const server = await startTarget(target, instances, dir, ctx);
        try {
          for (const rate of rates) {
            const file = path.join(out, `${target}-${kind}-${rate}.json`);
            const args = [
              'load.mjs',
              '--url',
              server.urls.join(','),
              '--jwt-secret',
              BENCH_JWT_SECRET,
              '--scenario',
              kind,
              '--workers',
              '2',
              '--server-pid',
              server.pids.join(','),
              '--quiet',
              '--out',
              file,
              ...(kind === 'idle'
                ? ['--users', String(idle), '--duration', String(duration)]
                : [
                    '--users',
                    String(users),
                    '--rate',
                    String(rate),
                    '--duration',
                    String(duration),
                    '--ramp',
                    '2',
                  ]),
              // The service's limits are raised; say so to the generator.
              '--per-user-limit',
              '1000',
            ];
            ctx.log(`${target}: ${kind}${kind === 'idle' ? ` ${idle} sockets` : ` ${rate} msgs/s`}`);
            const ok = await run(process.execPath, args, dir, (duration + 120) * 1000);
            if (!ok) {
              ctx.log(`${target}: ${kind} ${rate}: the generator failed or hung; run left out`);
              continue;
            }
            runs.push({
              target,
              kind,
              rate: kind === 'idle' ? undefined : rate,
              sockets: kind === 'idle' ? idle : users,
              file,
            });
          }
        } finally {
          await server.stop();
        }
      }
    }

    const rows = runs.map((r) => summarizeRun(r));
    const report = [
      `## loadgen: ${targets.join(' vs ')} (${instances} service instance(s)), ${duration} s steady per run`,
      '',
      '| target | run | achieved msgs/s | ack p50 / p99 ms | delivery p50 / p99 ms | lost | dup | gaps / regressions | ack errors | server cores | RSS/socket KB | connects/s |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${r.target} | ${r.run} | ${r.achieved ?? ''} | ${r.ack ?? ''} | ${r.delivery ?? ''} | ${r.lost ?? ''} | ${r.duplicates ?? ''} | ${r.gaps ?? ''} | ${r.errors ?? ''} | ${r.cores} | ${r.rssPerSocketKB ?? ''} | ${r.connectsPerS} |`,
      ),
      '',
      `raw generator output: ${out}`,
    ].join('\n');
    return { result: { targets, instances, runs: rows, rawDir: out }, report };
  },
};

function summarizeRun(r: Run): Record<string, string | number | undefined> {
  const doc = JSON.parse(readFileSync(r.file, 'utf8')) as any;
  const cores = (doc.servers ?? doc.idle?.servers ?? [])
    .map((s: any) => s.cpuCoresSteady ?? s.cpuCoresDuringHold)
    .join('+');
  const base = {
    target: r.target,
    run: r.kind === 'idle' ? `idle ${r.sockets}` : `${r.kind} ${r.rate}`,
    cores,
    connectsPerS: doc.connections?.perSecond,
  };
  if (r.kind === 'idle')
    return {
      ...base,
      rssPerSocketKB: doc.idle.servers.map((s: any) => s.rssPerConnKB).join('+'),
      errors: JSON.stringify(doc.connections.errors),
    };
  const m = doc.messages;
  return {
    ...base,
    achieved: m.achievedSendPerS,
    ack: `${m.ackMs.p50} / ${m.ackMs.p99}`,
    delivery: `${m.deliveryMs.p50} / ${m.deliveryMs.p99}`,
    lost: m.lost,
    duplicates: m.duplicates,
    gaps: `${m.seqGaps} / ${m.seqRegressions}`,
    errors: Object.keys(m.ackErrors).length ? JSON.stringify(m.ackErrors) : '0',
  };
}

function prepareLoadgen(dir: string, ctx: ScenarioContext): string {
  if (existsSync(path.join(dir, 'node_modules'))) return dir;
  const copy = path.join(os.tmpdir(), 'chat-bench-loadgen');
  if (!existsSync(path.join(copy, 'node_modules'))) {
    ctx.log(`copying ${dir} to ${copy} and installing its dependencies`);
    cpSync(dir, copy, { recursive: true });
    execFileSync('chmod', ['-R', 'u+w', copy]);
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: copy, stdio: 'ignore' });
  }
  return copy;
}

/** Runs the generator; false when it failed or hung (killed after `timeoutMs`): the run is left out. */
function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
  });
}

async function startTarget(
  target: Target,
  instances: number,
  dir: string,
  ctx: ScenarioContext,
): Promise<Pick<Service, 'urls' | 'pids' | 'stop'>> {
  if (target === 'service') {
    const db = await createTestDatabase();
    const service = await startService({
      databaseUrl: db.url,
      redisUrl: instances > 1 ? TEST_REDIS_URL : undefined,
      instances,
      basePort: 3500,
      log: ctx.log,
    });
    return { ...service, stop: () => service.stop().then(() => db.drop()) };
  }
  // The reference servers keep their tables in a database of their own.
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  const exists = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'chatbench_ref'`);
  if (!exists.rowCount) await admin.query('CREATE DATABASE chatbench_ref');
  await admin.end();
  const databaseUrl = ADMIN_URL.replace(/\/[^/]*$/, '/chatbench_ref');
  const common = [
    '--jwt-secret',
    BENCH_JWT_SECRET,
    '--database-url',
    databaseUrl,
    '--redis-url',
    TEST_REDIS_URL,
  ];
  execFileSync(process.execPath, ['ref/server.mjs', '--init-db', ...common], { cwd: dir, stdio: 'ignore' });
  const ports = target === 'ref-redis' ? [3600, 3601] : [3600];
  const children = ports.map((port) =>
    spawn(
      process.execPath,
      [
        'ref/server.mjs',
        '--store',
        'pg',
        ...(target === 'ref-redis' ? ['--redis-adapter'] : []),
        '--port',
        String(port),
        ...common,
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] },
    ),
  );
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  for (const url of urls) {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${url}/health/live`)).ok) break;
      } catch {
        if (i > 100) throw new Error(`${target} did not start`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  ctx.log(`${target} ready at ${urls.join(', ')}`);
  return {
    urls,
    pids: children.map((c) => c.pid!),
    stop: async () => {
      await Promise.all(
        children.map((c) => new Promise<void>((resolve) => (c.once('exit', () => resolve()), c.kill()))),
      );
    },
  };
}
