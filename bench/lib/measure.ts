/**
 * Throughput measurement shared by the ledger scenarios: concurrent async workers run a step in a
 * loop for a fixed time; ours and the limit are warmed up, then measured alternately (ours,
 * limit, limit, ours…) so that drift on a shared machine hits both alike.
 */
import { now } from './timing.js';

export interface Timing {
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly rounds: number;
}

export function timingFor(mode: 'quick' | 'full'): Timing {
  return mode === 'quick' ? { warmupMs: 250, measureMs: 1000, rounds: 1 } : { warmupMs: 1000, measureMs: 3000, rounds: 2 };
}

/** What one step did: `ok`, `gaveup`, or the SQLSTATE of another database error. */
export type StepOutcome = 'ok' | 'gaveup' | { readonly error: string };

/** One side's totals over its rounds. */
export interface Tally {
  /** Steps completed. */
  done: number;
  /** Steps that gave up after every re-run conflicted. */
  failed: number;
  /** Steps that failed with another counted database error, by SQLSTATE. */
  errors: Map<string, number>;
  /** Conflict re-runs. */
  retries: number;
  ms: number;
}

/** One side of a comparison. */
export interface Side {
  step: () => Promise<StepOutcome>;
  /** Conflict re-runs so far (a counter the side keeps). */
  retries(): number;
}

/**
 * SQLSTATEs counted instead of aborting the measurement. 53200: "not enough elements in
 * RWConflictPool", which PostgreSQL's default configuration raises under many concurrent
 * SERIALIZABLE transactions; nobody retries it. Any other error stops the run: it is a bug.
 */
const COUNTED_ERRORS = new Set(['53200']);

export function outcomeOf(error: unknown): StepOutcome {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && COUNTED_ERRORS.has(code)) return { error: code };
  throw error;
}

/** Run `workers` loops of `step` for `ms`. */
export async function runFor(ms: number, workers: number, step: () => Promise<StepOutcome>): Promise<Omit<Tally, 'retries'>> {
  let done = 0;
  let failed = 0;
  const errors = new Map<string, number>();
  const start = now();
  const deadline = start + ms;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (now() < deadline) {
        const outcome = await step();
        if (outcome === 'ok') done++;
        else if (outcome === 'gaveup') failed++;
        else errors.set(outcome.error, (errors.get(outcome.error) ?? 0) + 1);
      }
    }),
  );
  return { done, failed, errors, ms: now() - start };
}

/** Warm every side up, then measure them in turns (reversed every other round). */
export async function compareSides<K extends string>(timing: Timing, workers: number, sides: Record<K, Side>): Promise<Record<K, Tally>> {
  const names = Object.keys(sides) as K[];
  for (const name of names) await runFor(timing.warmupMs, workers, sides[name].step);
  const tallies = Object.fromEntries(names.map((n) => [n, { done: 0, failed: 0, errors: new Map(), retries: 0, ms: 0 }])) as Record<
    K,
    Tally
  >;
  for (let round = 0; round < timing.rounds; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      const side = sides[name];
      const before = side.retries();
      const result = await runFor(timing.measureMs, workers, side.step);
      const tally = tallies[name];
      tally.done += result.done;
      tally.failed += result.failed;
      for (const [code, n] of result.errors) tally.errors.set(code, (tally.errors.get(code) ?? 0) + n);
      tally.ms += result.ms;
      tally.retries += side.retries() - before;
    }
  }
  return tallies;
}

/** Steps per second, times `perStep` operations in each. */
export function perSecond(tally: Tally, perStep = 1): number {
  return (tally.done / tally.ms) * 1000 * perStep;
}

export function errorText(tally: Tally): string {
  return [...tally.errors].map(([code, n]) => `${n}× SQLSTATE ${code}`).join(' ') || 'none';
}
