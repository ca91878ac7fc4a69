/** The JSON result file: the same figures as the table, plus the machine. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RunMachine } from './machine.js';
import { round } from './timing.js';
import type { Mode, ScenarioResult } from './types.js';

export interface BenchReport {
  readonly mode: Mode;
  readonly command: string;
  readonly machine: RunMachine;
  readonly totalSeconds: number;
  readonly scenarios: readonly ScenarioResult[];
}

function rounded(value: unknown): unknown {
  if (typeof value === 'number') return round(value);
  if (Array.isArray(value)) return value.map(rounded);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rounded(v)]));
  return value;
}

export function writeReport(path: string, report: BenchReport): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(rounded(report), null, 2)}\n`);
}
