/**
 * What enabling an AsyncLocalStorage costs promise-heavy code, on the running Node (BENCHMARKS.md
 * §6c): OpenTelemetry's context manager enables one at the first traced operation. Counts rounds
 * of a small async workload (awaits and Promise.all) per second, before and after one `run()`.
 * On Node 20 that installs async hooks every promise then pays for; from Node 24 on,
 * AsyncLocalStorage runs on AsyncContextFrame.
 *   node -r @swc-node/register bench/async-local-storage-micro.ts
 */
import { AsyncLocalStorage } from 'node:async_hooks';

async function leaf(i: number): Promise<number> {
  await null;
  return i + 1;
}

async function work(i: number): Promise<number> {
  let sum = 0;
  for (let k = 0; k < 5; k++) sum += await leaf(k + i);
  return sum;
}

/** Rounds of `work` (three at once) completed in one second. */
async function roundsPerSecond(): Promise<number> {
  const end = performance.now() + 1000;
  let rounds = 0;
  while (performance.now() < end) {
    await Promise.all([work(1), work(2), work(3)]);
    rounds++;
  }
  return rounds;
}

async function main(): Promise<void> {
  await roundsPerSecond(); // warm-up
  const before = Math.max(await roundsPerSecond(), await roundsPerSecond());
  new AsyncLocalStorage().run({}, () => undefined); // enabled for good
  const after = Math.max(await roundsPerSecond(), await roundsPerSecond());
  console.log(
    `Node ${process.version}: ${before} rounds/s without an AsyncLocalStorage, ${after} with one ` +
      `(${((after / before - 1) * 100).toFixed(1)} %)`,
  );
}

void main();
