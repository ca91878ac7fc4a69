/**
 * Moving money out of an account: internal transfers between accounts of one wallet (off-chain,
 * instant) and withdrawals to the network (debited at once, queued as `pending` until a broadcast
 * picks them up). Amounts are checked before anything is written; the debit is one conditional
 * statement, so no interleaving of concurrent sends can overdraw an account.
 */
import { assertValidAddress } from '../domain/address.js';
import { toBaseUnits } from '../domain/amounts.js';
import { IdempotencyKeyReused, InvalidAmount, NotFound, SameAccount } from '../domain/errors.js';
import { checkName, checkOptionalName } from '../domain/names.js';
import { emitTxUpdate } from '../events/outbox.js';
import type { AccountKey, WalletScope } from './context.js';
import { checkBalanceChange, checkNotFrozen, debitAccount, resolveAccountId } from './accounts.js';
import { externalAddressId, findAccountByAddress, findAddressRow } from './addresses.js';
import { insertTransactionRecord, postEntry, transactionSelect, writeEntry } from './entries.js';
import type { Account, Transaction } from './records.js';
import { accountFromRow, transactionFromRow } from './rows.js';

/** Options of a send. */
export interface SendOptions {
  /** Go through the network even when the address belongs to this wallet. */
  readonly forceExternal?: boolean;
  /**
   * A key chosen by the caller, unique per wallet. Sending again with the same key returns the
   * first result instead of sending twice; the same key with another amount or destination is an
   * `IdempotencyKeyReused` error.
   */
  readonly idempotencyKey?: string;
  /** Let the sender's balance go below zero (for house accounts). Off by default. */
  readonly allowNegativeBalance?: boolean;
}

/** What a request was, to compare a retried request with the stored one. */
interface RequestShape {
  readonly from: number;
  readonly amount: bigint;
  readonly address?: string;
  readonly toAccount?: number;
}

/**
 * Send to an address: internal when the address is a receiving address of this wallet (unless
 * `forceExternal`), else a withdrawal queued for broadcast.
 */
export async function send(
  scope: WalletScope,
  from: AccountKey,
  address: string,
  amount: bigint | string,
  label: string | null,
  options: SendOptions = {},
): Promise<Transaction> {
  const request = await checkRequest(scope, from, amount, label, options);
  const canonical = assertValidAddress(address, scope.context.network);
  const replay = await replayed(scope, options.idempotencyKey, { ...request, address: canonical });
  if (replay) return replay;
  if (!options.forceExternal) {
    const owner = await findAccountByAddress(scope, canonical);
    if (owner) {
      const addressRow = await findAddressRow(scope, canonical);
      return transferUnchecked(scope, request.from, owner.id, request.amount, label, options, addressRow!);
    }
  }
  return queueWithdrawal(scope, request.from, canonical, request.amount, label, options);
}

/** Queue a withdrawal to an address outside the wallet (or, forced, inside it). */
export async function withdraw(
  scope: WalletScope,
  from: AccountKey,
  address: string,
  amount: bigint | string,
  label: string | null,
  options: Omit<SendOptions, 'forceExternal'> = {},
): Promise<Transaction> {
  return send(scope, from, address, amount, label, { ...options, forceExternal: true });
}

/**
 * Move an amount between two accounts of this wallet.
 * @throws SameAccount, InsufficientBalance, BalanceOutOfRange (the receiver's balance would overflow), NotFound
 */
export async function transfer(
  scope: WalletScope,
  from: AccountKey,
  to: AccountKey,
  amount: bigint | string,
  label: string | null,
  options: Omit<SendOptions, 'forceExternal'> = {},
): Promise<Transaction> {
  const request = await checkRequest(scope, from, amount, label, options);
  const toAccount = await resolveAccountId(scope, to);
  const replay = await replayed(scope, options.idempotencyKey, { ...request, toAccount });
  if (replay) return replay;
  return transferUnchecked(scope, request.from, toAccount, request.amount, label, options, null);
}

async function checkRequest(
  scope: WalletScope,
  from: AccountKey,
  amount: bigint | string,
  label: string | null,
  options: SendOptions,
): Promise<RequestShape> {
  const units = toBaseUnits(amount, scope.context.coin);
  checkOptionalName('transaction label', label);
  if (options.idempotencyKey !== undefined) checkName('idempotency key', options.idempotencyKey);
  return { from: await resolveAccountId(scope, from), amount: units };
}

async function transferUnchecked(
  scope: WalletScope,
  from: number,
  to: number,
  amount: bigint,
  label: string | null,
  options: SendOptions,
  address: { readonly id: number; readonly address: string } | null,
): Promise<Transaction> {
  if (from === to) throw new SameAccount(from);
  // Refused before the debit, so that nothing of the transfer is written even if the caller catches
  // it. The debit and the credit check the freeze again in their own statements.
  const receiver = await lockPair(scope, from, to);
  checkNotFrozen(receiver, 'receive');
  checkBalanceChange(receiver, amount);
  await debitAccount(scope, from, amount, options.allowNegativeBalance ?? false);
  const transaction = await insertTransactionRecord(
    scope,
    {
      type: 'internal',
      state: 'done',
      amount,
      sendingAccountId: from,
      receivingAccountId: to,
      addressId: address?.id ?? null,
      label,
      idempotencyKey: options.idempotencyKey ?? null,
    },
    address?.address ?? null,
  );
  await writeEntry(scope, from, transaction.id, 'transfer_out', -amount);
  await postEntry(scope, to, transaction.id, 'transfer_in', amount, { refuseFrozen: true });
  return transaction;
}

/**
 * Read the receiver, locking both accounts in id order first (PostgreSQL): two transfers in
 * opposite directions between the same accounts then wait for each other instead of each locking
 * one row and deadlocking. (SQLite's write lock already serialises writers.) @throws NotFound
 */
async function lockPair(scope: WalletScope, from: number, to: number): Promise<Account> {
  const lock = scope.context.engine === 'postgres' ? ' FOR NO KEY UPDATE' : '';
  const rows = await scope.tx.all(`SELECT * FROM ${scope.context.tables.account} WHERE wallet_id = ? AND id IN (?, ?) ORDER BY id${lock}`, [
    scope.walletId,
    from,
    to,
  ]);
  const receiver = rows.map(accountFromRow).find((account) => account.id === to);
  if (!receiver) throw new NotFound('account', to);
  return receiver;
}

async function queueWithdrawal(
  scope: WalletScope,
  from: number,
  canonical: string,
  amount: bigint,
  label: string | null,
  options: SendOptions,
): Promise<Transaction> {
  const minimum = scope.context.coin.minimumWithdrawal;
  if (amount < minimum) {
    throw new InvalidAmount(
      'below_minimum',
      `a withdrawal of ${amount} is below the coin's minimum of ${minimum} base units (the network's dust limit)`,
    );
  }
  await debitAccount(scope, from, amount, options.allowNegativeBalance ?? false);
  const addressId = await externalAddressId(scope, canonical);
  const transaction = await insertTransactionRecord(
    scope,
    {
      type: 'withdrawal',
      state: 'pending',
      amount,
      sendingAccountId: from,
      addressId,
      label,
      idempotencyKey: options.idempotencyKey ?? null,
    },
    canonical,
  );
  await writeEntry(scope, from, transaction.id, 'withdrawal', -amount);
  await emitTxUpdate(scope, transaction.id, 'queued');
  return transaction;
}

/**
 * The stored result of an earlier request with the same idempotency key, or undefined when the
 * key is new. @throws IdempotencyKeyReused when the earlier request was a different one.
 */
async function replayed(scope: WalletScope, key: string | undefined, request: RequestShape): Promise<Transaction | undefined> {
  if (key === undefined) return undefined;
  const row = await scope.tx.get(`${transactionSelect(scope)} WHERE t.wallet_id = ? AND t.idempotency_key = ?`, [scope.walletId, key]);
  if (!row) return undefined;
  const earlier = transactionFromRow(row);
  const differences: string[] = [];
  if (earlier.sendingAccountId !== request.from) differences.push('sending account');
  if (earlier.amount !== request.amount) differences.push(`amount (${earlier.amount} before, ${request.amount} now)`);
  if (request.address !== undefined && earlier.address !== request.address) differences.push('address');
  if (request.toAccount !== undefined && earlier.receivingAccountId !== request.toAccount) differences.push('receiving account');
  if (differences.length > 0) throw new IdempotencyKeyReused(key, `different ${differences.join(', ')}`);
  return earlier;
}
