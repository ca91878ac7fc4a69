/**
 * A coin's ledger outside any transaction: the entry point for applications. Pure database work
 * goes through `transaction(book => …)`; the operations here also talk to the backend, so they
 * make their network call outside any database transaction and keep each transaction short.
 */
import { type CoinBackend, type NetworkTransactionInfo, OUTCOME_UNKNOWN } from '../backends/backend.js';
import { AlreadyExists, BackendError, InvalidState } from '../domain/errors.js';
import { checkOptionalName } from '../domain/names.js';
import type { AccountRef, CoinContext } from './context.js';
import { accountIdOf } from './context.js';
import type { CoinBook } from './coin-book.js';
import type { BalanceImport } from './balance-import.js';
import type { DepositUpdate } from './deposits.js';
import type { Address, NetworkTransaction, Transaction } from './records.js';

/** What the ledger needs from the application object. */
export interface LedgerHost {
  transaction<T>(fn: (book: CoinBook) => Promise<T>, mode: 'write' | 'read', retry: boolean, coin: string): Promise<T>;
  readonly log: LedgerLog;
}

/** The few log calls the ledger makes (a pino logger fits). */
export interface LedgerLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Outcome of one `broadcastPending` call. */
export type BroadcastOutcome =
  | { readonly status: 'nothing_to_send' }
  | { readonly status: 'sent'; readonly broadcast: NetworkTransaction; readonly withdrawals: readonly Transaction[] }
  | { readonly status: 'returned'; readonly broadcast: NetworkTransaction; readonly error: BackendError }
  | { readonly status: 'interrupted'; readonly broadcastId: number; readonly error: unknown };

/** Summary of a scan of received transactions. */
export interface ScanResult {
  readonly transactions: number;
  readonly updates: readonly DepositUpdate[];
}

export class CoinLedger {
  constructor(
    private readonly host: LedgerHost,
    /** The coin's rules, network and tables. */
    readonly context: CoinContext,
    private readonly coinBackend: CoinBackend | undefined,
  ) {}

  get code(): string {
    return this.context.coin.code;
  }

  /** The coin's backend. @throws InvalidState when the coin was opened without one. */
  get backend(): CoinBackend {
    if (!this.coinBackend) throw new InvalidState(`coin ${this.code} has no backend configured`);
    return this.coinBackend;
  }

  /**
   * Run `fn` in a managed serializable transaction; it may run more than once on conflicts, so it
   * must not make network calls or other outside effects.
   */
  transaction<T>(fn: (book: CoinBook) => Promise<T>): Promise<T> {
    return this.host.transaction(fn, 'write', true, this.code);
  }

  /** Run `fn` once; a conflict surfaces as `CannotResolveDatabaseConflict` instead of a re-run. */
  transactionOnce<T>(fn: (book: CoinBook) => Promise<T>): Promise<T> {
    return this.host.transaction(fn, 'write', false, this.code);
  }

  /** Run `fn` in a read-only transaction (retried on conflicts). */
  read<T>(fn: (book: CoinBook) => Promise<T>): Promise<T> {
    return this.host.transaction(fn, 'read', true, this.code);
  }

  /**
   * Create a receiving address for an account: the backend makes the address (network call, no
   * transaction open), then it is recorded. With no label, a unique automatic one is used.
   * @throws NotFound (wallet, account), AlreadyExists (label), BackendError
   */
  async createReceivingAddress(walletName: string, account: AccountRef, options: { label?: string } = {}): Promise<Address> {
    const accountId = accountIdOf(account);
    const requested = checkOptionalName('address label', options.label);
    const label = await this.read(async (book) => {
      const wallet = await book.wallet(walletName);
      await wallet.getAccount(accountId);
      if (requested !== null) {
        // Checked again at insert time; checking now saves a useless backend call.
        if (await wallet.isLabelTaken(requested)) throw new AlreadyExists('address label', requested);
        return requested;
      }
      return wallet.automaticLabel(accountId);
    });
    const address = await this.backend.createAddress(label);
    return this.transaction(async (book) => (await book.wallet(walletName)).addReceivingAddress(accountId, address, label));
  }

  /**
   * Ask the backend for every transaction that paid our wallet and record each (missed deposits
   * are found; known ones only get their confirmations updated): in one answer where the backend
   * offers `recentTransactions`, else page by page with `listReceived` to the very end. Recorded
   * `pageSize` transactions per database transaction.
   */
  async scanReceived(options: { pageSize?: number; onPage?: (scanned: number) => void } = {}): Promise<ScanResult> {
    const pageSize = options.pageSize ?? 500;
    const updates: DepositUpdate[] = [];
    let transactions = 0;
    const record = async (infos: readonly NetworkTransactionInfo[]) => {
      updates.push(...(await this.recordPage(infos)));
      transactions += infos.length;
      options.onPage?.(transactions);
    };
    const backend = this.backend;
    if (backend.recentTransactions) {
      // The whole history in one answer (bitcoind: listsinceblock from genesis), linear in the
      // wallet's size; paging listReceived costs the node time proportional to the wallet's size
      // for every page.
      const received = (await backend.recentTransactions(Number.MAX_SAFE_INTEGER)).filter((info) => info.received.length > 0);
      for (let start = 0; start < received.length; start += pageSize) await record(received.slice(start, start + pageSize));
      if (received.length === 0) options.onPage?.(0);
      return { transactions, updates };
    }
    let next: string | null = null;
    do {
      const page = await backend.listReceived(next, pageSize);
      await record(page.transactions);
      next = page.next;
    } while (next !== null);
    return { transactions, updates };
  }

  /** Record a page in one transaction; if that fails, one by one, so one bad transaction cannot hide the others. */
  private async recordPage(infos: readonly NetworkTransactionInfo[]): Promise<DepositUpdate[]> {
    const apply = (batch: readonly NetworkTransactionInfo[]) =>
      this.transaction(async (book) => {
        const recorded: DepositUpdate[] = [];
        for (const info of batch) recorded.push(...(await book.applyNetworkUpdate(info)).deposits);
        return recorded;
      });
    try {
      return await apply(infos);
    } catch (pageError) {
      this.host.log.warn({ coin: this.code, err: String(pageError) }, 'recording a page of received transactions failed; one by one');
      const updates: DepositUpdate[] = [];
      for (const info of infos) {
        try {
          updates.push(...(await apply([info])));
        } catch (error) {
          this.host.log.error({ coin: this.code, txid: info.txid, err: String(error) }, 'could not record a received transaction');
        }
      }
      return updates;
    }
  }

  /**
   * Book the backend wallet's unaccounted balance onto an account, once. Only balance with the
   * crediting threshold's confirmations counts.
   *
   * Order matters: the node's balance is read first, then received transactions are scanned, so
   * every deposit that balance counts is credited as a deposit (a scan sees at least as many
   * confirmations) instead of being swallowed by the import; at worst the import books too
   * little, never too much. A broadcast opened, closed or returned between the balance read and
   * the booking would make the two disagree, so the import then refuses: run it again (ideally
   * with the helper service stopped).
   * @throws InvalidState when broadcasts changed meanwhile, or one is open or awaiting vetting.
   */
  async importBalance(walletName: string, account: AccountRef, options: { label?: string } = {}): Promise<BalanceImport> {
    const before = await this.read((book) => book.broadcastsFingerprint());
    const backendBalance = await this.backend.getBalance(this.context.coin.confirmationThreshold);
    await this.scanReceived();
    const label = options.label ?? 'import of the backend balance';
    return this.transaction(async (book) => {
      if ((await book.broadcastsFingerprint()) !== before) {
        throw new InvalidState('a broadcast changed while the balance was being imported; run the import again');
      }
      return (await book.wallet(walletName)).importUnaccountedBalance(account, backendBalance, label);
    });
  }

  /**
   * Send the wallet's queued withdrawals as one transaction (`sendMany`): open the broadcast and
   * commit, call the backend, then close it with txid and fee. A refusal that proves nothing was
   * sent (any BackendError but `outcome_unknown`) returns the withdrawals to the queue; any other
   * failure leaves the broadcast open for reconciliation, never to be sent again blindly.
   */
  async broadcastPending(walletName: string, options: { outputsMax?: number } = {}): Promise<BroadcastOutcome> {
    const opened = await this.transaction(async (book) => (await book.wallet(walletName)).openBroadcast(options.outputsMax));
    if (!opened) return { status: 'nothing_to_send' };
    const broadcastId = opened.broadcast.id;
    const fields = { coin: this.code, wallet: walletName, broadcast: broadcastId, withdrawals: opened.withdrawals.length };
    let sent;
    try {
      sent = await this.backend.sendMany(opened.outputs, { comment: opened.broadcast.comment! });
    } catch (error) {
      // Only a backend error other than "outcome unknown" proves nothing was sent; anything else
      // (including a bug's exception) is treated as possibly sent, never as safe to resend.
      if (error instanceof BackendError && error.code !== OUTCOME_UNKNOWN) {
        const broadcast = await this.transaction(async (book) => (await book.wallet(walletName)).returnBroadcast(broadcastId));
        this.host.log.error({ ...fields, err: error.message }, 'the node refused the broadcast; withdrawals returned to the queue');
        return { status: 'returned', broadcast, error };
      }
      this.host.log.error(
        { ...fields, err: error instanceof Error ? error.message : String(error) },
        'broadcast outcome unknown; left open for reconciliation',
      );
      return { status: 'interrupted', broadcastId, error };
    }
    const broadcast = await this.transaction(async (book) =>
      (await book.wallet(walletName)).closeBroadcast(broadcastId, sent.txid, sent.fee),
    );
    this.host.log.info({ ...fields, txid: sent.txid, fee: sent.fee.toString() }, 'broadcast sent');
    const withdrawals = await this.read(async (book) => {
      const wallet = await book.wallet(walletName);
      return Promise.all(opened.withdrawals.map((withdrawal) => wallet.getTransaction(withdrawal.id)));
    });
    return { status: 'sent', broadcast, withdrawals };
  }
}
