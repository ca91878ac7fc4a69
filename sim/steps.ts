/**
 * The step catalogue: one step of a run is chosen by the PRNG among those that apply now, with
 * fixed weights, and does one thing to the world — to the chain (payments, blocks,
 * reorganisations, double spends), to the node (down, one-shot faults, answer cap), to the users'
 * and operator's ledger (withdrawals, transfers, retries, cancellations, verdicts on vetted
 * broadcasts, scans, imports), to time, or to a helper-service process (lease, sync, broadcast,
 * notifications, crashes, stalls, kills).
 */
import type { InjectedFailure, MemoryMethod } from '../src/backends/memory/index.js';
import type { BalanceImport } from '../src/ledger/balance-import.js';
import { resolveBroadcast } from '../src/service/broadcast-reconciler.js';
import { broadcastSettledCheck } from '../src/service/timings.js';
import { type ProcessAction, judge, runProcessAction } from './actions.js';
import { AuditFailure } from './auditor.js';
import type { CallTrigger } from './crash.js';
import type { ActionOutcome } from './interceptor.js';
import type { SimProcess } from './sim-process.js';
import { HOUSE, LEASE_TTL_MS, LEDGER_WALLET, type World } from './world.js';

/** What a step did: a line of the trace, and who completed a sync that saw the whole chain. */
export interface StepOutcome {
  readonly text: string;
  /** A helper-service process whose sync completed (the caller checks it held the lease). */
  readonly syncedBy?: SimProcess | null;
  /** A full scan of the application completed: it saw the whole chain. */
  readonly fullScan?: boolean;
}

type StepKind =
  | 'pay'
  | 'mine'
  | 'reorg'
  | 'doubleSpend'
  | 'withdraw'
  | 'oversizedWithdraw'
  | 'transfer'
  | 'keepLease'
  | 'sync'
  | 'broadcast'
  | 'notify'
  | 'drain'
  | 'dispatch'
  | 'clock'
  | 'clockPastLease'
  | 'nodeDown'
  | 'fault'
  | 'answerCap'
  | 'crash'
  | 'kill'
  | 'stall'
  | 'resume'
  | 'retryRefused'
  | 'cancelWithdrawal'
  | 'resolveVetting'
  | 'carelessVerdict'
  | 'scan'
  | 'importBalance'
  | 'newAddress'
  | 'race'
  | 'pause';

/** Smallest withdrawal the coin takes (BTC's dust limit). */
const MINIMUM_WITHDRAWAL = 546n;

/** Run one step chosen by the PRNG. */
export async function runStep(world: World): Promise<StepOutcome> {
  const ledger = await ledgerFacts(world);
  const active = world.activeProcesses;
  const weights: Record<StepKind, number> = {
    pay: 10,
    mine: 10,
    reorg: world.chain.height > 0 ? 4 : 0,
    doubleSpend: world.model.unconfirmedDeposits().length > 0 ? 3 : 0,
    withdraw: 8,
    oversizedWithdraw: 0.7,
    transfer: 3,
    keepLease: active.length > 0 ? 3 : 0,
    sync: active.length > 0 ? 14 : 0,
    broadcast: active.length > 0 ? 14 : 0,
    notify: active.length > 0 ? 6 : 0,
    drain: active.length > 0 ? 1.5 : 0,
    dispatch: active.length > 0 ? 0.5 : 0,
    clock: 6,
    clockPastLease: 1.5,
    nodeDown: world.downUntilStep > world.step ? 0 : 1,
    fault: 3,
    answerCap: 0.7,
    crash: active.length > 0 ? 4 : 0,
    kill: active.length > 0 ? 0.7 : 0,
    stall: active.length > 0 ? 2 : 0,
    resume: world.stalledProcesses.length > 0 ? 3 : 0,
    retryRefused: ledger.refused.length > 0 ? 2 : 0,
    cancelWithdrawal: ledger.refused.length + ledger.pending.length > 0 ? 1.5 : 0,
    resolveVetting: ledger.vetting.length > 0 ? 3 : 0,
    carelessVerdict: ledger.vetting.length > 0 ? 0.5 : 0,
    scan: 0.7,
    importBalance: 0.4,
    newAddress: 0.5,
    race: 4,
    pause: active.some((process) => process.running) ? 3 : 0,
  };
  const kind = world.prng.weighted(weights);
  world.stats.count(`step: ${kind}`);
  switch (kind) {
    case 'pay':
      return pay(world);
    case 'mine':
      return mine(world);
    case 'reorg':
      return reorganise(world);
    case 'doubleSpend':
      return doubleSpend(world);
    case 'withdraw':
      return withdraw(world);
    case 'oversizedWithdraw':
      return oversizedWithdraw(world);
    case 'transfer':
      return transfer(world);
    case 'keepLease':
    case 'sync':
    case 'broadcast':
    case 'notify':
    case 'drain':
    case 'dispatch':
      return processStep(world, kind);
    case 'clock':
      return advance(world, world.prng.int(200, 8_000), 'clock');
    case 'clockPastLease':
      world.stats.count('fault: clock past the lease');
      return advance(world, LEASE_TTL_MS + world.prng.int(1, 20_000), 'clock past the lease');
    case 'nodeDown':
      world.chain.setDown(true);
      world.downUntilStep = world.step + world.prng.int(1, 6);
      world.stats.count('fault: node down');
      return { text: `node down until step ${world.downUntilStep}` };
    case 'fault':
      return injectFault(world);
    case 'answerCap': {
      const cap = world.prng.int(0, 3);
      world.chain.setAnswerCap(cap);
      world.capUntilStep = world.step + world.prng.int(2, 10);
      world.stats.count('fault: answer cap');
      return { text: `answer cap ${cap} transactions until step ${world.capUntilStep}` };
    }
    case 'crash':
      return crash(world);
    case 'kill': {
      // A paused process may be killed too: it never goes on.
      const victim = world.prng.pick(world.processes.filter((process) => !process.dead));
      world.stats.count('kills at rest');
      const fresh = await world.replace(victim, 'killed at rest');
      return { text: `${victim.name} killed at rest; ${fresh.name} started` };
    }
    case 'stall':
      return stall(world);
    case 'resume':
      return resume(world);
    case 'retryRefused':
      return operatorAction(world, 'retry', world.prng.pick(ledger.refused));
    case 'cancelWithdrawal':
      return operatorAction(world, 'cancel', world.prng.pick([...ledger.refused, ...ledger.pending]));
    case 'resolveVetting':
      return resolveVetting(world, world.prng.pick(ledger.vetting), false);
    case 'carelessVerdict':
      return resolveVetting(world, world.prng.pick(ledger.vetting), true);
    case 'scan':
      return scan(world);
    case 'importBalance':
      return importBalance(world);
    case 'race':
      return race(world);
    case 'pause':
      return pause(world);
    case 'newAddress': {
      const account = world.prng.pick([...world.accounts.keys()]);
      try {
        const address = await world.createAddress(account);
        return { text: `new address ${address.slice(0, 16)}… for ${account}` };
      } catch (error) {
        return { text: `new address for ${account}: failed (${judge(world, 'application', 'createReceivingAddress', error)})` };
      }
    }
  }
}

/**
 * The service's lease task: every third of the TTL each process that can act renews (or tries to
 * take) the lease, as its timer would; one time in ten the timer is late (a busy event loop).
 * Lease losses then come from what the steps do: pauses, crashes, jumps of the clock.
 */
export async function leaseTimers(world: World): Promise<string[]> {
  const lines: string[] = [];
  for (const process of world.activeProcesses) {
    if (world.clocks.now - process.lastKeepLeaseAt < LEASE_TTL_MS / 3) continue;
    if (world.prng.chance(0.1)) continue;
    lines.push(`   timer: ${(await runProcessAction(world, process, 'keepLease')).text}`);
  }
  return lines;
}

/** Withdrawal ids by state, and broadcasts under vetting, as the ledger holds them now. */
async function ledgerFacts(
  world: World,
): Promise<{ refused: number[]; pending: number[]; vetting: { id: number; comment: string | null }[] }> {
  return world.application.coin('btc').read(async (book) => {
    const wallet = await book.wallet(LEDGER_WALLET);
    return {
      refused: (await wallet.refusedWithdrawals()).map((withdrawal) => withdrawal.id),
      pending: (await wallet.pendingWithdrawals()).map((withdrawal) => withdrawal.id),
      vetting: (await wallet.listBroadcasts(['vetting'])).map((broadcast) => ({ id: broadcast.id, comment: broadcast.comment })),
    };
  });
}

// --- the chain ------------------------------------------------------------------------------

/** An outside payment to one to three of our addresses (sometimes one of them twice). */
function pay(world: World): StepOutcome {
  const addresses = [...world.model.ourAddresses.keys()];
  const outputs = Array.from({ length: world.prng.int(1, 3) }, () => ({
    address: world.prng.pick(addresses),
    amount: world.prng.bigint(20_000n, 5_000_000n),
  }));
  const txid = world.chain.payMany(outputs);
  world.model.noteDeposit(txid);
  world.auditor.observeChain();
  world.stats.count('deposits paid');
  return { text: `pay ${txid.slice(0, 8)}: ${outputs.map((o) => `${o.amount}→${world.model.ourAddresses.get(o.address)}`).join(', ')}` };
}

/** One to three blocks; sometimes empty ones (miners that ignore the mempool). */
function mine(world: World): StepOutcome {
  const blocks = world.prng.int(1, 3);
  const empty = world.prng.chance(0.2);
  if (empty) world.chain.mineEmpty(blocks);
  else world.chain.mine(blocks);
  world.auditor.observeChain();
  return { text: `mine ${blocks}${empty ? ' empty' : ''} → height ${world.chain.height}` };
}

/**
 * A reorganisation 1–6 deep: the blocks are disconnected (their transactions back to the
 * mempool), then a longer branch without them replaces them, or one that confirms them again, or
 * none yet (a node that invalidated the blocks).
 */
function reorganise(world: World): StepOutcome {
  const depth = world.prng.int(1, Math.min(6, world.chain.height));
  const returned = world.chain.reorg(depth);
  // The node may be read between the disconnection and the new branch.
  world.auditor.observeChain();
  const branch = world.prng.weighted({ empty: 5, confirming: 3, none: 2 });
  if (branch === 'empty') world.chain.mineEmpty(depth + 1);
  if (branch === 'confirming') world.chain.mine(depth + 1);
  world.auditor.observeChain();
  world.stats.count('fault: reorganisation');
  return { text: `reorg ${depth} deep (${returned.length} txs back to the mempool), new branch: ${branch} → height ${world.chain.height}` };
}

/** A payment to us, still unconfirmed, double-spent by its payer. */
function doubleSpend(world: World): StepOutcome {
  const victim = world.prng.pick(world.model.unconfirmedDeposits());
  const conflict = world.chain.doubleSpend(victim);
  world.model.noteTransaction(conflict);
  world.auditor.observeChain();
  world.stats.count('fault: double spend');
  return { text: `double spend of ${victim.slice(0, 8)} by ${conflict.slice(0, 8)}` };
}

// --- users ----------------------------------------------------------------------------------

/**
 * A user with credited money withdraws part of it, to an address of its own: outside, or now and
 * then a fresh receiving address of ours (a send to ourselves is both a broadcast and a deposit).
 */
async function withdraw(world: World): Promise<StepOutcome> {
  let address = world.chain.externalAddress();
  if (world.prng.chance(0.08)) {
    const owner = world.prng.pick([...world.accounts.keys()]);
    try {
      address = await world.createAddress(owner);
    } catch (error) {
      return { text: `withdraw to ourselves: no address (${judge(world, 'application', 'createReceivingAddress', error)})` };
    }
  }
  const pickAmount = (balance: bigint) => world.prng.bigint(MINIMUM_WITHDRAWAL, balance < 3_000_000n ? balance : 3_000_000n);
  const users = [...world.accounts.keys()];
  const start = world.prng.int(0, users.length - 1);
  const queued = await world.application.coin('btc').transaction(async (book) => {
    const wallet = await book.wallet(LEDGER_WALLET);
    for (let i = 0; i < users.length; i++) {
      const name = users[(start + i) % users.length]!;
      const account = await wallet.getAccount(world.accounts.get(name)!);
      if (account.balance < MINIMUM_WITHDRAWAL) continue;
      const amount = pickAmount(account.balance);
      return { name, transaction: await wallet.withdraw(account, address, amount, `withdrawal of ${name}`) };
    }
    return undefined;
  });
  if (!queued) return { text: 'withdraw: nobody has money' };
  const { name, transaction } = queued;
  world.model.noteWithdrawal({ id: transaction.id, address, amount: transaction.amount, account: name });
  world.stats.count('withdrawals queued');
  const ours = world.model.ourAddresses.get(address);
  if (ours !== undefined) world.stats.count('withdrawals to ourselves');
  return { text: `withdrawal ${transaction.id}: ${name} ${transaction.amount}${ours === undefined ? '' : ` to ${ours}'s new address`}` };
}

/** The house withdraws more than the node wallet holds: the node refuses it. */
async function oversizedWithdraw(world: World): Promise<StepOutcome> {
  const address = world.chain.externalAddress();
  const holds = world.model.nodeBalance(0);
  const amount = (holds > 0n ? holds : 0n) + world.prng.bigint(1_000_000n, 100_000_000n);
  const transaction = await world.application
    .coin('btc')
    .transaction(async (book) =>
      (await book.wallet(LEDGER_WALLET)).withdraw(world.accounts.get(HOUSE)!, address, amount, 'oversized', { allowNegativeBalance: true }),
    );
  world.model.noteWithdrawal({ id: transaction.id, address, amount, account: HOUSE });
  world.stats.count('withdrawals queued');
  world.stats.count('fault: oversized withdrawal');
  return { text: `withdrawal ${transaction.id}: house ${amount}, more than the node holds (${holds})` };
}

/** An off-chain transfer between two accounts. */
async function transfer(world: World): Promise<StepOutcome> {
  const names = world.prng.shuffle([...world.accounts.keys()]);
  const [from, to] = [names[0]!, names[1]!];
  const done = await world.application.coin('btc').transaction(async (book) => {
    const wallet = await book.wallet(LEDGER_WALLET);
    const account = await wallet.getAccount(world.accounts.get(from)!);
    if (account.balance <= 0n) return undefined;
    const amount = world.prng.bigint(1n, account.balance);
    await wallet.transfer(account, world.accounts.get(to)!, amount, 'transfer');
    return amount;
  });
  return { text: done === undefined ? `transfer: ${from} has nothing` : `transfer ${done} ${from}→${to}` };
}

// --- time and the node ----------------------------------------------------------------------

function advance(world: World, ms: number, what: string): StepOutcome {
  world.clocks.advance(ms);
  return { text: `${what} +${ms} ms` };
}

/** Methods whose next call can be made to fail, and how. */
const FAULTS: readonly [MemoryMethod, InjectedFailure][] = [
  ['changesSince', 'down'],
  ['changesSince', 'garbage'],
  ['changesSince', 'too_large'],
  ['readTransactions', 'down'],
  ['readTransactions', 'garbage'],
  ['readTransactions', 'too_large'],
  ['listReceived', 'down'],
  ['listReceived', 'garbage'],
  ['chainTip', 'down'],
  ['chainTip', 'garbage'],
  ['findByComment', 'down'],
  ['findByComment', 'garbage'],
  ['sendMany', 'down'],
  // The answer is lost after the node sent the transaction.
  ['sendMany', 'garbage'],
  ['sendMany', 'garbage'],
];

function injectFault(world: World): StepOutcome {
  const [method, failure] = world.prng.pick(FAULTS);
  world.chain.failNext(method, failure);
  world.stats.count(`fault: ${method} ${String(failure)}`);
  return { text: `next ${method} fails: ${String(failure)}` };
}

// --- helper-service processes ---------------------------------------------------------------

/**
 * A process for a service action: mostly one that believes it holds the lease (a standby
 * service runs no timers, so only its lease task would act), sometimes any.
 */
function pickProcess(world: World): SimProcess {
  const running = world.activeProcesses.filter((process) => process.running);
  return running.length > 0 && world.prng.chance(0.85) ? world.prng.pick(running) : world.prng.pick(world.activeProcesses);
}

async function processStep(world: World, action: ProcessAction): Promise<StepOutcome> {
  const process = pickProcess(world);
  const result = await runProcessAction(world, process, action);
  return { text: result.text, syncedBy: result.synced };
}

/** Calls a crash or stall may be armed at; an absent method means any call. */
const CALLS: readonly (MemoryMethod | undefined)[] = [
  undefined,
  'sendMany',
  'sendMany',
  'sendMany',
  'changesSince',
  'readTransactions',
  'findByComment',
  'chainTip',
  'listReceived',
];

function callTrigger(world: World, methods: readonly (MemoryMethod | undefined)[]): CallTrigger {
  const method = world.prng.pick(methods);
  return { ...(method === undefined ? {} : { method }), phase: world.prng.chance(0.5) ? 'before' : 'after', skip: world.prng.int(0, 2) };
}

/**
 * Arm a crash at a random await of a money path (an SQL statement, or before or after a backend
 * call), or a database error that the process survives, and run a money path.
 */
async function crash(world: World): Promise<StepOutcome> {
  const process = pickProcess(world);
  const where = world.prng.weighted({ statement: 4, call: 4, databaseFault: 2 });
  const armed =
    where === 'statement'
      ? process.armStatementCrash(world.prng.int(0, 20))
      : where === 'call'
        ? process.armCallCrash(callTrigger(world, CALLS))
        : process.armStatementFault(world.prng.int(0, 30), world.prng.chance(0.5) ? 'busy' : 'io');
  const action = world.prng.weighted({ broadcast: 5, sync: 4, notify: 2, keepLease: 1 } satisfies Partial<Record<ProcessAction, number>>);
  world.stats.count(where === 'databaseFault' ? 'fault: database error armed' : 'crashes armed');
  const result = await runProcessAction(world, process, action, armed);
  return { text: result.text, syncedBy: result.synced };
}

/** Stop a process at a backend call (a pause, a slow node) while the world goes on. */
async function stall(world: World): Promise<StepOutcome> {
  const process = pickProcess(world);
  const armed = process.armStall(
    callTrigger(world, [undefined, 'sendMany', 'sendMany', 'sendMany', 'changesSince', 'readTransactions', 'findByComment']),
  );
  const action = world.prng.weighted({ broadcast: 3, sync: 2, notify: 1 } satisfies Partial<Record<ProcessAction, number>>);
  const result = await runProcessAction(world, process, action, armed);
  return { text: result.text, syncedBy: result.synced };
}

/** A stalled process goes on where it stopped, however much later. */
async function resume(world: World): Promise<StepOutcome> {
  return { text: (await resumeProcess(world, world.prng.pick(world.stalledProcesses))).text };
}

/** Let a stalled process go on and judge how its action ended (`completed`: it succeeded). */
async function resumeProcess(world: World, process: SimProcess): Promise<{ text: string; completed: boolean }> {
  const at = `${process.stall!.call.method}/${process.stall!.call.phase}`;
  world.actor = process;
  let outcome;
  try {
    outcome = await process.resume();
  } finally {
    world.actor = null;
  }
  world.stats.count('resumes');
  const label = `${process.name} resumed at ${at}`;
  if (process.dead) {
    world.stats.count('crashes');
    const fresh = await world.replace(process, process.deathCause ?? 'crashed');
    return { text: `${label}: CRASHED; ${fresh.name} started`, completed: false };
  }
  if (!outcome.ok) return { text: `${label}: failed (${judge(world, process.name, 'resumed action', outcome.error)})`, completed: false };
  return { text: `${label}: ok`, completed: true };
}

// --- the operator -----------------------------------------------------------------------------

async function operatorAction(world: World, action: 'retry' | 'cancel', id: number): Promise<StepOutcome> {
  try {
    await world.application.coin('btc').transaction(async (book) => {
      const wallet = await book.wallet(LEDGER_WALLET);
      return action === 'retry' ? wallet.retryWithdrawal(id) : wallet.cancelWithdrawal(id);
    });
    world.stats.count(`operator: ${action}`);
    return { text: `operator ${action} withdrawal ${id}: ok` };
  } catch (error) {
    return { text: `operator ${action} withdrawal ${id}: ${judge(world, 'operator', action, error, true)}` };
  }
}

/**
 * The operator's verdict on a broadcast under vetting. Careful: looks at the chain for a send
 * with the broadcast's comment (sent, with its txid and fee) and says "not sent" otherwise.
 * Careless: says "not sent" without looking; the product must refuse that for a sent broadcast.
 */
export async function resolveVetting(
  world: World,
  broadcast: { id: number; comment: string | null },
  careless: boolean,
): Promise<StepOutcome> {
  const found = broadcast.comment === null || careless ? undefined : world.model.sendWithComment(broadcast.comment);
  const verdict = found ? { sent: { txid: found.txid, fee: found.fee } } : ({ notSent: true } as const);
  const app = world.application;
  const what = `${careless ? 'careless ' : ''}verdict on broadcast ${broadcast.id}: ${found ? `sent as ${found.txid.slice(0, 8)}` : 'not sent'}`;
  const outcome = await world.asApplication(() =>
    resolveBroadcast(app.coin('btc'), LEDGER_WALLET, broadcast.id, verdict, broadcastSettledCheck(app.database, LEASE_TTL_MS, 0)),
  );
  if (outcome === 'stalled') throw new Error('resolve-broadcast stalled outside a race step');
  if (!outcome.ok) return { text: `${what}: ${judge(world, 'operator', 'resolve-broadcast', outcome.error, true)}` };
  world.stats.count(`operator: ${careless ? 'careless ' : ''}verdict`);
  return { text: `${what}: ok` };
}

/** `scan-received` run beside the service: a full, unfenced reading of the whole history. */
async function scan(world: World): Promise<StepOutcome> {
  let transactions = 0;
  const outcome = await world.asApplication(async () => {
    transactions = (await world.application.coin('btc').scanReceived()).transactions;
  });
  return describeScan(world, outcome, () => `${transactions} transactions`);
}

/** The trace line of an application scan, and whether it saw the whole chain. */
function describeScan(world: World, outcome: ActionOutcome | 'stalled', detail: () => string): StepOutcome {
  if (outcome === 'stalled') throw new Error('an application scan stalled outside a race step');
  if (!outcome.ok) return { text: `scan-received: failed (${judge(world, 'application', 'scan-received', outcome.error)})` };
  world.stats.count('ok: full scan');
  return { text: `scan-received: ${detail()}`, fullScan: true };
}

/**
 * `import-balance` onto the house account. In this world nothing reaches the node wallet but
 * payments to our addresses, so once the import's own scan has credited every confirmed deposit
 * the node holds nothing the ledger does not account for: the import must book exactly 0.
 */
async function importBalance(world: World): Promise<StepOutcome> {
  let result: BalanceImport | undefined;
  const outcome = await world.asApplication(async () => {
    result = await world.application.coin('btc').importBalance(LEDGER_WALLET, world.accounts.get(HOUSE)!);
  });
  if (outcome === 'stalled') throw new Error('import-balance stalled outside a race step');
  if (!outcome.ok) return { text: `import-balance: ${judge(world, 'application', 'import-balance', outcome.error, true)}` };
  world.stats.count('ok: import-balance');
  if (result!.imported !== 0n) {
    throw new AuditFailure(
      'import-balance',
      `imported ${result!.imported} although nothing reached the node wallet outside our addresses ` +
        `(node ${result!.backendBalance}, ledger expected ${result!.expectedBalance})`,
    );
  }
  return { text: `import-balance: 0 (node ${result!.backendBalance})`, fullScan: true };
}

// --- interleavings --------------------------------------------------------------------------

/**
 * A change of the chain that may change which deposits are confirmed. `forkPoint`: the node is
 * read in the middle of a reorganisation, when it has disconnected the old blocks and not yet
 * connected the new branch: its tip is an older block again (bitcoind releases its lock between
 * the steps of a reorganisation; `invalidateblock` leaves it there for good).
 */
function chainChange(world: World): StepOutcome {
  const kind = world.prng.weighted({
    reorg: world.chain.height > 0 ? 4 : 0,
    forkPoint: world.chain.height > 1 ? 2 : 0,
    mine: 3,
    doubleSpend: world.model.unconfirmedDeposits().length > 0 ? 2 : 0,
    pay: 1,
  });
  if (kind === 'forkPoint') {
    const depth = world.prng.int(1, Math.min(2, world.chain.height));
    world.chain.reorg(depth);
    world.auditor.observeChain();
    world.stats.count('fault: reorganisation');
    return { text: `reorg ${depth} deep, tip back at the fork point → height ${world.chain.height}` };
  }
  if (kind === 'reorg') return reorganise(world);
  if (kind === 'doubleSpend') return doubleSpend(world);
  if (kind === 'pay') return pay(world);
  return mine(world);
}

/**
 * Two readers of the node interleaved: the first reads (and stops right after the node
 * answered), the chain changes, the second reads and records, then the first goes on and tries
 * to record its older reading. The readers are the lease holder's sync or notification drain
 * and the application's `scan-received`, in either order. The reading register must refuse the
 * older reading (the first reader then reads again): if the second reader completed a sync, the
 * auditor demands the ledger equal to the chain as it is now.
 */
async function race(world: World): Promise<StepOutcome> {
  const holder = world.activeProcesses.find((process) => process.running) ?? null;
  const holderFirst = holder !== null && world.prng.chance(0.5);
  const holderAction: ProcessAction = world.prng.chance(0.7) ? 'sync' : 'notify';
  const trigger = (): CallTrigger => ({ method: world.prng.pick(['changesSince', 'readTransactions'] as const), phase: 'after', skip: 0 });
  const lines: string[] = [];
  let syncedBy: SimProcess | null = null;
  let fullScan = false;
  // Blocks arrive between readings: often the first reader sees one the ledger has not.
  if (world.prng.chance(0.5)) lines.push(mine(world).text);

  if (holderFirst) {
    lines.push((await runProcessAction(world, holder, holderAction, holder.armStall(trigger()))).text);
    if (holder.stall === null) return { text: `race: ${lines.join(' | ')}` };
  } else {
    world.applicationActor.interceptor.armStall(trigger());
    const outcome = await world.asApplication(() => world.application.coin('btc').scanReceived());
    if (outcome !== 'stalled') return { text: `race: ${describeScan(world, outcome, () => 'not stopped').text}` };
    lines.push(`app scan-received stopped at ${world.applicationActor.interceptor.stall!.call.method}/after`);
  }
  for (let i = world.prng.int(1, 2); i > 0; i--) lines.push(chainChange(world).text);
  if (holderFirst) {
    const second = describeScan(world, await world.asApplication(() => world.application.coin('btc').scanReceived()), () => 'ok');
    lines.push(`app ${second.text}`);
    fullScan = second.fullScan === true;
    const resumed = await resumeProcess(world, holder);
    lines.push(resumed.text);
    // The holder's resumed sync re-reads the chain when its reading is refused, which happens
    // when the application's scan applied a newer one: if it then completed, it saw the chain as
    // it is now. When the scan failed, nothing newer was applied, the holder's older reading is
    // rightly accepted, and only the window rules apply (as for the resumed scan below).
    if (holderAction === 'sync' && resumed.completed && fullScan) syncedBy = holder;
  } else {
    if (holder !== null) {
      const second = await runProcessAction(world, holder, holderAction);
      lines.push(second.text);
      syncedBy = second.synced;
    }
    // The resumed scan's reading is of the chain before the changes: unless the holder's sync
    // applied a newer one meanwhile (the scan's is then refused and read again), the ledger now
    // shows that older chain, and only the window rules apply.
    const resumed = await world.resumeApplication();
    lines.push(`app ${describeScan(world, resumed, () => 'resumed, ok').text}`);
  }
  world.stats.count('races');
  return { text: `race: ${lines.join(' | ')}`, syncedBy, fullScan };
}

/**
 * The lease holder stops at a backend call (a pause of the whole process: GC, a stopped VM, a
 * slow node) while time goes on — often past its lease — and the other process takes the lease,
 * syncs, reconciles and broadcasts, and the operator settles what it put to vetting; then the
 * first process goes on from where it stopped. Fencing and the send deadline must make whatever
 * it still tries harmless.
 */
async function pause(world: World): Promise<StepOutcome> {
  const first = world.prng.pick(world.activeProcesses.filter((process) => process.running));
  // Stop it where it will call: in a send when withdrawals wait, else in a reading.
  const sending = (await ledgerFacts(world)).pending.length > 0 && world.prng.chance(0.7);
  const action: ProcessAction = sending ? 'broadcast' : world.prng.pick(['sync', 'sync', 'notify'] as const);
  const method = sending ? 'sendMany' : action === 'sync' ? 'changesSince' : 'readTransactions';
  const trigger: CallTrigger = { method, phase: world.prng.chance(0.5) ? 'before' : 'after', skip: 0 };
  const lines = [(await runProcessAction(world, first, action, first.armStall(trigger))).text];
  if (first.stall === null) return { text: `pause: ${lines.join(' | ')}` };
  const past = world.prng.chance(0.75);
  const ms = past ? LEASE_TTL_MS + world.prng.int(1, 15_000) : world.prng.int(1_000, 10_000);
  world.clocks.advance(ms);
  lines.push(`clock +${ms} ms`);
  if (world.prng.chance(0.5)) lines.push(mine(world).text);
  const other = world.activeProcesses.find((process) => process !== first);
  let syncedBy: SimProcess | null = null;
  if (other) {
    lines.push((await runProcessAction(world, other, 'keepLease')).text);
    const sync = await runProcessAction(world, other, 'sync');
    lines.push(sync.text);
    syncedBy = sync.synced;
    const vetting = (await ledgerFacts(world)).vetting;
    for (const broadcast of vetting) if (world.prng.chance(0.7)) lines.push((await resolveVetting(world, broadcast, false)).text);
    if (world.prng.chance(0.8)) lines.push((await runProcessAction(world, other, 'broadcast')).text);
  }
  const resumed = await resumeProcess(world, first);
  lines.push(resumed.text);
  world.stats.count('pauses');
  // If the other process's sync ran under the lease and it still holds it, the resumed process
  // can have written nothing since: the ledger must still be what that sync left.
  return { text: `pause: ${lines.join(' | ')}`, syncedBy };
}
