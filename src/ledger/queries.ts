/**
 * Read-only questions about one wallet. All of them are scoped by wallet id.
 */
import { assertValidAddress } from '../domain/address.js';
import type { AccountKey, WalletScope } from './context.js';
import { getAccount, resolveAccountId } from './accounts.js';
import { transactionSelect, transactionsFromRows } from './entries.js';
import { InvalidArgument } from '../domain/errors.js';
import type { SqlValue } from '../store/database.js';
import type { Entry, Transaction, TransactionState, TransactionType } from './records.js';
import { TRANSACTION_STATES, TRANSACTION_TYPES } from './records.js';
import { exactSum, exactSumColumns } from './exact-sum.js';
import { entryFromRow, toId } from './rows.js';

/**
 * Withdrawals queued and not yet part of a broadcast, oldest first. With `sendable`, only those
 * whose sending account is not frozen (what a broadcast may take; the others wait in the queue).
 */
export async function pendingWithdrawals(scope: WalletScope, limit?: number, options: { sendable?: boolean } = {}): Promise<Transaction[]> {
  const held = options.sendable
    ? ` AND NOT EXISTS (SELECT 1 FROM ${scope.context.tables.account} s WHERE s.id = t.sending_account_id AND s.frozen_at IS NOT NULL)`
    : '';
  const rows = await scope.tx.all(
    `${transactionSelect(scope)} WHERE t.wallet_id = ? AND t.type = 'withdrawal' AND t.state = 'pending'${held}
     ORDER BY t.id${limit === undefined ? '' : ' LIMIT ?'}`,
    limit === undefined ? [scope.walletId] : [scope.walletId, limit],
  );
  return transactionsFromRows(rows);
}

/**
 * Ids of the queued withdrawals held by a frozen sending account, oldest first. Reads the queue
 * and the senders of those withdrawals only, so its cost does not grow with the wallet's accounts.
 */
export async function heldWithdrawalIds(scope: WalletScope): Promise<number[]> {
  const t = scope.context.tables;
  const rows = await scope.tx.all<{ id: unknown }>(
    `SELECT t.id FROM ${t.transaction} t JOIN ${t.account} s ON s.id = t.sending_account_id
     WHERE t.wallet_id = ? AND t.type = 'withdrawal' AND t.state = 'pending' AND s.frozen_at IS NOT NULL
     ORDER BY t.id`,
    [scope.walletId],
  );
  return rows.map((row) => toId(row.id));
}

/** All deposits of the wallet (credited or not), oldest first. */
export async function deposits(scope: WalletScope, options: { account?: AccountKey; newest?: number } = {}): Promise<Transaction[]> {
  const params: number[] = [scope.walletId];
  let filter = '';
  if (options.account !== undefined) {
    filter = ' AND t.receiving_account_id = ?';
    params.push(await resolveAccountId(scope, options.account));
  }
  let order = 'ORDER BY t.id';
  if (options.newest !== undefined) {
    order = 'ORDER BY t.id DESC LIMIT ?';
    params.push(options.newest);
  }
  const rows = await scope.tx.all(`${transactionSelect(scope)} WHERE t.wallet_id = ? AND t.type = 'deposit'${filter} ${order}`, params);
  return transactionsFromRows(rows);
}

/** Deposits seen but not (or no longer) credited, including conflicted ones. */
export async function unconfirmedDeposits(scope: WalletScope): Promise<Transaction[]> {
  const rows = await scope.tx.all(
    `${transactionSelect(scope)} WHERE t.wallet_id = ? AND t.type = 'deposit' AND t.state = 'incoming' ORDER BY t.id`,
    [scope.walletId],
  );
  return transactionsFromRows(rows);
}

/** Sum of an account's deposits that are on their way (seen, not yet credited, not conflicted). */
export async function unconfirmedBalance(scope: WalletScope, account: AccountKey): Promise<bigint> {
  const t = scope.context.tables;
  const row = await scope.tx.get(
    `SELECT ${exactSumColumns('t.amount', 'total')} FROM ${t.transaction} t
     JOIN ${t.networkTransaction} n ON n.id = t.network_transaction_id
     WHERE t.wallet_id = ? AND t.type = 'deposit' AND t.state = 'incoming' AND t.receiving_account_id = ?
       AND n.state = 'seen'`,
    [scope.walletId, await resolveAccountId(scope, account)],
  );
  return exactSum(row, 'total');
}

/**
 * All-time amount received by an account or one of its addresses from deposits with at least
 * `minConfirmations` confirmations (0: everything seen and not conflicted). Not reduced by spending.
 */
export async function receivedByConfirmations(
  scope: WalletScope,
  target: { account: AccountKey } | { address: string },
  minConfirmations: number,
): Promise<bigint> {
  const t = scope.context.tables;
  const [column, value] =
    'account' in target
      ? ['t.receiving_account_id', await resolveAccountId(scope, target.account)]
      : ['a.address', assertValidAddress(target.address, scope.context.network)];
  const row = await scope.tx.get(
    `SELECT ${exactSumColumns('t.amount', 'total')} FROM ${t.transaction} t
     JOIN ${t.networkTransaction} n ON n.id = t.network_transaction_id
     JOIN ${t.address} a ON a.id = t.address_id
     WHERE t.wallet_id = ? AND t.type = 'deposit' AND n.state = 'seen' AND n.confirmations >= ? AND ${column} = ?`,
    [scope.walletId, minConfirmations, value],
  );
  return exactSum(row, 'total');
}

/** A page of an account's journal, newest first. Pass the last entry's id as `beforeId` for the next page. */
export async function accountHistory(
  scope: WalletScope,
  account: AccountKey,
  page: { limit?: number; beforeId?: number } = {},
): Promise<Entry[]> {
  const limit = pageSize('accountHistory', page.limit, 100, 1000);
  if (page.beforeId !== undefined && !(Number.isSafeInteger(page.beforeId) && page.beforeId > 0))
    throw new InvalidArgument(`accountHistory: beforeId must be an entry id, got ${String(page.beforeId)}`);
  const owner = await getAccount(scope, account);
  const t = scope.context.tables;
  const rows = await scope.tx.all(
    `SELECT e.*, t.label FROM ${t.entry} e JOIN ${t.transaction} t ON t.id = e.transaction_id
     WHERE e.account_id = ? AND e.id < ? ORDER BY e.id DESC LIMIT ?`,
    [owner.id, page.beforeId ?? Number.MAX_SAFE_INTEGER, limit],
  );
  return rows.map(entryFromRow);
}

/** Filters and paging of `listTransactions`. */
export interface TransactionFilter {
  /** Only transactions this account sent or received (record, id or name). */
  readonly account?: AccountKey;
  /** Only these types (one or several). */
  readonly type?: TransactionType | readonly TransactionType[];
  /** Only these states (one or several). */
  readonly state?: TransactionState | readonly TransactionState[];
  /** Created at or after this time. */
  readonly from?: Date;
  /** Created before this time. */
  readonly to?: Date;
  /** Page size, 1..1000 (default 100). */
  readonly limit?: number;
  /** The `next` of the previous page; omit for the first (newest) page. */
  readonly cursor?: string;
}

/** One page of transactions, newest first; `next` is the cursor of the following page, null at the end. */
export interface TransactionPage {
  readonly items: Transaction[];
  readonly next: string | null;
}

/**
 * Transactions of this wallet (or of one account), newest first, filtered, one page at a time.
 * The cursor is the id the page ended at, so a page is stable while new transactions arrive:
 * they are newer and appear on a new first page, never twice across pages.
 * @throws NotFound (account), InvalidArgument (a malformed cursor, type or state)
 */
export async function listTransactions(scope: WalletScope, filter: TransactionFilter = {}): Promise<TransactionPage> {
  const conditions = ['t.wallet_id = ?'];
  const params: SqlValue[] = [scope.walletId];
  if (filter.account !== undefined) {
    const id = await resolveAccountId(scope, filter.account);
    conditions.push('(t.sending_account_id = ? OR t.receiving_account_id = ?)');
    params.push(id, id);
  }
  const inList = (column: string, values: readonly string[], known: readonly string[], what: string) => {
    if (values.length === 0) throw new InvalidArgument(`listTransactions: an empty list of ${what}s matches nothing`);
    for (const value of values)
      if (!known.includes(value)) throw new InvalidArgument(`listTransactions: unknown ${what} ${JSON.stringify(value)}`);
    conditions.push(`${column} IN (${values.map(() => '?').join(', ')})`);
    params.push(...values);
  };
  if (filter.type !== undefined) inList('t.type', typeof filter.type === 'string' ? [filter.type] : filter.type, TRANSACTION_TYPES, 'type');
  if (filter.state !== undefined)
    inList('t.state', typeof filter.state === 'string' ? [filter.state] : filter.state, TRANSACTION_STATES, 'state');
  if (filter.from !== undefined) {
    conditions.push('t.created_at >= ?');
    params.push(timeParam(filter.from));
  }
  if (filter.to !== undefined) {
    conditions.push('t.created_at < ?');
    params.push(timeParam(filter.to));
  }
  if (filter.cursor !== undefined) {
    if (!/^[1-9]\d{0,15}$/.test(filter.cursor))
      throw new InvalidArgument(`listTransactions: not a cursor: ${JSON.stringify(filter.cursor)}`);
    conditions.push('t.id < ?');
    params.push(Number(filter.cursor));
  }
  const limit = pageSize('listTransactions', filter.limit, 100, 1000);
  const rows = await scope.tx.all(`${transactionSelect(scope)} WHERE ${conditions.join(' AND ')} ORDER BY t.id DESC LIMIT ?`, [
    ...params,
    limit + 1,
  ]);
  const items = transactionsFromRows(rows.slice(0, limit));
  return { items, next: rows.length > limit ? String(items.at(-1)!.id) : null };
}

/**
 * A page size: `fallback` when absent, a whole number clamped to 1..`max` otherwise. Anything else
 * (NaN, 2.5, text) is refused here rather than by the database driver with an untyped error.
 * @throws InvalidArgument
 */
function pageSize(what: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value)) throw new InvalidArgument(`${what}: limit must be a whole number, got ${String(value)}`);
  return Math.min(Math.max(value, 1), max);
}

function timeParam(time: Date): string {
  if (!(time instanceof Date) || Number.isNaN(time.getTime())) throw new InvalidArgument('listTransactions: from/to must be valid Dates');
  return time.toISOString();
}

/** A journal entry with what an accountant needs beside it (see `listEntries`). */
export interface JournalEntry extends Entry {
  readonly accountName: string;
  readonly transactionType: TransactionType;
  /** Txid of the transaction's network transaction, null for off-chain entries. */
  readonly txid: string | null;
}

/**
 * Every journal entry of this wallet, oldest first, one page at a time (`after`: the previous
 * page's `next`), for exports. Pages are keyed by entry id, so memory does not grow with the
 * journal. @throws InvalidArgument (a malformed cursor)
 */
export async function listEntries(
  scope: WalletScope,
  page: { after?: string; limit?: number } = {},
): Promise<{ items: JournalEntry[]; next: string | null }> {
  if (page.after !== undefined && !/^(0|[1-9]\d{0,15})$/.test(page.after))
    throw new InvalidArgument(`listEntries: not a cursor: ${JSON.stringify(page.after)}`);
  const limit = pageSize('listEntries', page.limit, 1000, 10_000);
  const t = scope.context.tables;
  const rows = await scope.tx.all(
    `SELECT e.*, t.label, t.type AS transaction_type, a.name AS account_name, n.txid
     FROM ${t.entry} e
     JOIN ${t.account} a ON a.id = e.account_id
     JOIN ${t.transaction} t ON t.id = e.transaction_id
     LEFT JOIN ${t.networkTransaction} n ON n.id = t.network_transaction_id
     WHERE a.wallet_id = ? AND e.id > ? ORDER BY e.id LIMIT ?`,
    [scope.walletId, Number(page.after ?? '0'), limit + 1],
  );
  const items = rows.slice(0, limit).map((row) => ({
    ...entryFromRow(row),
    accountName: String(row.account_name),
    transactionType: row.transaction_type as TransactionType,
    txid: row.txid === null || row.txid === undefined ? null : String(row.txid),
  }));
  return { items, next: rows.length > limit ? String(items.at(-1)!.id) : null };
}
