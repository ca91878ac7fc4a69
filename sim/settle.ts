/**
 * The settle phase at the end of a run: faults off, the node up, stalled processes let go and
 * every process stopped, one fresh process, the clock past every grace period. Then rounds of
 * lease, sync, operator work (a verdict on every vetted broadcast from what the chain shows,
 * retries of refused withdrawals after funding the node wallet), broadcast and a block, until
 * nothing is queued, open or in doubt. The auditor's final checks then demand that every
 * withdrawal not cancelled was paid exactly once and that the ledger equals the chain.
 */
import type { MemoryBackend } from '../src/backends/memory/index.js';
import { type ProcessAction, judge } from './actions.js';
import { AuditFailure } from './auditor.js';
import { readLedger } from './ledger-view.js';
import type { SimProcess } from './sim-process.js';
import { resolveVetting } from './steps.js';
import { LEASE_TTL_MS, LEDGER_WALLET, type World } from './world.js';

/** Rounds the settle phase may take before it is declared stuck. */
const ROUNDS_MAX = 40;
/** Fee the memory chain charges per transaction and per output. */
const FEE_PER_OUTPUT = 1_000n;

export async function settle(world: World, trace: (line: string) => void): Promise<void> {
  for (const process of world.stalledProcesses) {
    world.actor = process;
    try {
      const outcome = await process.resume();
      trace(`settle: ${process.name} resumed: ${outcome.ok ? 'ok' : judge(world, process.name, 'resumed action', outcome.error)}`);
    } finally {
      world.actor = null;
    }
  }
  world.chain.setDown(false);
  world.chain.setAnswerCap(null);
  await drainInjectedFaults(world);
  for (const process of world.processes) if (!process.dead) await process.kill('settle: stopped');
  world.processes.length = 0;
  // Past every lease and every "a send may still be on its way" grace period.
  world.clocks.advance(2 * LEASE_TTL_MS + 1_000);
  const process = await world.startProcess(0);
  world.processes.push(process);
  trace(`settle: ${process.name} started alone, faults off`);

  for (let round = 1; ; round++) {
    if (round > ROUNDS_MAX) throw new AuditFailure('settle', `still not settled after ${ROUNDS_MAX} rounds: ${await whatIsLeft(world)}`);
    await must(world, process, 'keepLease');
    if (process.service.leaseGeneration === null) throw new AuditFailure('settle', `${process.name} could not take the lease`);
    await must(world, process, 'sync');
    const facts = await world.application.coin('btc').read(async (book) => {
      const wallet = await book.wallet(LEDGER_WALLET);
      return {
        vetting: await wallet.listBroadcasts(['vetting']),
        refused: await wallet.refusedWithdrawals(),
        pending: await wallet.pendingWithdrawals(),
      };
    });
    for (const broadcast of facts.vetting) trace(`settle: ${(await resolveVetting(world, broadcast, false)).text}`);
    const queued = [...facts.refused, ...facts.pending];
    const needed = queued.reduce((sum, withdrawal) => sum + withdrawal.amount + FEE_PER_OUTPUT, 0n) + 10n * FEE_PER_OUTPUT;
    const holds = world.model.nodeBalance(0);
    if (queued.length > 0 && holds < needed) {
      const amount = needed - holds + 1_000_000n;
      const txid = world.chain.fund(world.application.coin('btc').backend as MemoryBackend, amount);
      world.model.noteFunding(txid, amount);
      trace(`settle: funded the node wallet with ${amount}`);
    }
    for (const withdrawal of facts.refused) {
      await world.application.coin('btc').transaction(async (book) => (await book.wallet(LEDGER_WALLET)).retryWithdrawal(withdrawal.id));
      trace(`settle: operator retried withdrawal ${withdrawal.id}`);
    }
    await must(world, process, 'broadcast');
    world.chain.mine(1);
    world.clocks.advance(2_000);
    const left = await whatIsLeft(world);
    trace(`settle round ${round}: ${left || 'nothing left'}`);
    if (left === '') break;
  }
  // Confirm every send and deposit past the threshold, then one last sync.
  world.chain.mine(world.threshold + 1);
  await must(world, process, 'keepLease');
  await must(world, process, 'sync');
  const ledger = await readLedger(world.auditorApp);
  const wallet = ledger.check.coins[0]?.wallets.find((candidate) => candidate.wallet === LEDGER_WALLET);
  if (!wallet) throw new AuditFailure('settle', 'the ledger check did not report the wallet');
  world.auditor.finalChecks(ledger, wallet.walletBalance, wallet.imports, wallet.fees);
}

/** A settle-phase action of the one process: any failure is a failure of the run. */
async function must(world: World, process: SimProcess, action: ProcessAction): Promise<void> {
  const run = {
    keepLease: () => process.service.keepLease(),
    sync: () => process.service.syncOnce('btc'),
    broadcast: () => process.service.broadcastOnce('btc'),
    drain: () => process.service.drainNotifications('btc'),
    dispatch: () => process.service.dispatchEvents(),
    notify: () => Promise.resolve(),
  }[action];
  world.actor = process;
  try {
    await run();
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new AuditFailure('settle', `${process.name} ${action} failed with faults off: ${message}`);
  } finally {
    world.actor = null;
  }
}

/** Withdrawals and broadcasts not settled yet, in words; empty when none. */
async function whatIsLeft(world: World): Promise<string> {
  const ledger = await readLedger(world.auditorApp);
  const unsettled = [...ledger.withdrawals.values()].filter((row) => row.state !== 'broadcasted' && row.state !== 'cancelled');
  const open = [...ledger.broadcasts.values()].filter((row) => row.state === 'opened' || row.state === 'vetting');
  const parts = [];
  if (unsettled.length > 0) parts.push(`withdrawals ${unsettled.map((row) => `${row.id}:${row.state}`).join(' ')}`);
  if (open.length > 0) parts.push(`broadcasts ${open.map((row) => `${row.id}:${row.state}`).join(' ')}`);
  return parts.join('; ');
}

/** Consume one-shot failures still queued, with calls that change nothing on the chain. */
async function drainInjectedFaults(world: World): Promise<void> {
  const backend = world.application.coin('btc').backend;
  const harmless = [
    () => backend.changesSince(world.chain.tip, 0),
    () => backend.readTransactions([]),
    () => backend.listReceived(null, 1),
    () => backend.chainTip(),
    () => backend.findByComment!('no such comment'),
    // Refused for having no outputs: nothing is sent, even when the failure is "garbage".
    () => backend.sendMany([], { comment: 'no outputs' }),
  ];
  for (let pass = 0; pass < 50 && world.chain.pendingFailures > 0; pass++) {
    for (const call of harmless) await call().catch(() => undefined);
  }
  if (world.chain.pendingFailures > 0) throw new Error('could not consume the injected failures');
}
