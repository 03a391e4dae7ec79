// Runs the whole suite with Node's test runner: unit specs beside the code (src/**/*.spec.ts)
// and integration/e2e tests (test/**/*.test.ts) against the machine's PostgreSQL and Redis.
// `node scripts/test.mjs unit` runs the unit specs only; other arguments filter files by substring.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? walk(full) : [full];
  });
const args = process.argv.slice(2);
const unitOnly = args[0] === 'unit';
const filters = unitOnly ? args.slice(1) : args;
let files = [
  ...walk(path.join(root, 'src')).filter((f) => f.endsWith('.spec.ts')),
  ...(unitOnly ? [] : walk(path.join(root, 'test')).filter((f) => f.endsWith('.test.ts'))),
].map((f) => path.relative(root, f));
if (filters.length) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (!files.length) {
  console.error('no test file matched');
  process.exit(1);
}

mkdirSync(path.join(root, '.test-results'), { recursive: true });
const tap = path.join(root, '.test-results', `results-${process.pid}.tap`);
const child = spawn(
  process.execPath,
  [
    '-r',
    '@swc-node/register',
    '--test',
    `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 3}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, NODE_ENV: 'test', SWC_NODE_PROJECT: path.join(root, 'tsconfig.json') },
  },
);
child.on('exit', (code, signal) => {
  let pass = 0,
    fail = 0,
    skipped = 0;
  try {
    const text = readFileSync(tap, 'utf8');
    pass = Number(/^# pass (\d+)/m.exec(text)?.[1] ?? 0);
    fail = Number(/^# fail (\d+)/m.exec(text)?.[1] ?? 0);
    skipped = Number(/^# skipped (\d+)/m.exec(text)?.[1] ?? 0);
  } catch {
    /* no report: the runner itself failed */
  }
  rmSync(tap, { force: true });
  console.log(`\n${pass} passed, ${fail} failed, ${skipped} skipped`);
  process.exit(code ?? (signal ? 1 : 0));
});
