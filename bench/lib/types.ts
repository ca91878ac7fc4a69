/**
 * Shapes shared by the benchmark: a figure is one measured quantity of our code, reported beside a
 * baseline measured in the same run (absolute times drift 20–45 % between runs on these machines,
 * so only the ratio within one run is comparable across runs).
 */

import type { OperationCost } from './wire-count.js';

export type Mode = 'quick' | 'full';

/** A goal of issue 11, judged on the figures of this run. */
export interface Goal {
  /** The goal in a few words, with the measured value where it is not the ratio, e.g. `≥ 0.8 of the limit`. */
  readonly text: string;
  readonly met: boolean;
}

/** A goal on the ratio: at least `min` of the baseline (the measured limit). */
export function ratioGoal(ratio: number, min: number, what = 'of the limit'): Goal {
  return { text: `≥ ${min} ${what}`, met: ratio >= min };
}

/** One measured figure. */
export interface Figure {
  /** Scenario key, e.g. `transfers`. */
  readonly scenario: string;
  /** What was measured, e.g. `PostgreSQL, 4 workers, low contention`. */
  readonly name: string;
  /** Unit of `ours` and `baseline`, e.g. `transfers/s`, `ms`, `RPC requests`. */
  readonly unit: string;
  readonly ours: number;
  readonly baseline: number;
  /** What the baseline is, in a few words. */
  readonly baselineLabel: string;
  /** ours / baseline. */
  readonly ratio: number;
  /** Whether a higher or a lower value is better (so that readers can judge the ratio). */
  readonly better: 'higher' | 'lower';
  /** Size of the workload (transfers, withdrawals, deposits, open transactions…), where it has one. */
  readonly n?: number;
  /** What one operation sent to the database, ours and the baseline's, counted in this run. */
  readonly cost?: { readonly ours: OperationCost; readonly baseline: OperationCost; readonly per: string };
  /** The goal for this figure, when it has one (it goes to the goals table). */
  readonly goal?: Goal;
  /** Further figures of the same measurement (retries, RPC calls, …). */
  readonly extra?: Readonly<Record<string, number | string | boolean>>;
}

/** What a scenario hands back. */
export interface ScenarioResult {
  readonly scenario: string;
  readonly title: string;
  readonly figures: readonly Figure[];
  /** Things that could not be measured, and why. */
  readonly skipped: readonly string[];
  readonly seconds: number;
}

/** Build a figure, computing the ratio. */
export function figure(fields: Omit<Figure, 'ratio'>): Figure {
  const ratio = fields.baseline === 0 ? Number.NaN : fields.ours / fields.baseline;
  return { ...fields, ratio };
}
