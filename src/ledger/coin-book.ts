/**
 * One coin's ledger inside one open transaction: wallets, and the operations that span wallets
 * (a deposit may pay addresses of several wallets).
 */
import { NotFound } from '../domain/errors.js';
import type { CoinContext, CoinScope } from './context.js';
import { findWallet, getOrCreateWallet, listWallets } from './accounts.js';
import { type DepositReport, type DepositUpdate, recordDeposit } from './deposits.js';
import type { Wallet } from './records.js';
import { type CoinCheck, verifyCoin } from './verify.js';
import {
  applyNetworkUpdate,
  applyReading,
  type NetworkUpdate,
  type ReadingApplied,
  type TrackedTransaction,
  countTracked,
  trackedTransactions,
} from './tracking.js';
import type { ChainReading, ChainTip, NetworkTransactionInfo } from '../backends/backend.js';
import { moveCursor, type ReadingRegister, readRegister } from './readings.js';
import { type NodeBookFigures, readNodeFigures } from './node-figures.js';
import { resendUnprocessed } from '../events/resend.js';
import { WalletBook } from './wallet-book.js';
import type { SqlExecutor } from '../store/database.js';

export class CoinBook {
  private readonly scope: CoinScope;

  /** @internal use `app.transaction(…)` */
  constructor(tx: SqlExecutor, context: CoinContext) {
    this.scope = { tx, context };
  }

  /** @internal The open transaction (the helper service's lease fence runs in it). */
  get executor(): SqlExecutor {
    return this.scope.tx;
  }

  /** The coin's code, e.g. `btc`. */
  get code(): string {
    return this.scope.context.coin.code;
  }

  /** The coin's rules and network as configured. */
  get context(): CoinContext {
    return this.scope.context;
  }

  /** A wallet by name. @throws NotFound */
  async wallet(name: string): Promise<WalletBook> {
    const wallet = await findWallet(this.scope, name);
    if (!wallet) throw new NotFound('wallet', name);
    return new WalletBook(this.scope, wallet);
  }

  /** A wallet by name, created if missing. */
  async getOrCreateWallet(name: string): Promise<WalletBook> {
    return new WalletBook(this.scope, await getOrCreateWallet(this.scope, name));
  }

  listWallets(): Promise<Wallet[]> {
    return listWallets(this.scope);
  }

  /**
   * Record what the network says about a transaction paying our addresses: creates the deposits
   * on first sight, updates confirmations, credits at the threshold exactly once, reverses a
   * credit that lost its confirmations or was conflicted. Idempotent.
   * @throws InvalidTxid, InvalidAmount, InvalidDeposit (contradicts what was recorded)
   */
  recordDeposit(report: DepositReport): Promise<DepositUpdate[]> {
    return recordDeposit(this.scope, report);
  }

  /**
   * Apply the backend's view of one transaction: deposits to our addresses and the confirmations
   * of our own broadcast with that txid (a send to ourselves is both). Idempotent.
   */
  applyNetworkUpdate(info: NetworkTransactionInfo): Promise<NetworkUpdate> {
    return applyNetworkUpdate(this.scope, info);
  }

  /**
   * Apply a node reading (see `readings.ts`): refused with StaleReading when a reading of another
   * tip was applied since `ticket` was taken; with `moveCursor`, moves the chain cursor to its tip.
   */
  applyReading(reading: ChainReading, ticket: number, options: { moveCursor?: boolean } = {}): Promise<ReadingApplied> {
    return applyReading(this.scope, reading, ticket, options);
  }

  /** The reading register and chain cursor of the coin. */
  readingRegister(): Promise<ReadingRegister> {
    return readRegister(this.scope);
  }

  /** Move the chain cursor to `tip`; with `expected`, only if it is still there. */
  moveCursor(tip: ChainTip, expected?: ChainTip | null): Promise<boolean> {
    return moveCursor(this.scope, tip, expected);
  }

  /** Network transactions still below the coin's tracking limit (deposits and our broadcasts). */
  trackedTransactions(limit?: number): Promise<TrackedTransaction[]> {
    return trackedTransactions(this.scope, limit);
  }

  /** How many network transactions are tracked (below the tracking limit). */
  trackedCount(): Promise<number> {
    return countTracked(this.scope);
  }

  /** Send txupdate again for credited deposits not marked processed and quiet for `olderThanMs`. */
  resendUnprocessed(olderThanMs: number, limit?: number): Promise<number> {
    return resendUnprocessed(this.scope, olderThanMs, limit);
  }

  /**
   * Changes whenever any broadcast of the coin is opened, closed, returned or vetted (not when
   * only its confirmations change: a sync in between must not make an import refuse).
   */
  async broadcastsFingerprint(): Promise<string> {
    const row = await this.scope.tx.get<Record<string, unknown>>(
      `SELECT COUNT(*) AS n, MAX(id) AS latest,
         COUNT(CASE WHEN state = 'closed' THEN 1 END) AS closed,
         COUNT(CASE WHEN state = 'returned' THEN 1 END) AS returned,
         COUNT(CASE WHEN state = 'vetting' THEN 1 END) AS vetting
       FROM ${this.scope.context.tables.networkTransaction} WHERE transaction_type = 'broadcast'`,
    );
    return ['n', 'latest', 'closed', 'returned', 'vetting'].map((key) => String(row?.[key] ?? 0)).join(':');
  }

  /** The ledger check of this coin's wallets (see `verifyLedger`). */
  verify(): Promise<CoinCheck> {
    return verifyCoin(this.scope);
  }

  /** What the node wallet should hold by the books, over every wallet of the coin (see `auditCoin`). */
  nodeFigures(): Promise<NodeBookFigures> {
    return readNodeFigures(this.scope);
  }
}
