/**
 * Running an action of a simulated process and judging how it ended: a crash (the process is
 * replaced), a stall (it waits), an expected failure (the node, the lease, a stale reading: the
 * product is built to fail so), or an unexpected error, which is a defect and fails the run.
 */
import { BackendError, InvalidState, LeaseLost, ScanIncomplete, StaleReading } from '../src/domain/errors.js';
import { AuditFailure } from './auditor.js';
import { SimulatedCrash, SimulatedDatabaseFault } from './crash.js';
import type { SimProcess } from './sim-process.js';
import type { World } from './world.js';

/** The process actions of the helper service the simulator drives. */
export type ProcessAction = 'keepLease' | 'sync' | 'broadcast' | 'notify' | 'drain' | 'dispatch';

/** How one process action ended, for the trace and the deposit-window rule. */
export interface ActionResult {
  readonly text: string;
  /** The action was a sync and it completed (whether under the lease is checked by the caller). */
  readonly synced: SimProcess | null;
}

/**
 * A label for an error the product is designed to raise in this world, or null for any other
 * (a defect). Operator commands may also refuse with `InvalidState`.
 */
export function expectedError(error: unknown, operator = false): string | null {
  if (error instanceof SimulatedCrash) return 'crash';
  if (error instanceof SimulatedDatabaseFault) return `database ${error.kind}`;
  if (error instanceof BackendError) return `node ${error.code}`;
  if (error instanceof LeaseLost) return 'lease lost';
  if (error instanceof StaleReading) return 'stale reading';
  if (error instanceof ScanIncomplete) {
    const cause = expectedError(error.cause, operator);
    return cause === null ? null : `scan incomplete (${cause})`;
  }
  if (operator && error instanceof InvalidState) return 'refused';
  return null;
}

/** Fail the run with the error when it is not one the product should raise here. */
export function judge(world: World, who: string, what: string, error: unknown, operator = false): string {
  const label = expectedError(error, operator);
  if (label === null) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new AuditFailure('unexpected-error', `${who} ${what} raised ${message}`);
  }
  world.stats.count(`failed: ${label}`);
  return label;
}

/** Run `action` on `process` with the chain attributing its backend calls to it. */
export async function runProcessAction(world: World, process: SimProcess, action: ProcessAction, armed = ''): Promise<ActionResult> {
  // Only the lease holder (in its own view) syncs, broadcasts and applies notifications: the
  // service's timers run only while it does. A standby process can only try to take the lease.
  const effective: ProcessAction = action !== 'keepLease' && !process.running ? 'keepLease' : action;
  const work = actionWork(world, process, effective);
  if (effective === 'keepLease') process.lastKeepLeaseAt = world.clocks.now;
  world.actor = process;
  let outcome;
  try {
    outcome = await process.perform(work.run);
  } finally {
    world.actor = null;
  }
  process.disarm();
  const instead = effective === action ? '' : ` (instead of ${action}: ${process.service.currentState})`;
  const label = `${process.name} ${effective}${instead}${work.detail}${armed ? ` [${armed}]` : ''}`;
  if (outcome === 'stalled') {
    world.stats.count('stalls');
    return { text: `${label}: stalled at ${process.stall!.call.method}/${process.stall!.call.phase}`, synced: null };
  }
  if (process.dead) {
    world.stats.count('crashes');
    const cause = process.deathCause ?? 'crashed';
    const fresh = await world.replace(process, cause);
    return { text: `${label}: CRASHED ${cause}; ${fresh.name} started`, synced: null };
  }
  if (!outcome.ok) return { text: `${label}: failed (${judge(world, process.name, effective, outcome.error)})`, synced: null };
  world.stats.count(`ok: ${effective}`);
  return { text: `${label}: ok`, synced: effective === 'sync' ? process : null };
}

/** The work of one action, and what to say about it in the trace. */
function actionWork(world: World, process: SimProcess, action: ProcessAction): { run: () => Promise<unknown>; detail: string } {
  const service = process.service;
  switch (action) {
    case 'keepLease':
      return { run: () => service.keepLease(), detail: '' };
    case 'sync':
      return { run: () => service.syncOnce('btc'), detail: '' };
    case 'broadcast':
      return { run: () => service.broadcastOnce('btc'), detail: '' };
    case 'drain':
      return { run: () => service.drainNotifications('btc'), detail: '' };
    case 'dispatch':
      return { run: () => service.dispatchEvents(), detail: '' };
    case 'notify': {
      // Notifications as a node sends them: late, repeated, out of order, some never; drawn from
      // the chain's recent activity (deposits, sends, double spends, reorganised transactions).
      const recent = world.model.recent(12);
      if (recent.length === 0) return { run: () => Promise.resolve(), detail: ' (nothing to notify)' };
      const picks = Array.from({ length: world.prng.int(1, 5) }, () => world.prng.pick(recent));
      const drainNow = world.prng.chance(0.75);
      world.stats.count('notifications', picks.length);
      return {
        run: async () => {
          for (const txid of picks) service.notify('btc', txid);
          if (drainNow) await service.drainNotifications('btc');
        },
        detail: ` ${picks.map((txid) => txid.slice(0, 8)).join(',')}${drainNow ? ' +drain' : ' (queued)'}`,
      };
    }
  }
}
