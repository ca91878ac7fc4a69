/**
 * Wallets and accounts. Account names are unique per wallet; the network-fee account is a
 * reserved account per wallet that broadcasts charge their fees to.
 */
import { INT64_MAX, INT64_MIN } from '../domain/coins.js';
import {
  AccountFrozen,
  AlreadyExists,
  BalanceOutOfRange,
  InsufficientBalance,
  InvalidName,
  InvalidState,
  NotFound,
} from '../domain/errors.js';
import { checkName } from '../domain/names.js';
import { emitTxUpdates } from '../events/outbox.js';
import type { AccountKey, CoinScope, WalletScope } from './context.js';
import { accountIdOf } from './context.js';
import type { Account, Wallet } from './records.js';
import { inParts } from './multi-row.js';
import { accountFromRow, nowText, toId, walletFromRow } from './rows.js';

/** Name of each wallet's network-fee account. User accounts cannot take it. */
export const NETWORK_FEE_ACCOUNT_NAME = 'Network fees';

export async function findWallet({ tx, context }: CoinScope, name: string): Promise<Wallet | undefined> {
  const row = await tx.get(`SELECT * FROM ${context.tables.wallet} WHERE name = ?`, [checkName('wallet name', name)]);
  return row ? walletFromRow(row) : undefined;
}

export async function getOrCreateWallet(scope: CoinScope, name: string): Promise<Wallet> {
  const existing = await findWallet(scope, name);
  if (existing) return existing;
  const now = nowText();
  const row = await scope.tx.get(`INSERT INTO ${scope.context.tables.wallet} (name, created_at, updated_at) VALUES (?, ?, ?) RETURNING *`, [
    name,
    now,
    now,
  ]);
  return walletFromRow(row!);
}

export async function listWallets({ tx, context }: CoinScope): Promise<Wallet[]> {
  return (await tx.all(`SELECT * FROM ${context.tables.wallet} ORDER BY id`)).map(walletFromRow);
}

export async function findAccountByName(scope: WalletScope, name: string): Promise<Account | undefined> {
  const row = await scope.tx.get(`SELECT * FROM ${scope.context.tables.account} WHERE wallet_id = ? AND name = ?`, [
    scope.walletId,
    checkName('account name', name),
  ]);
  return row ? accountFromRow(row) : undefined;
}

export async function findAccountById(scope: WalletScope, id: number): Promise<Account | undefined> {
  const row = await scope.tx.get(`SELECT * FROM ${scope.context.tables.account} WHERE wallet_id = ? AND id = ?`, [scope.walletId, id]);
  return row ? accountFromRow(row) : undefined;
}

/** The account of this wallet, by record, id or name. @throws NotFound */
export async function getAccount(scope: WalletScope, account: AccountKey): Promise<Account> {
  const found = typeof account === 'string' ? await findAccountByName(scope, account) : await findAccountById(scope, accountIdOf(account));
  if (!found) throw new NotFound('account', typeof account === 'string' ? account : accountIdOf(account));
  return found;
}

/**
 * The id of an account of this wallet given by record, id or name. A name is looked up (NotFound
 * when this wallet has no account of that name); a record or id is taken as given, and the
 * statement that uses it is scoped to the wallet. @throws NotFound, InvalidName
 */
export async function resolveAccountId(scope: WalletScope, account: AccountKey): Promise<number> {
  if (typeof account !== 'string') return accountIdOf(account);
  const found = await findAccountByName(scope, account);
  if (!found) throw new NotFound('account', account);
  return found.id;
}

/** @throws AlreadyExists when the wallet has an account of that name; InvalidName for the reserved fee-account name. */
export async function createAccount(scope: WalletScope, name: string): Promise<Account> {
  checkName('account name', name);
  if (name === NETWORK_FEE_ACCOUNT_NAME) {
    throw new InvalidName('account name', `${JSON.stringify(name)} is reserved for the network-fee account`);
  }
  if (await findAccountByName(scope, name)) throw new AlreadyExists('account', name);
  return insertAccount(scope, name, 'user');
}

export async function getOrCreateAccount(scope: WalletScope, name: string): Promise<Account> {
  return (await findAccountByName(scope, name)) ?? createAccount(scope, name);
}

/** The wallet's network-fee account, created on first use. Its balance is minus the fees paid. */
export async function getNetworkFeeAccount(scope: WalletScope): Promise<Account> {
  const row = await scope.tx.get(`SELECT * FROM ${scope.context.tables.account} WHERE wallet_id = ? AND kind = 'network_fee'`, [
    scope.walletId,
  ]);
  return row ? accountFromRow(row) : insertAccount(scope, NETWORK_FEE_ACCOUNT_NAME, 'network_fee');
}

export async function listAccounts(scope: WalletScope): Promise<Account[]> {
  const rows = await scope.tx.all(`SELECT * FROM ${scope.context.tables.account} WHERE wallet_id = ? ORDER BY id`, [scope.walletId]);
  return rows.map(accountFromRow);
}

async function insertAccount(scope: WalletScope, name: string, kind: 'user' | 'network_fee'): Promise<Account> {
  const now = nowText();
  const row = await scope.tx.get(
    `INSERT INTO ${scope.context.tables.account} (wallet_id, name, kind, balance, created_at, updated_at)
     VALUES (?, ?, ?, 0, ?, ?) RETURNING *`,
    [scope.walletId, name, kind, now, now],
  );
  return accountFromRow(row!);
}

/**
 * Take `amount` (> 0) from an account in one conditional statement, so that two concurrent debits
 * can never both pass a balance check they made separately. The same condition keeps a balance
 * that may go negative above the smallest 64-bit value: the stored column is signed 64-bit, and
 * SQLite would otherwise turn an overflowing result into a floating-point number.
 * A frozen account is refused by the same statement.
 * @returns the new balance. @throws InsufficientBalance, BalanceOutOfRange, AccountFrozen, NotFound
 */
export async function debitAccount(scope: WalletScope, accountId: number, amount: bigint, allowNegativeBalance: boolean): Promise<bigint> {
  // The lowest balance the debit may start from: the amount itself, or with a negative balance
  // allowed, whatever still leaves balance − amount ≥ INT64_MIN.
  const floor = allowNegativeBalance ? INT64_MIN + amount : amount;
  // `frozen_at IS NULL` in the same statement: a freeze committed before this debit refuses it.
  const row = await scope.tx.get<{ balance: bigint }>(
    `UPDATE ${scope.context.tables.account} SET balance = balance - ?, updated_at = ?
     WHERE id = ? AND wallet_id = ? AND balance >= ? AND frozen_at IS NULL RETURNING balance`,
    [amount, nowText(), accountId, scope.walletId, floor],
  );
  if (row) return BigInt(row.balance);
  const account = await findAccountById(scope, accountId);
  if (!account) throw new NotFound('account', accountId);
  if (account.frozenAt !== null) throw new AccountFrozen(accountId, 'it cannot send');
  if (allowNegativeBalance) throw new BalanceOutOfRange({ accountId, balance: account.balance, change: -amount });
  throw new InsufficientBalance(accountId, account.balance, amount);
}

/**
 * Add a signed amount to an account's balance, unless the result would leave the signed 64-bit
 * range. The range condition is part of the UPDATE, so it costs no extra round trip; only a
 * refusal reads the account again, to tell a missing account from a full one. With `refuseFrozen`
 * (transfers in) a frozen account is refused by the same statement.
 * @throws BalanceOutOfRange, AccountFrozen, NotFound
 */
export async function adjustAccount(
  scope: WalletScope,
  accountId: number,
  amount: bigint,
  options: { refuseFrozen?: boolean } = {},
): Promise<void> {
  const { low, high } = startingRange(amount);
  const changed = await scope.tx.run(
    `UPDATE ${scope.context.tables.account} SET balance = balance + ?, updated_at = ?
     WHERE id = ? AND wallet_id = ? AND balance BETWEEN ? AND ?${options.refuseFrozen ? ' AND frozen_at IS NULL' : ''}`,
    [amount, nowText(), accountId, scope.walletId, low, high],
  );
  if (changed === 1) return;
  await explainRefusal(scope, accountId, amount, options);
}

/** Why a balance change was refused: read the (unchanged) account again. Always throws. */
async function explainRefusal(scope: WalletScope, accountId: number, amount: bigint, options: { refuseFrozen?: boolean }): Promise<never> {
  const account = await findAccountById(scope, accountId);
  if (!account) throw new NotFound('account', accountId);
  if (options.refuseFrozen && account.frozenAt !== null) throw new AccountFrozen(accountId, 'it cannot receive transfers');
  throw new BalanceOutOfRange({ accountId, balance: account.balance, change: amount });
}

/** One account's change in `adjustAccounts`. */
export interface BalanceChange {
  readonly walletId: number;
  readonly accountId: number;
  readonly amount: bigint;
}

/**
 * `adjustAccount` for many accounts in one UPDATE per `ROWS_PER_STATEMENT` accounts (each
 * account at most once; frozen accounts are not refused: deposits use it). The range condition
 * is per row, as in `adjustAccount`; a refused row is named by reading it again.
 * @throws BalanceOutOfRange, NotFound
 */
export async function adjustAccounts(scope: CoinScope, changes: readonly BalanceChange[]): Promise<void> {
  const now = nowText();
  for (const part of inParts(changes)) {
    // VALUES columns are column1…column5 on both engines; the casts give PostgreSQL their types.
    const updated = await scope.tx.all<{ id: unknown }>(
      `UPDATE ${scope.context.tables.account} SET balance = balance + v.column2, updated_at = ?
       FROM (VALUES ${part.map(() => '(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT))').join(', ')}) AS v
       WHERE ${scope.context.tables.account}.id = v.column1 AND wallet_id = v.column3 AND balance BETWEEN v.column4 AND v.column5
       RETURNING ${scope.context.tables.account}.id`,
      [
        now,
        ...part.flatMap((change) => {
          const { low, high } = startingRange(change.amount);
          return [change.accountId, change.amount, change.walletId, low, high];
        }),
      ],
    );
    if (updated.length === part.length) continue;
    const done = new Set(updated.map((row) => toId(row.id)));
    const refused = part.find((change) => !done.has(change.accountId))!;
    await explainRefusal({ ...scope, walletId: refused.walletId }, refused.accountId, refused.amount, {});
  }
}

/**
 * Freeze an account of this wallet: from now on it cannot send (transfers out, withdrawals; its
 * queued withdrawals wait unsent) nor receive transfers; deposits still credit it. Freezing a
 * frozen account changes nothing. The network-fee account cannot be frozen (broadcasts charge it).
 * @throws NotFound, InvalidState
 */
export async function freezeAccount(scope: WalletScope, account: AccountKey): Promise<Account> {
  const found = await getAccount(scope, account);
  if (found.kind === 'network_fee') throw new InvalidState('the network-fee account cannot be frozen: broadcasts charge their fees to it');
  if (found.frozenAt !== null) return found;
  const now = nowText();
  const row = await scope.tx.get(
    `UPDATE ${scope.context.tables.account} SET frozen_at = ?, updated_at = ? WHERE id = ? AND wallet_id = ? RETURNING *`,
    [now, now, found.id, scope.walletId],
  );
  // Reading the queued withdrawals here matters beyond the events: a broadcast opening at the same
  // time reads this account (not frozen) and rewrites these rows, so on PostgreSQL the two
  // serializable transactions form a cycle and one of them re-runs. Either the freeze comes first
  // and holds them, or the broadcast does and they show as `broadcasting`, never both unnoticed.
  await emitTxUpdates(scope, await queuedWithdrawalIds(scope, found.id), 'held');
  return accountFromRow(row!);
}

/** Ids of the account's withdrawals still in the queue, oldest first. */
async function queuedWithdrawalIds(scope: WalletScope, accountId: number): Promise<number[]> {
  const rows = await scope.tx.all<{ id: unknown }>(
    `SELECT id FROM ${scope.context.tables.transaction}
     WHERE wallet_id = ? AND sending_account_id = ? AND type = 'withdrawal' AND state = 'pending' ORDER BY id`,
    [scope.walletId, accountId],
  );
  return rows.map((row) => toId(row.id));
}

/** Unfreeze an account; unfreezing one that is not frozen changes nothing. @throws NotFound */
export async function unfreezeAccount(scope: WalletScope, account: AccountKey): Promise<Account> {
  const found = await getAccount(scope, account);
  if (found.frozenAt === null) return found;
  const row = await scope.tx.get(
    `UPDATE ${scope.context.tables.account} SET frozen_at = NULL, updated_at = ? WHERE id = ? AND wallet_id = ? RETURNING *`,
    [nowText(), found.id, scope.walletId],
  );
  await emitTxUpdates(scope, await queuedWithdrawalIds(scope, found.id), 'released');
  return accountFromRow(row!);
}

/** Refuse a transfer to or from a frozen account before anything is written. @throws AccountFrozen */
export function checkNotFrozen(account: Account, direction: 'send' | 'receive'): void {
  if (account.frozenAt !== null) {
    throw new AccountFrozen(account.id, direction === 'send' ? 'it cannot send' : 'it cannot receive transfers');
  }
}

/**
 * Refuse a change of an account's balance, already read in this transaction, that would leave the
 * signed 64-bit range. Callers check before their first write, so that a refusal leaves nothing
 * half-written even for a caller that catches it and commits; `adjustAccount` checks again in SQL.
 * @throws BalanceOutOfRange
 */
export function checkBalanceChange(account: Account, change: bigint): void {
  const { low, high } = startingRange(change);
  if (account.balance < low || account.balance > high) {
    throw new BalanceOutOfRange({ accountId: account.id, balance: account.balance, change });
  }
}

/**
 * The balances from which adding `change` stays within INT64_MIN..INT64_MAX. Computed here rather
 * than in SQL because `balance + change` itself is what must not be evaluated when it overflows.
 */
export function startingRange(change: bigint): { low: bigint; high: bigint } {
  return change >= 0n ? { low: INT64_MIN, high: INT64_MAX - change } : { low: INT64_MIN - change, high: INT64_MAX };
}
