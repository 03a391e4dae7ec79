import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { Client } from 'pg';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  loadAverage: number[];
}

/** What the figures were measured on (BENCHMARKS.md quotes it). */
export async function machineInfo(client: Client): Promise<MachineInfo> {
  let nproc = os.availableParallelism();
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    /* no nproc: keep Node's view */
  }
  const version = (await client.query(`SELECT version() AS v`)).rows[0].v as string;
  const settings: Record<string, string> = {};
  for (const name of ['shared_buffers', 'work_mem', 'effective_cache_size', 'synchronous_commit', 'jit']) {
    settings[name] = (await client.query(`SELECT current_setting($1) AS v`, [name])).rows[0].v as string;
  }
  return {
    nproc,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: version.split(',')[0]!,
    postgresSettings: settings,
    loadAverage: loadAverage(),
  };
}

export function loadAverage(): number[] {
  return os.loadavg().map((l) => Math.round(l * 100) / 100);
}
