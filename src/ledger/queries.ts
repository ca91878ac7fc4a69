/**
 * Read-only questions about one wallet. All of them are scoped by wallet id.
 */
import { assertValidAddress } from '../domain/address.js';
import type { AccountRef, WalletScope } from './context.js';
import { accountIdOf } from './context.js';
import { getAccount } from './accounts.js';
import { transactionSelect, transactionsFromRows } from './entries.js';
import type { Entry, Transaction } from './records.js';
import { exactSum, exactSumColumns } from './exact-sum.js';
import { entryFromRow } from './rows.js';

/** Withdrawals queued and not yet part of a broadcast, oldest first. */
export async function pendingWithdrawals(scope: WalletScope, limit?: number): Promise<Transaction[]> {
  const rows = await scope.tx.all(
    `${transactionSelect(scope)} WHERE t.wallet_id = ? AND t.type = 'withdrawal' AND t.state = 'pending'
     ORDER BY t.id${limit === undefined ? '' : ' LIMIT ?'}`,
    limit === undefined ? [scope.walletId] : [scope.walletId, limit],
  );
  return transactionsFromRows(rows);
}

/** All deposits of the wallet (credited or not), oldest first. */
export async function deposits(scope: WalletScope, options: { account?: AccountRef } = {}): Promise<Transaction[]> {
  const params: number[] = [scope.walletId];
  let filter = '';
  if (options.account !== undefined) {
    filter = ' AND t.receiving_account_id = ?';
    params.push(accountIdOf(options.account));
  }
  const rows = await scope.tx.all(
    `${transactionSelect(scope)} WHERE t.wallet_id = ? AND t.type = 'deposit'${filter} ORDER BY t.id`,
    params,
  );
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
export async function unconfirmedBalance(scope: WalletScope, account: AccountRef): Promise<bigint> {
  const t = scope.context.tables;
  const row = await scope.tx.get(
    `SELECT ${exactSumColumns('t.amount', 'total')} FROM ${t.transaction} t
     JOIN ${t.networkTransaction} n ON n.id = t.network_transaction_id
     WHERE t.wallet_id = ? AND t.type = 'deposit' AND t.state = 'incoming' AND t.receiving_account_id = ?
       AND n.state = 'seen'`,
    [scope.walletId, accountIdOf(account)],
  );
  return exactSum(row, 'total');
}

/**
 * All-time amount received by an account or one of its addresses from deposits with at least
 * `minConfirmations` confirmations (0: everything seen and not conflicted). Not reduced by spending.
 */
export async function receivedByConfirmations(
  scope: WalletScope,
  target: { account: AccountRef } | { address: string },
  minConfirmations: number,
): Promise<bigint> {
  const t = scope.context.tables;
  const [column, value] =
    'account' in target
      ? ['t.receiving_account_id', accountIdOf(target.account)]
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
  account: AccountRef,
  page: { limit?: number; beforeId?: number } = {},
): Promise<Entry[]> {
  const owner = await getAccount(scope, accountIdOf(account));
  const limit = Math.min(Math.max(page.limit ?? 100, 1), 1000);
  const t = scope.context.tables;
  const rows = await scope.tx.all(
    `SELECT e.*, t.label FROM ${t.entry} e JOIN ${t.transaction} t ON t.id = e.transaction_id
     WHERE e.account_id = ? AND e.id < ? ORDER BY e.id DESC LIMIT ?`,
    [owner.id, page.beforeId ?? Number.MAX_SAFE_INTEGER, limit],
  );
  return rows.map(entryFromRow);
}
