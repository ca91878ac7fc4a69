/**
 * Transfers and withdrawals in batches, all or nothing. Every request is checked here first
 * (amount, label, key, address, the coin's minimum withdrawal), naming the batch item that is
 * wrong; then:
 * - on PostgreSQL, the whole batch is one call of the coin's server-side function (schema 5, see
 *   store/postgres/ledger-functions.ts): one round trip, accounts locked in id order, refusals
 *   answered as a row and turned back into the typed errors here;
 * - on SQLite, the requests run one after another through the TypeScript path (transfers.ts)
 *   inside a savepoint, so a refused item leaves nothing of the batch written, even for a caller
 *   that catches the error and commits.
 */
import { assertValidAddress } from '../domain/address.js';
import { formatAmount, toBaseUnits } from '../domain/amounts.js';
import {
  AccountFrozen,
  BalanceOutOfRange,
  CryptoAssetsError,
  IdempotencyKeyReused,
  InsufficientBalance,
  InvalidAmount,
  InvalidArgument,
  NotFound,
  SameAccount,
} from '../domain/errors.js';
import { checkName, checkOptionalName } from '../domain/names.js';
import type { SqlExecutor } from '../store/database.js';
import { coinFunctions } from '../store/migrations.js';
import type { AccountKey, CoinContext, WalletScope } from './context.js';
import { accountIdOf } from './context.js';
import type { Transaction } from './records.js';
import { nowText, toId, transactionFromRow } from './rows.js';
import * as transfers from './transfers.js';

/** One transfer of a batch (see `WalletBook.transferMany`). */
export interface TransferRequest {
  readonly from: AccountKey;
  readonly to: AccountKey;
  readonly amount: bigint | string;
  readonly label?: string | null;
  readonly idempotencyKey?: string;
  readonly allowNegativeBalance?: boolean;
}

/** One withdrawal of a batch (see `WalletBook.withdrawMany`). */
export interface WithdrawalRequest {
  readonly from: AccountKey;
  readonly address: string;
  readonly amount: bigint | string;
  readonly label?: string | null;
  readonly idempotencyKey?: string;
  readonly allowNegativeBalance?: boolean;
}

/** Most requests in one batch (as TigerBeetle's 8,190 transfers per request). */
export const BATCH_SIZE_MAX = 8_190;

/** Where a batch runs: an open transaction (or, PostgreSQL, a connection outside one) and a wallet by name. */
export interface BatchTarget {
  readonly tx: SqlExecutor;
  readonly context: CoinContext;
  readonly walletName: string;
}

/** How the caller's requests are reported: batches name the failing item, single operations do not. */
type Numbering = 'batch' | 'single';

/** Transfers on PostgreSQL: one call of the coin's function. */
export async function transferManyPostgres(
  target: BatchTarget,
  items: readonly TransferRequest[],
  numbering: Numbering,
): Promise<Transaction[]> {
  checkBatchSize(items);
  const checked = items.map((item, index) =>
    atItem(numbering, index, () => ({ ...checkCommon(target.context, item), from: accountArgs(item.from), to: accountArgs(item.to) })),
  );
  if (checked.length === 0) return [];
  const now = nowText();
  const name = coinFunctions(target.context.tables).transferMany;
  const rows = await target.tx.all<{ item: Record<string, unknown> }>(
    `SELECT item FROM ${name}(?, ?::bigint[], ?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::boolean[], ?::timestamptz) AS item`,
    [
      target.walletName,
      checked.map((c) => c.from.id),
      checked.map((c) => c.from.name),
      checked.map((c) => c.to.id),
      checked.map((c) => c.to.name),
      checked.map((c) => c.amount),
      checked.map((c) => c.label),
      checked.map((c) => c.key),
      checked.map((c) => c.allowNegative),
      now,
    ],
  );
  const written = rows.length === 1 ? rows[0]!.item : undefined;
  if (written && 'ids' in written) {
    // The set-based path wrote every item as asked and answered only the ids, in item order.
    const { ids, from, to } = written as { ids: number[]; from: number[]; to: number[] };
    const walletId = toId(written.wallet_id);
    return checked.map((c, i) => writtenTransfer(c, now, toId(ids[i]), walletId, toId(from[i]), toId(to[i])));
  }
  return answers(rows, numbering);
}

/**
 * One transfer on PostgreSQL: one call of the coin's one-transfer function, which answers a
 * transfer it wrote with the ids the caller does not know (the rest of the row is this request),
 * and a refusal or an idempotent replay as the batch function answers an item (a whole row).
 */
export async function transferOnePostgres(target: BatchTarget, request: TransferRequest): Promise<Transaction> {
  const { amount, label, key, allowNegative } = checkCommon(target.context, request);
  const from = accountArgs(request.from);
  const to = accountArgs(request.to);
  const now = nowText();
  const name = coinFunctions(target.context.tables).transfer;
  const row = await target.tx.get<{ item: Record<string, unknown> }>(
    `SELECT ${name}(?, ?, ?, ?, ?, ?, ?, ?, ?::boolean, ?::timestamptz) AS item`,
    [target.walletName, from.id, from.name, to.id, to.name, amount, label, key, String(allowNegative), now],
  );
  const item = row?.item;
  if (!item) throw new Error(`${name} answered nothing`);
  if ('refused' in item || 'type' in item) return answers([{ item }], 'single')[0]!;
  return writtenTransfer(
    { amount, label, key },
    now,
    toId(item.id),
    toId(item.wallet_id),
    toId(item.sending_account_id),
    toId(item.receiving_account_id),
  );
}

/**
 * A transfer the function wrote as asked, from the request and the ids the function answered:
 * the row holds nothing else (every timestamp is the `p_now` sent).
 */
function writtenTransfer(
  request: { amount: bigint; label: string | null; key: string | null },
  now: string,
  id: number,
  walletId: number,
  sendingAccountId: number,
  receivingAccountId: number,
): Transaction {
  const at = new Date(now);
  return {
    id,
    walletId,
    type: 'internal',
    state: 'done',
    amount: request.amount,
    sendingAccountId,
    receivingAccountId,
    address: null,
    networkTransactionId: null,
    txid: null,
    label: request.label,
    idempotencyKey: request.key,
    creditedAt: at,
    processedAt: null,
    refusal: null,
    createdAt: at,
    updatedAt: at,
  };
}

/** Withdrawals on PostgreSQL: one call of the coin's function, which also writes each `queued` event. */
export async function withdrawManyPostgres(
  target: BatchTarget,
  items: readonly WithdrawalRequest[],
  numbering: Numbering,
): Promise<Transaction[]> {
  checkBatchSize(items);
  const { coin, network } = target.context;
  const checked = items.map((item, index) =>
    atItem(numbering, index, () => {
      const common = checkCommon(target.context, item);
      checkMinimumWithdrawal(target.context, common.amount);
      return { ...common, from: accountArgs(item.from), address: assertValidAddress(item.address, network) };
    }),
  );
  if (checked.length === 0) return [];
  const now = nowText();
  const name = coinFunctions(target.context.tables).withdrawMany;
  const rows = await target.tx.all<{ item: Record<string, unknown> }>(
    `SELECT item FROM ${name}(?, ?::bigint[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::boolean[], ?::timestamptz, ?::jsonb, ?::text[]) AS item`,
    [
      target.walletName,
      checked.map((c) => c.from.id),
      checked.map((c) => c.from.name),
      checked.map((c) => c.address),
      checked.map((c) => c.amount),
      checked.map((c) => c.label),
      checked.map((c) => c.key),
      checked.map((c) => c.allowNegative),
      now,
      JSON.stringify({ coin: coin.code, network: network.name, confirmationThreshold: coin.confirmationThreshold, createdAt: now }),
      checked.map((c) => formatAmount(c.amount, coin)),
    ],
  );
  return answers(rows, numbering);
}

/** Transfers through the TypeScript path (SQLite), all or nothing inside a savepoint. */
export function transferManyInScope(scope: WalletScope, items: readonly TransferRequest[]): Promise<Transaction[]> {
  checkBatchSize(items);
  return inSavepoint(scope, items, (item) =>
    transfers.transfer(scope, item.from, item.to, item.amount, item.label ?? null, optionsOf(item)),
  );
}

/** Withdrawals through the TypeScript path (SQLite), all or nothing inside a savepoint. */
export function withdrawManyInScope(scope: WalletScope, items: readonly WithdrawalRequest[]): Promise<Transaction[]> {
  checkBatchSize(items);
  return inSavepoint(scope, items, (item) =>
    transfers.withdraw(scope, item.from, item.address, item.amount, item.label ?? null, optionsOf(item)),
  );
}

function optionsOf(item: TransferRequest | WithdrawalRequest): { idempotencyKey?: string; allowNegativeBalance?: boolean } {
  return {
    ...(item.idempotencyKey === undefined ? {} : { idempotencyKey: item.idempotencyKey }),
    ...(item.allowNegativeBalance === undefined ? {} : { allowNegativeBalance: item.allowNegativeBalance }),
  };
}

async function inSavepoint<R>(scope: WalletScope, items: readonly R[], run: (item: R) => Promise<Transaction>): Promise<Transaction[]> {
  if (items.length === 0) return [];
  await scope.tx.run('SAVEPOINT cryptoassets_batch');
  const results: Transaction[] = [];
  try {
    for (const [index, item] of items.entries()) {
      try {
        results.push(await run(item));
      } catch (error) {
        throw numbered(error, index);
      }
    }
  } catch (error) {
    await scope.tx.run('ROLLBACK TO SAVEPOINT cryptoassets_batch');
    await scope.tx.run('RELEASE SAVEPOINT cryptoassets_batch');
    throw error;
  }
  await scope.tx.run('RELEASE SAVEPOINT cryptoassets_batch');
  return results;
}

/** @throws InvalidArgument beyond BATCH_SIZE_MAX requests */
function checkBatchSize(items: readonly unknown[]): void {
  if (!Array.isArray(items)) throw new InvalidArgument('a batch is an array of requests');
  if (items.length > BATCH_SIZE_MAX) {
    throw new InvalidArgument(`a batch holds at most ${BATCH_SIZE_MAX} requests, not ${items.length}: split it`);
  }
}

/** The checks of `transfers.ts` that need no database. */
function checkCommon(context: CoinContext, item: TransferRequest | WithdrawalRequest) {
  const amount = toBaseUnits(item.amount, context.coin);
  const label = checkOptionalName('transaction label', item.label ?? null);
  const key = item.idempotencyKey === undefined ? null : checkName('idempotency key', item.idempotencyKey);
  return { amount, label, key, allowNegative: item.allowNegativeBalance ?? false };
}

function checkMinimumWithdrawal(context: CoinContext, amount: bigint): void {
  const minimum = context.coin.minimumWithdrawal;
  if (amount < minimum) {
    throw new InvalidAmount(
      'below_minimum',
      `a withdrawal of ${amount} is below the coin's minimum of ${minimum} base units (the network's dust limit)`,
    );
  }
}

/** An account key as the function takes it: an id, or a name it looks up. */
function accountArgs(key: AccountKey): { id: number | null; name: string | null } {
  return typeof key === 'string' ? { id: null, name: checkName('account name', key) } : { id: accountIdOf(key), name: null };
}

function atItem<T>(numbering: Numbering, index: number, check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw numbering === 'batch' ? numbered(error, index) : error;
  }
}

/** Name the batch item an error is about, in its message and as `batchItem`. */
function numbered(error: unknown, index: number): unknown {
  if (!(error instanceof CryptoAssetsError) || error.batchItem !== undefined) return error;
  error.batchItem = index;
  error.message = `batch item ${index}: ${error.message}`;
  return error;
}

/** The function's rows as transactions, or its refusal as the typed error. */
function answers(rows: readonly { item: Record<string, unknown> }[], numbering: Numbering): Transaction[] {
  const refusal = rows.find((row) => 'refused' in row.item)?.item;
  if (refusal) {
    const detail = refusal.detail as Record<string, unknown>;
    const error = refusalError(String(refusal.refused), detail);
    throw numbering === 'batch' && typeof detail.item === 'number' ? numbered(error, detail.item) : error;
  }
  return rows.map((row) => transactionFromRow(row.item));
}

function refusalError(reason: string, detail: Record<string, unknown>): Error {
  const account = Number(detail.account);
  switch (reason) {
    case 'not_found':
      return new NotFound(String(detail.what), detail.key as string | number);
    case 'same_account':
      return new SameAccount(account);
    case 'frozen_send':
      return new AccountFrozen(account, 'it cannot send');
    case 'frozen_receive':
      return new AccountFrozen(account, 'it cannot receive transfers');
    case 'insufficient':
      return new InsufficientBalance(account, BigInt(detail.balance as string), BigInt(detail.amount as string));
    case 'out_of_range':
      return new BalanceOutOfRange({
        accountId: account,
        balance: BigInt(detail.balance as string),
        change: BigInt(detail.change as string),
      });
    case 'key_reused':
      return new IdempotencyKeyReused(String(detail.key), String(detail.detail));
    default:
      return new Error(`the ledger function refused with an unknown reason ${JSON.stringify(reason)}`);
  }
}
