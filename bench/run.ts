/**
 * Benchmark runner: `npm run bench [-- --scenario <name>] [scenario flags]`.
 *
 * Prints one JSON document on stdout and a readable report on stderr, and writes the JSON to
 * bench/results/<scenario>-<timestamp>.json. Scenarios live beside this file, one per file, and
 * are registered in SCENARIOS below.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chatListHelp, chatListScenario } from './chat-list';
import { tracingCostHelp, tracingCostScenario } from './tracing-cost';
import { loadgenHelp, loadgenScenario } from './loadgen';
import { reconnectHelp, reconnectScenario } from './reconnect';
import { loadAverage, machineInfo } from './lib/machine';
import type { Flags, Scenario } from './lib/scenario';
import { Client } from 'pg';
import { ADMIN_URL } from '../test/support/db';

const SCENARIOS: Record<string, { scenario: Scenario; help: string }> = {
  'chat-list': { scenario: chatListScenario, help: chatListHelp },
  'tracing-cost': { scenario: tracingCostScenario, help: tracingCostHelp },
  reconnect: { scenario: reconnectScenario, help: reconnectHelp },
  loadgen: { scenario: loadgenScenario, help: loadgenHelp },
};

const COMMON = {
  scenario: { type: 'string', short: 's', default: 'chat-list' },
  help: { type: 'boolean', short: 'h', default: false },
  'no-save': { type: 'boolean', default: false },
} as const;

function usage(): string {
  return [
    'usage: npm run bench -- [--scenario <name>] [--no-save] [scenario flags]',
    '',
    'scenarios:',
    ...Object.values(SCENARIOS).map(
      ({ scenario }) => `  ${scenario.name.padEnd(12)} ${scenario.description}`,
    ),
    '',
    ...Object.values(SCENARIOS).map(({ help }) => help),
  ].join('\n');
}

const cleanups = new Set<() => Promise<void>>();

async function cleanupAll(): Promise<void> {
  for (const work of [...cleanups].reverse()) {
    cleanups.delete(work);
    await work().catch((err) => console.error('cleanup failed:', err));
  }
}

async function main(): Promise<number> {
  const first = parseArgs({ options: COMMON, strict: false, allowPositionals: true });
  const name = String(first.values.scenario ?? 'chat-list');
  const entry = SCENARIOS[name];
  if (first.values.help || !entry) {
    console.error(entry ? usage() : `unknown scenario "${name}"\n\n${usage()}`);
    return entry ? 0 : 2;
  }
  const { values } = parseArgs({ options: { ...COMMON, ...entry.scenario.options }, strict: true });
  const flags = values as Flags;

  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  const machine = await machineInfo(admin).finally(() => admin.end());
  const startedAt = new Date();
  const log = (message: string) =>
    console.error(`${((Date.now() - startedAt.getTime()) / 1000).toFixed(1).padStart(6)}s ${message}`);
  log(
    `${name}: ${machine.nproc} cores, ${machine.memoryGiB} GiB, node ${machine.node}, ${machine.postgres}, load ${machine.loadAverage.join(' ')}`,
  );

  const { result, report } = await entry.scenario.run(flags, {
    log,
    onCleanup(work) {
      let done = false;
      const once = async () => {
        if (done) return;
        done = true;
        cleanups.delete(once);
        await work();
      };
      cleanups.add(once);
      return once;
    },
  });

  const finishedAt = new Date();
  const doc = {
    scenario: name,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationS: Math.round((finishedAt.getTime() - startedAt.getTime()) / 100) / 10,
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { ...machine, loadAverageAtEnd: loadAverage() },
    ...result,
  };
  const json = JSON.stringify(doc, null, 2);
  console.error(report);
  if (!values['no-save']) {
    const dir = path.join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${name}-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, json + '\n');
    console.error(`\nresults written to ${path.relative(process.cwd(), file)}`);
  }
  await new Promise<void>((resolve) => process.stdout.write(json + '\n', () => resolve()));
  return 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

void main()
  .catch(async (err) => {
    console.error(err);
    return 1;
  })
  .then(async (code) => {
    await cleanupAll();
    // The app's schedulers and pools are closed; exit anyway rather than wait on a stray handle.
    process.exit(code);
  });
