/**
 * Crashes and stalls of a simulated process, injected at an await of a money path:
 * - a crash at the n-th SQL statement the process runs (the statement never runs; its
 *   transaction rolls back, as it would when the process is killed), or at the 'before' or
 *   'after' phase of a backend call (the chain's call hook throws);
 * - a stall at a backend call: the process stops there (a pause of the whole process, a slow
 *   node) until the simulator resumes or kills it.
 * After a crash the process is dead: every later statement and backend call of it throws
 * `SimulatedCrash` before it takes effect, so code that catches the crash and carries on (as
 * `broadcastPending` rightly does with an unknown send outcome) changes nothing: whatever the
 * product does after the crash point is what a killed process would not have done.
 */
import type { MemoryCall, MemoryMethod } from '../src/backends/memory/index.js';

/** Thrown at the point where a simulated process is killed; never caught by the simulator's checks. */
export class SimulatedCrash extends Error {
  constructor(where: string) {
    super(`simulated crash ${where}`);
    this.name = 'SimulatedCrash';
  }
}

/**
 * A statement of a live process fails without killing it, as a database under stress fails:
 * `busy` with SQLite's SQLITE_BUSY (another connection holds the lock: the managed transaction
 * runs the whole transaction again), `io` with SQLITE_IOERR (the transaction fails, the process
 * goes on). The statement never runs and its transaction rolls back.
 */
export class SimulatedDatabaseFault extends Error {
  readonly code: string;
  constructor(readonly kind: 'busy' | 'io') {
    super(kind === 'busy' ? 'simulated database busy (SQLITE_BUSY)' : 'simulated disk I/O error (SQLITE_IOERR)');
    this.name = 'SimulatedDatabaseFault';
    this.code = kind === 'busy' ? 'SQLITE_BUSY' : 'SQLITE_IOERR';
  }
}

/** Where a backend-call fault fires: the (skip + 1)-th matching call of the process. */
export interface CallTrigger {
  /** Only calls of this method; any method when absent. */
  readonly method?: MemoryMethod;
  readonly phase: 'before' | 'after';
  /** Matching calls let through before the one that fires. */
  skip: number;
}

/** True when `call` is the one `trigger` fires at (counting down its `skip`). */
export function triggerFires(trigger: CallTrigger, call: MemoryCall): boolean {
  if (call.phase !== trigger.phase) return false;
  if (trigger.method !== undefined && call.method !== trigger.method) return false;
  if (trigger.skip > 0) {
    trigger.skip--;
    return false;
  }
  return true;
}

/** A textual description of a trigger, for the trace. */
export function describeTrigger(trigger: CallTrigger): string {
  return `${trigger.method ?? 'any call'}/${trigger.phase}${trigger.skip > 0 ? ` after ${trigger.skip}` : ''}`;
}
