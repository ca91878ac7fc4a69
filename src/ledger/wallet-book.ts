/**
 * One wallet's ledger operations inside one open transaction. Obtain it from `CoinBook.wallet()`
 * or `getOrCreateWallet()` inside `app.transaction(…)`; it must not be kept beyond the callback.
 * Every look-up is scoped to this wallet by construction.
 */
import type { AccountKey, WalletScope } from './context.js';
import * as accounts from './accounts.js';
import * as addresses from './addresses.js';
import * as broadcasts from './broadcasts.js';
import * as deposits from './deposits.js';
import * as imports from './balance-import.js';
import * as queries from './queries.js';
import * as transfers from './transfers.js';
import * as batches from './batch-moves.js';
import * as withdrawalActions from './withdrawal-actions.js';
import { findTransaction } from './entries.js';
import { NotFound } from '../domain/errors.js';
import type { Account, Address, Entry, NetworkTransaction, Transaction, Wallet } from './records.js';

export type { SendOptions } from './transfers.js';
export type { TransferRequest, WithdrawalRequest } from './batch-moves.js';

export class WalletBook {
  /** The wallet's record as read when this book was opened. */
  readonly wallet: Wallet;
  private readonly scope: WalletScope;

  /** @internal use CoinBook.wallet() */
  constructor(scope: Omit<WalletScope, 'walletId'>, wallet: Wallet) {
    this.wallet = wallet;
    this.scope = { ...scope, walletId: wallet.id };
  }

  get id(): number {
    return this.wallet.id;
  }

  get name(): string {
    return this.wallet.name;
  }

  // Accounts ---------------------------------------------------------------------------------

  /** Create an account; names are unique per wallet. @throws AlreadyExists, InvalidName */
  createAccount(name: string): Promise<Account> {
    return accounts.createAccount(this.scope, name);
  }

  /** The account of that name, created if missing. */
  getOrCreateAccount(name: string): Promise<Account> {
    return accounts.getOrCreateAccount(this.scope, name);
  }

  /** An account of this wallet by record, id or name, freshly read. @throws NotFound */
  getAccount(account: AccountKey): Promise<Account> {
    return accounts.getAccount(this.scope, account);
  }

  /**
   * Freeze an account: it can no longer send (transfers out, withdrawals; its queued withdrawals
   * wait unsent) nor receive transfers (`AccountFrozen`); deposits still credit it. Idempotent.
   * @throws NotFound, InvalidState (the network-fee account)
   */
  freezeAccount(account: AccountKey): Promise<Account> {
    return accounts.freezeAccount(this.scope, account);
  }

  /** Unfreeze an account (idempotent). @throws NotFound */
  unfreezeAccount(account: AccountKey): Promise<Account> {
    return accounts.unfreezeAccount(this.scope, account);
  }

  /** All accounts of this wallet, including the network-fee account once it exists. */
  listAccounts(): Promise<Account[]> {
    return accounts.listAccounts(this.scope);
  }

  /** The account that broadcasts charge their network fees to (created on first use). */
  getNetworkFeeAccount(): Promise<Account> {
    return accounts.getNetworkFeeAccount(this.scope);
  }

  // Addresses --------------------------------------------------------------------------------

  /**
   * Record an address (created by the backend) as a receiving address of an account. Applications
   * normally call `CoinLedger.createReceivingAddress`, which asks the backend first.
   * @throws InvalidAddress, AlreadyExists, NotFound
   */
  addReceivingAddress(account: AccountKey, address: string, label: string | null = null): Promise<Address> {
    return addresses.addReceivingAddress(this.scope, account, address, label);
  }

  /** A label no other address of this wallet has. */
  automaticLabel(account: AccountKey): Promise<string> {
    return addresses.automaticLabel(this.scope, account);
  }

  /** Whether a label is used by an address of this wallet. */
  isLabelTaken(label: string): Promise<boolean> {
    return addresses.labelTaken(this.scope, label);
  }

  /** A receiving address of this wallet. @throws InvalidAddress, NotFound */
  getReceivingAddress(address: string): Promise<Address> {
    return addresses.getReceivingAddress(this.scope, address);
  }

  /** The account owning a receiving address of this wallet, or undefined when the address is not ours. */
  async getAccountByAddress(address: string): Promise<Account | undefined> {
    const found = await this.getReceivingAddress(address).catch((error: unknown) => {
      if (error instanceof NotFound) return undefined;
      throw error;
    });
    return found?.accountId ? accounts.findAccountById(this.scope, found.accountId) : undefined;
  }

  /** Receiving addresses: active ones by default, `archived: true` for archived only, `'include'` for all. */
  listReceivingAddresses(options: { archived?: boolean | 'include'; account?: AccountKey } = {}): Promise<Address[]> {
    return addresses.listReceivingAddresses(this.scope, options);
  }

  /** Archive a receiving address: it leaves listings; deposits to it are still credited. */
  archiveAddress(address: string): Promise<Address> {
    return addresses.setArchived(this.scope, address, true);
  }

  unarchiveAddress(address: string): Promise<Address> {
    return addresses.setArchived(this.scope, address, false);
  }

  // Moving money -----------------------------------------------------------------------------

  /**
   * Send to an address: an internal transfer when it is a receiving address of this wallet (unless
   * `forceExternal`), otherwise a withdrawal debited now and queued for broadcast.
   * Accounts by record, id or name.
   * @throws InvalidAmount, InvalidAddress, InsufficientBalance, SameAccount, IdempotencyKeyReused, AccountFrozen, NotFound
   */
  send(
    from: AccountKey,
    address: string,
    amount: bigint | string,
    label: string | null = null,
    options: transfers.SendOptions = {},
  ): Promise<Transaction> {
    return transfers.send(this.scope, from, address, amount, label, options);
  }

  /** Queue a withdrawal to the network, even to an address of this wallet. */
  withdraw(
    from: AccountKey,
    address: string,
    amount: bigint | string,
    label: string | null = null,
    options: Omit<transfers.SendOptions, 'forceExternal'> = {},
  ): Promise<Transaction> {
    if (this.onPostgres)
      return batches.withdrawManyPostgres(this.batchTarget, [{ from, address, amount, label, ...options }], 'single').then(only);
    return transfers.withdraw(this.scope, from, address, amount, label, options);
  }

  /** Move an amount between two accounts of this wallet, off-chain. @throws AccountFrozen (either side), and as `send` */
  transfer(
    from: AccountKey,
    to: AccountKey,
    amount: bigint | string,
    label: string | null = null,
    options: Omit<transfers.SendOptions, 'forceExternal'> = {},
  ): Promise<Transaction> {
    if (this.onPostgres) return batches.transferOnePostgres(this.batchTarget, { from, to, amount, label, ...options });
    return transfers.transfer(this.scope, from, to, amount, label, options);
  }

  /**
   * Transfers between accounts of this wallet, all or nothing: every one is written, or (an error
   * naming the failing request: `batch item <i>: …`, `error.batchItem`) none. Requests with an
   * idempotency key already used — by an earlier batch or an earlier request of this one — return
   * the first result. On PostgreSQL the batch is one round trip. At most `BATCH_SIZE_MAX`
   * (8,190) requests. @throws as `transfer`, and InvalidArgument (too many requests)
   */
  transferMany(items: readonly batches.TransferRequest[]): Promise<Transaction[]> {
    if (this.onPostgres) return batches.transferManyPostgres(this.batchTarget, items, 'batch');
    return batches.transferManyInScope(this.scope, items);
  }

  /**
   * Withdrawals queued for broadcast, all or nothing, as `transferMany`; each writes its `queued`
   * event. @throws as `withdraw`, and InvalidArgument (too many requests)
   */
  withdrawMany(items: readonly batches.WithdrawalRequest[]): Promise<Transaction[]> {
    if (this.onPostgres) return batches.withdrawManyPostgres(this.batchTarget, items, 'batch');
    return batches.withdrawManyInScope(this.scope, items);
  }

  private get onPostgres(): boolean {
    return this.scope.context.engine === 'postgres';
  }

  /** Where the PostgreSQL ledger functions run: this transaction, this wallet by name. */
  private get batchTarget(): batches.BatchTarget {
    return { tx: this.scope.tx, context: this.scope.context, walletName: this.wallet.name };
  }

  /** The application has handled a deposit; stops re-sent updates. */
  markProcessed(transactionId: number): Promise<Transaction> {
    return deposits.markProcessed(this.scope, transactionId);
  }

  /** Book the backend's unaccounted balance onto an account (see `CoinLedger.importBalance`). */
  importUnaccountedBalance(account: AccountKey, backendBalance: bigint, label: string): Promise<imports.BalanceImport> {
    return imports.importUnaccountedBalance(this.scope, account, backendBalance, label);
  }

  /** Put a refused withdrawal back in the queue. @throws NotFound, InvalidState */
  retryWithdrawal(id: number): Promise<Transaction> {
    return withdrawalActions.retryWithdrawal(this.scope, id);
  }

  /** Cancel a pending or refused withdrawal; its amount is refunded by a new entry. @throws NotFound, InvalidState */
  cancelWithdrawal(id: number): Promise<Transaction> {
    return withdrawalActions.cancelWithdrawal(this.scope, id);
  }

  /** Withdrawals the node refused, waiting for an operator to retry or cancel them. */
  refusedWithdrawals(): Promise<Transaction[]> {
    return withdrawalActions.refusedWithdrawals(this.scope);
  }

  // Broadcasts (used by the broadcaster) ------------------------------------------------------

  /** Open a broadcast of pending withdrawals (see `broadcasts.openBroadcast`). */
  openBroadcast(options: broadcasts.OpenBroadcastOptions | number = {}): Promise<broadcasts.OpenedBroadcast | undefined> {
    return broadcasts.openBroadcast(this.scope, typeof options === 'number' ? { outputsMax: options } : options);
  }

  /** The node refused a broadcast of one withdrawal: the withdrawal becomes `refused`. */
  refuseBroadcast(broadcastId: number, reason: string): Promise<Transaction[]> {
    return broadcasts.refuseBroadcast(this.scope, broadcastId, reason);
  }

  closeBroadcast(broadcastId: number, txid: string, fee: bigint): Promise<NetworkTransaction> {
    return broadcasts.closeBroadcast(this.scope, broadcastId, txid, fee);
  }

  returnBroadcast(broadcastId: number, options: { quiet?: boolean } = {}): Promise<NetworkTransaction> {
    return broadcasts.returnBroadcast(this.scope, broadcastId, options);
  }

  markBroadcastForVetting(broadcastId: number): Promise<NetworkTransaction> {
    return broadcasts.markBroadcastForVetting(this.scope, broadcastId);
  }

  /** Broadcasts in the given states; by default the open ones and those awaiting vetting. */
  listBroadcasts(
    states?: readonly NetworkTransaction['state'][],
    options?: broadcasts.BroadcastListOptions,
  ): Promise<NetworkTransaction[]> {
    return broadcasts.listBroadcasts(this.scope, states, options);
  }

  // Queries ----------------------------------------------------------------------------------

  /** A transaction of this wallet. @throws NotFound */
  async getTransaction(id: number): Promise<Transaction> {
    const found = await findTransaction(this.scope, id);
    if (!found) throw new NotFound('transaction', id);
    return found;
  }

  /** Withdrawals queued and not yet in a broadcast, oldest first. */
  pendingWithdrawals(limit?: number): Promise<Transaction[]> {
    return queries.pendingWithdrawals(this.scope, limit);
  }

  /** Ids of the queued withdrawals held by a frozen sending account, oldest first. */
  heldWithdrawalIds(): Promise<number[]> {
    return queries.heldWithdrawalIds(this.scope);
  }

  /** Every deposit (optionally of one account), oldest first; with `newest`, only the newest that many, newest first. */
  deposits(options: { account?: AccountKey; newest?: number } = {}): Promise<Transaction[]> {
    return queries.deposits(this.scope, options);
  }

  /** Deposits seen but not credited (below the threshold, or reversed). */
  unconfirmedDeposits(): Promise<Transaction[]> {
    return queries.unconfirmedDeposits(this.scope);
  }

  /** Sum of an account's deposits on their way (seen, not yet credited). */
  unconfirmedBalance(account: AccountKey): Promise<bigint> {
    return queries.unconfirmedBalance(this.scope, account);
  }

  /** All-time received by an account or address with at least `minConfirmations`. */
  receivedByConfirmations(target: { account: AccountKey } | { address: string }, minConfirmations = 0): Promise<bigint> {
    return queries.receivedByConfirmations(this.scope, target, minConfirmations);
  }

  /**
   * Transactions of this wallet, or of one account (`account`: sent or received by it), newest
   * first, filtered by type, state and creation time (`from` inclusive, `to` exclusive), one page
   * of `limit` (default 100, at most 1000) at a time: pass the page's `next` as `cursor` for the
   * following one (`next` is null on the last page).
   */
  listTransactions(filter: queries.TransactionFilter = {}): Promise<queries.TransactionPage> {
    return queries.listTransactions(this.scope, filter);
  }

  /**
   * Every journal entry of this wallet, oldest first, with its account's name, its transaction's
   * type and txid, one page at a time (default 1000, at most 10 000): pass `next` as `after`.
   * What `cryptoassets export` writes, for one wallet.
   */
  listEntries(page: { after?: string; limit?: number } = {}): Promise<{ items: queries.JournalEntry[]; next: string | null }> {
    return queries.listEntries(this.scope, page);
  }

  /** A page of an account's journal, newest first. */
  accountHistory(account: AccountKey, page: { limit?: number; beforeId?: number } = {}): Promise<Entry[]> {
    return queries.accountHistory(this.scope, account, page);
  }
}

function only(transactions: Transaction[]): Transaction {
  return transactions[0]!;
}
