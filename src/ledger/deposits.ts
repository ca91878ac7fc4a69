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
import { emitTxUpdate } from '../events/outbox.js';
import type { CoinScope, WalletScope } from './context.js';
import { findTransaction, insertTransaction, postEntry } from './entries.js';
import type { Transaction } from './records.js';
import { nowText, toBigint, toId } from './rows.js';

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
  const txid = checkTxid(report.txid);
  if (!Number.isSafeInteger(report.confirmations)) {
    throw new InvalidDeposit(`confirmations of ${txid} must be an integer, got ${String(report.confirmations)}`);
  }
  const amounts = await ourOutputs(scope, report);
  if (amounts.size === 0) return [];
  const conflicted = report.confirmations < 0;
  // A conflicted transaction's count is how deep its conflict is buried: tracking stops once it
  // reaches the tracking limit, like a confirmed one's.
  const confirmations = Math.abs(report.confirmations);
  const upserted = await upsertNetworkTransaction(scope, txid, confirmations, conflicted, report.readingSeq);
  if (upserted === 'stale') return [];
  const { id: networkTransactionId, changed } = upserted;
  const creditable = !conflicted && confirmations >= scope.context.coin.confirmationThreshold;
  const updates: DepositUpdate[] = [];
  for (const [addressId, output] of amounts) {
    const walletScope: WalletScope = { ...scope, walletId: output.walletId };
    const applied = await applyDeposit(walletScope, networkTransactionId, addressId, output, creditable);
    const { id } = applied;
    const change: DepositChange = applied.change === 'confirmations' && !changed ? 'unchanged' : applied.change;
    if (change !== 'unchanged') await emitTxUpdate(scope, id, change);
    const transaction = (await findTransaction(walletScope, id))!;
    updates.push({ transaction, confirmations, conflicted, credited: transaction.state === 'credited', change });
  }
  return updates;
}

export function checkTxid(txid: unknown): string {
  if (typeof txid !== 'string' || !TXID.test(txid)) throw new InvalidTxid(String(txid));
  return txid.toLowerCase();
}

interface OurOutput {
  readonly walletId: number;
  readonly accountId: number;
  amount: bigint;
}

/** Sum the outputs per receiving address of ours (a transaction may pay one address twice). */
async function ourOutputs(scope: CoinScope, report: DepositReport): Promise<Map<number, OurOutput>> {
  const byAddress = new Map<string, bigint>();
  for (const output of report.outputs) {
    checkAmount(output.amount, scope.context.coin);
    const check = validateAddress(output.address, scope.context.network);
    // Addresses we cannot parse (other script types) can never be ours: we store only valid ones.
    if (!check.ok) continue;
    byAddress.set(check.address, (byAddress.get(check.address) ?? 0n) + output.amount);
  }
  const ours = new Map<number, OurOutput>();
  if (byAddress.size === 0) return ours;
  const addresses = [...byAddress.keys()];
  const rows = await scope.tx.all<{ id: bigint; address: string; wallet_id: bigint; account_id: bigint }>(
    `SELECT id, address, wallet_id, account_id FROM ${scope.context.tables.address}
     WHERE account_id IS NOT NULL AND address IN (${addresses.map(() => '?').join(', ')})`,
    addresses,
  );
  const rowByAddress = new Map(rows.map((row) => [row.address, row]));
  // In the order the outputs came, so updates (and later events) follow the transaction's layout.
  for (const [address, amount] of byAddress) {
    const row = rowByAddress.get(address);
    if (!row) continue;
    ours.set(toId(row.id), {
      walletId: toId(row.wallet_id),
      accountId: toId(row.account_id),
      amount: checkAmount(amount, scope.context.coin),
    });
  }
  return ours;
}

async function upsertNetworkTransaction(
  scope: CoinScope,
  txid: string,
  confirmations: number,
  conflicted: boolean,
  readingSeq: number | undefined,
): Promise<{ id: number; changed: boolean } | 'stale'> {
  const table = scope.context.tables.networkTransaction;
  const state = conflicted ? 'conflicted' : 'seen';
  const now = nowText();
  const existing = await scope.tx.get<{ id: bigint; confirmations: number | bigint; state: string; reading_seq: unknown }>(
    `SELECT id, confirmations, state, reading_seq FROM ${table} WHERE transaction_type = 'deposit' AND txid = ?`,
    [txid],
  );
  if (!existing) {
    const row = await scope.tx.get<{ id: bigint }>(
      `INSERT INTO ${table} (transaction_type, txid, state, confirmations, reading_seq, created_at, updated_at)
       VALUES ('deposit', ?, ?, ?, ?, ?, ?) RETURNING id`,
      [txid, state, confirmations, readingSeq ?? 0, now, now],
    );
    return { id: toId(row!.id), changed: true };
  }
  const storedSeq = Number(existing.reading_seq);
  if (readingSeq !== undefined && readingSeq < storedSeq) return 'stale';
  const changed = Number(existing.confirmations) !== confirmations || existing.state !== state;
  if (changed) {
    await scope.tx.run(`UPDATE ${table} SET confirmations = ?, state = ?, reading_seq = ?, updated_at = ? WHERE id = ?`, [
      confirmations,
      state,
      Math.max(storedSeq, readingSeq ?? 0),
      now,
      existing.id,
    ]);
  }
  return { id: toId(existing.id), changed };
}

async function applyDeposit(
  scope: WalletScope,
  networkTransactionId: number,
  addressId: number,
  output: OurOutput,
  creditable: boolean,
): Promise<{ id: number; change: DepositChange }> {
  const table = scope.context.tables.transaction;
  const existing = await scope.tx.get<{ id: bigint; state: string; amount: bigint; receiving_account_id: bigint }>(
    `SELECT id, state, amount, receiving_account_id FROM ${table}
     WHERE type = 'deposit' AND network_transaction_id = ? AND address_id = ?`,
    [networkTransactionId, addressId],
  );
  if (!existing) {
    const id = await insertTransaction(scope, {
      type: 'deposit',
      state: 'incoming',
      amount: output.amount,
      receivingAccountId: output.accountId,
      addressId,
      networkTransactionId,
    });
    if (creditable) {
      await setCredited(scope, id, output.accountId, output.amount, true);
      return { id, change: 'credited' };
    }
    return { id, change: 'created' };
  }
  const id = toId(existing.id);
  if (toBigint(existing.amount) !== output.amount) {
    // A transaction's outputs never change; a different amount means the backend is wrong.
    throw new InvalidDeposit(`deposit ${id} was recorded with ${existing.amount} base units, now reported as ${output.amount}`);
  }
  const accountId = toId(existing.receiving_account_id);
  const credited = existing.state === 'credited';
  if (creditable && !credited) {
    await setCredited(scope, id, accountId, output.amount, true);
    return { id, change: 'credited' };
  }
  if (!creditable && credited) {
    await setCredited(scope, id, accountId, output.amount, false);
    return { id, change: 'reversed' };
  }
  return { id, change: 'confirmations' };
}

/** Credit or reverse a deposit: state change plus a journal entry of ± amount. */
async function setCredited(scope: WalletScope, id: number, accountId: number, amount: bigint, credit: boolean): Promise<void> {
  const now = nowText();
  const changed = await scope.tx.run(
    `UPDATE ${scope.context.tables.transaction} SET state = ?, credited_at = ?, updated_at = ?
     WHERE id = ? AND wallet_id = ? AND state = ?`,
    [credit ? 'credited' : 'incoming', credit ? now : null, now, id, scope.walletId, credit ? 'incoming' : 'credited'],
  );
  if (changed !== 1) throw new Error(`deposit ${id} changed state under us`);
  await postEntry(scope, accountId, id, credit ? 'deposit_credit' : 'deposit_reversal', credit ? amount : -amount);
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
