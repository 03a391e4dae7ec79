import type { ParseArgsConfig } from 'node:util';

export type Flags = Record<string, string | boolean | undefined>;

/** A benchmark scenario: `npm run bench -- --scenario <name> [its flags]`. */
export interface Scenario {
  name: string;
  description: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Returns the JSON result and a human-readable report (Markdown-ish) for stderr. */
  run(flags: Flags, ctx: ScenarioContext): Promise<{ result: Record<string, unknown>; report: string }>;
}

export interface ScenarioContext {
  /** Progress lines (stderr). */
  log(message: string): void;
  /** Registers cleanup to run even when the run fails or is interrupted (databases to drop, apps to close). */
  onCleanup(work: () => Promise<void>): () => Promise<void>;
}

/** Reads a positive integer flag. */
export function intFlag(flags: Flags, name: string, fallback: number): number {
  const raw = flags[name];
  if (raw === undefined || raw === true || raw === false) return fallback;
  const n = Number(String(raw).replace(/_/g, '').replace(/k$/i, '000').replace(/m$/i, '000000'));
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer (got ${raw})`);
  return n;
}

/** Reads a comma-separated list of integers (10k, 200k and 1M accepted). */
export function intListFlag(flags: Flags, name: string, fallback: number[]): number[] {
  const raw = flags[name];
  if (typeof raw !== 'string') return fallback;
  return raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => intFlag({ [name]: part }, name, 0));
}
