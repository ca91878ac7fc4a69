/**
 * Deposits: a network transaction paying one or more of our receiving addresses. Recording is
 * idempotent (report the same transaction as often as the node mentions it). A deposit is credited
 * exactly once when its confirmations reach the coin's threshold; when a credited deposit falls
 * back below the threshold or is conflicted (reorganisation, double spend), the credit is reversed
 * by a new journal entry, and re-credited by another if it confirms again. History is never edited.
 */
import { checkAmount } from '../domain/amounts.js';
import { validateAddress } from '../domain/address.js';
import { CryptoAssetsError, InvalidState, InvalidTxid, NotFound } from '../domain/errors.js';
import { type TxUpdateChange, txUpdatePayload, writeTxUpdates } from '../events/outbox.js';
import type { TxUpdatePayload } from '../events/types.js';
import { adjustAccounts } from './accounts.js';
import type { CoinScope, WalletScope } from './context.js';
import {
  depositKey,
  type ExistingDeposit,
  findExistingDeposits,
  findOurAddresses,
  insertDeposits,
  type NetworkRow,
  type OurAddress,
  setDepositStates,
  upsertNetworkTransactions,
} from './deposit-writes.js';
import { findTransaction, writeEntries } from './entries.js';
import type { Transaction } from './records.js';
import { nowText } from './rows.js';

/** A deposit report from a backend or a test: what the network says about one transaction. */
export interface DepositReport {
  readonly txid: string;
  /** As the node reports it: negative when conflicted. */
  readonly confirmations: number;
  /** Outputs of the transaction; those not paying our receiving addresses are ignored. */
  readonly outputs: readonly { readonly address: string; readonly amount: bigint }[];
  /**
   * Sequence number of the node reading this report comes from (see `readings.ts`). A report
   * from an older reading than the one that last changed this transaction changes nothing.
   * Reports without one (tests, an application's own records) are applied as they come.
   */
  readonly readingSeq?: number;
}

/** What recording did to one deposit (`unchanged`: reported again as it was; no event). */
export type DepositChange = 'created' | 'credited' | 'reversed' | 'confirmations' | 'unchanged';

export interface DepositUpdate {
  readonly transaction: Transaction;
  readonly confirmations: number;
  readonly conflicted: boolean;
  /** True while the deposit counts in its account's balance. */
  readonly credited: boolean;
  /** The most significant change (credit or reversal over confirmation updates). */
  readonly change: DepositChange;
}

/** A backend reported something that contradicts what we already recorded. */
export class InvalidDeposit extends CryptoAssetsError {
  constructor(message: string) {
    super('invalid_deposit', message);
  }
}

const TXID = /^[0-9a-fA-F]{64}$/;

/** Record (or update) a deposit; see the module comment. Returns one update per affected deposit. */
export async function recordDeposit(scope: CoinScope, report: DepositReport): Promise<DepositUpdate[]> {
  return (await recordDeposits(scope, [report]))[0]!;
}

/**
 * Record the deposits of many reports (one node reading) under the rules of `recordDeposit`, in
 * a number of statements that does not grow with the batch (each statement covers up to
 * `ROWS_PER_STATEMENT` rows; see deposit-writes.ts). Every report is checked before anything is
 * written. A txid reported twice is recorded in a second pass, as if it came afterwards.
 * Returns the updates of each report, in the order of `reports`.
 * @throws InvalidTxid, InvalidDeposit, InvalidAmount (nothing written), BalanceOutOfRange
 */
export async function recordDeposits(scope: CoinScope, reports: readonly DepositReport[]): Promise<DepositUpdate[][]> {
  const checked = reports.map((report) => checkReport(scope, report));
  const results: DepositUpdate[][] = reports.map(() => []);
  let pending = checked.map((report, index) => ({ report, index }));
  while (pending.length > 0) {
    const pass: typeof pending = [];
    const later: typeof pending = [];
    const txids = new Set<string>();
    for (const item of pending) {
      (txids.has(item.report.txid) ? later : pass).push(item);
      txids.add(item.report.txid);
    }
    const updates = await recordPass(
      scope,
      pass.map((item) => item.report),
    );
    pass.forEach((item, i) => (results[item.index] = updates[i]!));
    pending = later;
  }
  return results;
}

export function checkTxid(txid: unknown): string {
  if (typeof txid !== 'string' || !TXID.test(txid)) throw new InvalidTxid(String(txid));
  return txid.toLowerCase();
}

/** A report after its checks: amounts summed per receiving address (valid addresses only). */
interface CheckedReport {
  readonly txid: string;
  readonly confirmations: number;
  readonly conflicted: boolean;
  readonly readingSeq: number | undefined;
  readonly byAddress: ReadonlyMap<string, bigint>;
}

function checkReport(scope: CoinScope, report: DepositReport): CheckedReport {
  const txid = checkTxid(report.txid);
  if (!Number.isSafeInteger(report.confirmations)) {
    throw new InvalidDeposit(`confirmations of ${txid} must be an integer, got ${String(report.confirmations)}`);
  }
  const byAddress = new Map<string, bigint>();
  for (const output of report.outputs) {
    checkAmount(output.amount, scope.context.coin);
    const check = validateAddress(output.address, scope.context.network);
    // Addresses we cannot parse (other script types) can never be ours: we store only valid ones.
    if (!check.ok) continue;
    byAddress.set(check.address, (byAddress.get(check.address) ?? 0n) + output.amount);
  }
  for (const amount of byAddress.values()) checkAmount(amount, scope.context.coin);
  return {
    txid,
    // A conflicted transaction's count is how deep its conflict is buried: tracking stops once it
    // reaches the tracking limit, like a confirmed one's.
    confirmations: Math.abs(report.confirmations),
    conflicted: report.confirmations < 0,
    readingSeq: report.readingSeq,
    byAddress,
  };
}

/** What one deposit becomes in a pass, before its row id is known (new rows). */
interface PlannedDeposit {
  readonly output: OurAddress & { readonly amount: bigint };
  readonly networkTransactionId: number;
  /** The stored row, or undefined for a deposit seen for the first time. */
  readonly existing: ExistingDeposit | undefined;
  readonly change: DepositChange;
  readonly state: 'incoming' | 'credited';
}

/** Record reports with distinct txids; see `recordDeposits`. */
async function recordPass(scope: CoinScope, reports: readonly CheckedReport[]): Promise<DepositUpdate[][]> {
  const addresses = await findOurAddresses(scope, [...new Set(reports.flatMap((report) => [...report.byAddress.keys()]))]);
  // In the order the outputs came, so updates (and events) follow the transaction's layout.
  const ours = reports.map((report) =>
    [...report.byAddress].flatMap(([address, amount]) => {
      const found = addresses.get(address);
      return found ? [{ ...found, amount }] : [];
    }),
  );
  const relevant = reports.filter((_, i) => ours[i]!.length > 0);
  const network = await upsertNetworkTransactions(scope, relevant);
  const existing = await findExistingDeposits(
    scope,
    [...network.values()].filter((row) => !row.inserted && !row.stale).map((row) => row.id),
  );
  const threshold = scope.context.coin.confirmationThreshold;
  const plans: PlannedDeposit[][] = reports.map((report, i) => {
    const row = network.get(report.txid);
    if (!row || row.stale) return [];
    const creditable = !report.conflicted && report.confirmations >= threshold;
    return ours[i]!.map((output) => planDeposit(row, output, existing.get(depositKey(row.id, output.id)), creditable));
  });
  const now = nowText();
  const flat = plans.flat();
  const newIds = await insertDeposits(
    scope,
    flat.filter((plan) => !plan.existing).map((plan) => ({ ...plan, creditedAt: plan.state === 'credited' ? now : null, now })),
  );
  const credits = flat.filter((plan) => plan.change === 'credited' || plan.change === 'reversed');
  for (const state of ['credited', 'incoming'] as const) {
    const ids = credits.filter((plan) => plan.existing && plan.state === state).map((plan) => plan.existing!.id);
    await setDepositStates(scope, ids, state, now);
  }
  const idOf = (plan: PlannedDeposit) => plan.existing?.id ?? newIds.get(depositKey(plan.networkTransactionId, plan.output.id))!;
  const postings = credits.map((plan) => ({
    walletId: plan.output.walletId,
    accountId: plan.existing?.accountId ?? plan.output.accountId,
    transactionId: idOf(plan),
    kind: plan.change === 'credited' ? ('deposit_credit' as const) : ('deposit_reversal' as const),
    amount: plan.change === 'credited' ? plan.output.amount : -plan.output.amount,
  }));
  await adjustAccounts(scope, sumPerAccount(postings));
  await writeEntries(scope, postings, now);
  const updates = reports.map((report, i) => plans[i]!.map((plan) => depositUpdate(report, plan, idOf(plan), now)));
  await writeTxUpdates(
    scope,
    updates.flatMap((list, i) =>
      list.flatMap((update) =>
        update.change === 'unchanged'
          ? []
          : [
              depositPayload(
                scope,
                update,
                plans[i]!.find((plan) => idOf(plan) === update.transaction.id)!,
              ),
            ],
      ),
    ),
  );
  return updates;
}

function planDeposit(
  network: NetworkRow,
  output: OurAddress & { readonly amount: bigint },
  existing: ExistingDeposit | undefined,
  creditable: boolean,
): PlannedDeposit {
  const base = { output, networkTransactionId: network.id, existing };
  if (!existing) return { ...base, change: creditable ? 'credited' : 'created', state: creditable ? 'credited' : 'incoming' };
  if (existing.amount !== output.amount) {
    // A transaction's outputs never change; a different amount means the backend is wrong.
    throw new InvalidDeposit(`deposit ${existing.id} was recorded with ${existing.amount} base units, now reported as ${output.amount}`);
  }
  const credited = existing.state === 'credited';
  if (creditable && !credited) return { ...base, change: 'credited', state: 'credited' };
  if (!creditable && credited) return { ...base, change: 'reversed', state: 'incoming' };
  return { ...base, change: network.changed ? 'confirmations' : 'unchanged', state: credited ? 'credited' : 'incoming' };
}

/**
 * Credits and reversals of one pass summed per account: one balance change each, listed in
 * account id order as transfers lock accounts. PostgreSQL locks in the order of its join plan, so
 * this makes a deadlock with a transfer unlikely, not impossible; one is a conflict that re-runs
 * the managed transaction.
 */
function sumPerAccount(postings: readonly { walletId: number; accountId: number; amount: bigint }[]) {
  const sums = new Map<number, { walletId: number; accountId: number; amount: bigint }>();
  for (const posting of postings) {
    const sum = sums.get(posting.accountId);
    if (sum) sum.amount += posting.amount;
    else sums.set(posting.accountId, { ...posting });
  }
  return [...sums.values()].sort((a, b) => a.accountId - b.accountId);
}

/** The deposit as it is after the pass, built from what is in hand (no read-back). */
function depositUpdate(report: CheckedReport, plan: PlannedDeposit, id: number, now: string): DepositUpdate {
  const { existing, output } = plan;
  const changedState = plan.change === 'credited' || plan.change === 'reversed';
  const nowDate = new Date(now);
  const transaction: Transaction = {
    id,
    walletId: output.walletId,
    type: 'deposit',
    state: plan.state,
    amount: output.amount,
    sendingAccountId: null,
    receivingAccountId: existing?.accountId ?? output.accountId,
    address: output.address,
    networkTransactionId: plan.networkTransactionId,
    txid: report.txid,
    label: existing?.label ?? null,
    idempotencyKey: existing?.idempotencyKey ?? null,
    creditedAt: plan.state === 'credited' ? (changedState || !existing ? nowDate : existing.creditedAt) : null,
    processedAt: existing?.processedAt ?? null,
    refusal: existing?.refusal ?? null,
    createdAt: existing?.createdAt ?? nowDate,
    updatedAt: changedState || !existing ? nowDate : existing.updatedAt,
  };
  return {
    transaction,
    confirmations: report.confirmations,
    conflicted: report.conflicted,
    credited: plan.state === 'credited',
    change: plan.change,
  };
}

/** The txupdate payload of a deposit from what is in hand: the facts the payload query would read. */
function depositPayload(scope: CoinScope, update: DepositUpdate, plan: PlannedDeposit): TxUpdatePayload {
  const { transaction } = update;
  return txUpdatePayload(
    scope,
    {
      id: transaction.id,
      type: 'deposit',
      state: transaction.state,
      amount: transaction.amount,
      network_transaction_id: transaction.networkTransactionId,
      created_at: transaction.createdAt,
      credited_at: transaction.creditedAt,
      processed_at: transaction.processedAt,
      address: transaction.address,
      txid: transaction.txid,
      confirmations: update.confirmations,
      network_state: update.conflicted ? 'conflicted' : 'seen',
      network_conflicted: 0,
      account_id: transaction.receivingAccountId,
      account_name: plan.existing?.accountName ?? plan.output.accountName,
      wallet_name: plan.existing?.walletName ?? plan.output.walletName,
      reversals: (plan.existing?.reversals ?? 0) + (plan.change === 'reversed' ? 1 : 0),
    },
    update.change as TxUpdateChange,
  );
}

/**
 * The application has handled a deposit: stop re-sending its updates. Confirmation tracking and
 * reversal go on regardless. Marking twice is harmless.
 * @throws NotFound, InvalidState (not a deposit)
 */
export async function markProcessed(scope: WalletScope, transactionId: number): Promise<Transaction> {
  const transaction = await findTransaction(scope, transactionId);
  if (!transaction) throw new NotFound('transaction', transactionId);
  if (transaction.type !== 'deposit') {
    throw new InvalidState(`transaction ${transactionId} is a ${transaction.type}; only deposits are marked processed`);
  }
  if (transaction.processedAt) return transaction;
  const now = nowText();
  await scope.tx.run(`UPDATE ${scope.context.tables.transaction} SET processed_at = ?, updated_at = ? WHERE id = ? AND wallet_id = ?`, [
    now,
    now,
    transactionId,
    scope.walletId,
  ]);
  return (await findTransaction(scope, transactionId))!;
}
