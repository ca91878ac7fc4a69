/**
 * One run of the simulator: a world built from a seed, `steps` steps chosen by its PRNG, the
 * auditor after every one, then the settle phase and the final checks. Returns what happened;
 * never throws for a failed check (the result says which check failed, and where).
 */
import { createHash } from 'node:crypto';
import { AuditFailure } from './auditor.js';
import { readLedger } from './ledger-view.js';
import { settle } from './settle.js';
import type { RunStats } from './stats.js';
import { leaseTimers, runStep } from './steps.js';
import { World } from './world.js';

export interface SimulationOptions {
  readonly seed: number;
  readonly steps: number;
  /** Called with every line of the trace as it is written (`--trace`). */
  readonly onTrace?: (line: string) => void;
}

export interface SimulationFailure {
  /** The step the check failed after; `steps + 1` for the settle phase. */
  readonly step: number;
  readonly check: string;
  readonly detail: string;
  /** The last lines of the run's trace and of the processes' logs. */
  readonly trace: readonly string[];
  readonly log: readonly string[];
}

export interface SimulationResult {
  readonly seed: number;
  readonly steps: number;
  readonly stats: RunStats;
  readonly failure: SimulationFailure | null;
  /** A digest of the whole trace: the same seed must give the same digest. */
  readonly digest: string;
  readonly millis: number;
}

/** Lines of trace kept for a failure report. */
const TRACE_TAIL = 40;

export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const started = performance.now();
  const world = await World.create(options.seed);
  const digest = createHash('sha256');
  const trace: string[] = [];
  const record = (line: string): void => {
    digest.update(`${line}\n`);
    options.onTrace?.(line);
    trace.push(line);
    if (trace.length > 4 * TRACE_TAIL) trace.splice(0, trace.length - TRACE_TAIL);
  };
  let failure: SimulationFailure | null = null;
  let lastLease = null as { holder: string; generation: number } | null;
  try {
    for (world.step = 1; world.step <= options.steps; world.step++) {
      // Time passes between any two events, a little; steps of their own move it further.
      const passed = world.prng.int(0, 1_500);
      world.clocks.advance(passed);
      const timers = await leaseTimers(world);
      const outcome = await runStep(world);
      record(`#${world.step} +${passed}ms ${outcome.text}`);
      for (const line of timers) record(line);
      if (world.downUntilStep === world.step) world.chain.setDown(false);
      if (world.capUntilStep === world.step) world.chain.setAnswerCap(null);
      const ledger = await readLedger(world.auditorApp);
      // A sync counts as having seen the whole chain only if it ran under the lease the
      // database says is held: a process that lost it had its writes refused.
      const syncer = outcome.syncedBy ?? null;
      const syncedUnderLease =
        syncer !== null &&
        ledger.lease !== null &&
        ledger.lease.holder === syncer.service.instance &&
        ledger.lease.generation === syncer.service.leaseGeneration &&
        ledger.lease.expiresAtMs > world.clocks.database();
      if (ledger.lease && ledger.lease.generation !== lastLease?.generation) {
        if (lastLease) world.stats.count(ledger.lease.holder === lastLease.holder ? 'lease re-taken after expiry' : 'takeovers');
        record(`   lease generation ${ledger.lease.generation} to ${world.processName(ledger.lease.holder)}`);
      }
      if (ledger.lease) lastLease = { holder: ledger.lease.holder, generation: ledger.lease.generation };
      if (syncedUnderLease || outcome.fullScan) world.stats.count('deposit windows');
      world.auditor.afterStep(ledger, syncedUnderLease || outcome.fullScan === true);
    }
    world.step = options.steps + 1;
    await settle(world, record);
    record('settled');
  } catch (error) {
    const check = error instanceof AuditFailure ? error.check : 'simulator-error';
    const detail = error instanceof AuditFailure ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
    failure = { step: world.step, check, detail, trace: trace.slice(-TRACE_TAIL), log: world.log.tail(25) };
    record(`FAILED ${check}: ${detail}`);
  } finally {
    await world.dispose();
  }
  return {
    seed: options.seed,
    steps: options.steps,
    stats: world.stats,
    failure,
    digest: digest.digest('hex').slice(0, 16),
    millis: performance.now() - started,
  };
}
