/**
 * Managed transactions: run a callback in a serializable transaction and, when the database reports
 * a conflict, roll back and run the whole callback again after a jittered exponential pause.
 *
 * The callback may therefore run more than once. It must not make network calls or other outside
 * effects, and must not swallow database errors (let them propagate so they can be retried).
 */
import { CannotResolveDatabaseConflict } from '../domain/errors.js';
import type { Database, SqlExecutor, TransactionMode } from './database.js';

/** How conflicts are retried. */
export interface RetryPolicy {
  /** Re-runs after the first attempt; 0 disables retrying. */
  readonly retries: number;
  /** First pause's upper bound, in milliseconds. */
  readonly backoffBaseMs: number;
  /** Upper bound of any pause, in milliseconds. */
  readonly backoffMaxMs: number;
}

/** Defaults: ten re-runs, pauses drawn from [0, 2 ms · 2^n] capped at 250 ms. */
export const RETRY_POLICY_DEFAULT: RetryPolicy = { retries: 10, backoffBaseMs: 2, backoffMaxMs: 250 };

/** Counts what the managed transactions did, for metrics, tests and benchmarks. */
export class TransactionStats {
  committed = 0;
  /** Attempts rolled back because of a conflict and re-run. */
  conflictRetries = 0;
  /** Transactions that gave up with CannotResolveDatabaseConflict. */
  gaveUp = 0;
}

export interface ManagedTransactionOptions {
  readonly mode: TransactionMode;
  readonly policy: RetryPolicy;
  readonly stats?: TransactionStats;
  /** Called before each re-run, e.g. to log. */
  readonly onConflict?: (attempt: number, error: unknown) => void;
}

/**
 * Run `fn` in a transaction, re-running it on conflicts as the policy allows.
 * @throws CannotResolveDatabaseConflict when every attempt conflicted; any other error of `fn` at once.
 */
export async function runManagedTransaction<T>(
  database: Database,
  fn: (tx: SqlExecutor) => Promise<T>,
  options: ManagedTransactionOptions,
): Promise<T> {
  const { policy, stats } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await database.transaction(options.mode, fn);
      if (stats) stats.committed++;
      return result;
    } catch (error) {
      if (!database.isConflict(error)) throw error;
      if (attempt > policy.retries) {
        if (stats) stats.gaveUp++;
        throw new CannotResolveDatabaseConflict(attempt, error);
      }
      if (stats) stats.conflictRetries++;
      options.onConflict?.(attempt, error);
      await sleep(backoffMs(attempt, policy));
    }
  }
}

/**
 * "Full jitter": a random pause in [0, min(max, base · 2^(attempt-1))]. Randomness spreads the
 * re-runs of transactions that collided, so they do not collide again in lock step.
 */
export function backoffMs(attempt: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** (attempt - 1));
  return Math.random() * ceiling;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
