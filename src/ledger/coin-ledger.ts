/**
 * A coin's ledger outside any transaction: the entry point for applications. Pure database work
 * goes through `transaction(book => …)`; the operations here also talk to the backend, so they
 * make their network call outside any database transaction and keep each transaction short.
 */
import { type CoinBackend, DEADLINE_PASSED, OUTCOME_UNKNOWN, REFUSAL_CODES } from '../backends/backend.js';
import { assertValidAddress } from '../domain/address.js';
import { BackendError, InvalidState } from '../domain/errors.js';
import { checkOptionalName } from '../domain/names.js';
import type { AccountKey, CoinContext, WalletScope, WriteFence } from './context.js';
import { insertReceivingAddress, planReceivingAddress, type ReceivingAddressPlan, receivingAddressRefusal } from './addresses.js';
import type { OpenedBroadcast } from './broadcasts.js';
import { syncWithChain, type SyncResult } from './chain-sync.js';
import type { CoinBook } from './coin-book.js';
import type { BalanceImport } from './balance-import.js';
import type { DepositUpdate } from './deposits.js';
import type { Address, NetworkTransaction, Transaction } from './records.js';
import type { SqlExecutor } from '../store/database.js';
import {
  type BatchTarget,
  type TransferRequest,
  transferManyPostgres,
  transferOnePostgres,
  type WithdrawalRequest,
  withdrawManyPostgres,
} from './batch-moves.js';
import type { SendOptions, WalletBook } from './wallet-book.js';

/** What the ledger needs from the application object. */
export interface LedgerHost {
  transaction<T>(fn: (book: CoinBook) => Promise<T>, mode: 'write' | 'read', retry: boolean, coin: string): Promise<T>;
  /**
   * Run `fn`, which issues one statement, outside an explicit transaction (READ COMMITTED on
   * PostgreSQL), re-run on conflicts like a managed transaction. Absent on SQLite.
   */
  readonly autocommit?: <T>(fn: (tx: SqlExecutor) => Promise<T>) => Promise<T>;
  readonly log: LedgerLog;
}

/** The few log calls the ledger makes (a pino logger fits). */
export interface LedgerLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** A batch that went out. */
export interface SentBroadcast {
  readonly broadcast: NetworkTransaction;
  readonly withdrawals: readonly Transaction[];
}

/**
 * Outcome of one `broadcastPending` call.
 * - `sent`: the batch went out whole.
 * - `isolated`: the node refused the batch for what it held; it was split until the withdrawals
 *   the node refuses alone were found (`refused`, now in state `refused`) and the rest sent
 *   (`sent`, one or more broadcasts). `stopped` says why the split ended early, if it did.
 * - `returned`: the node could not take the batch (down, locked wallet, deadline passed);
 *   nothing was sent and the withdrawals wait in the queue, without an event.
 * - `interrupted`: the outcome of a send is unknown; its broadcast stays open for reconciliation.
 */
export type BroadcastOutcome =
  | { readonly status: 'nothing_to_send' }
  | ({ readonly status: 'sent' } & SentBroadcast)
  | {
      readonly status: 'isolated';
      readonly sent: readonly SentBroadcast[];
      readonly refused: readonly Transaction[];
      readonly stopped?: Extract<BroadcastOutcome, { status: 'returned' | 'interrupted' }>;
    }
  | { readonly status: 'returned'; readonly broadcast: NetworkTransaction; readonly error: BackendError }
  | { readonly status: 'interrupted'; readonly broadcastId: number; readonly error: unknown };

/** How many automatic labels `createReceivingAddress` draws before giving up (each is almost surely free). */
const AUTOMATIC_LABEL_ATTEMPTS = 5;

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
    /** With a fence, every write transaction first checks that the lease still holds. */
    readonly fence?: WriteFence,
  ) {}

  /**
   * This ledger with every write transaction conditional on `fence` (the helper service's lease),
   * and every send bounded by its deadline.
   */
  fenced(fence: WriteFence): CoinLedger {
    return new CoinLedger(this.host, this.context, this.coinBackend, fence);
  }

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
    return this.host.transaction(this.withFence(fn), 'write', true, this.code);
  }

  /** Run `fn` once; a conflict surfaces as `CannotResolveDatabaseConflict` instead of a re-run. */
  transactionOnce<T>(fn: (book: CoinBook) => Promise<T>): Promise<T> {
    return this.host.transaction(this.withFence(fn), 'write', false, this.code);
  }

  private withFence<T>(fn: (book: CoinBook) => Promise<T>): (book: CoinBook) => Promise<T> {
    const fence = this.fence;
    if (!fence) return fn;
    return async (book) => {
      await fence.check(book.executor);
      return fn(book);
    };
  }

  /** Run `fn` in a read-only transaction (retried on conflicts). */
  read<T>(fn: (book: CoinBook) => Promise<T>): Promise<T> {
    return this.host.transaction(fn, 'read', true, this.code);
  }

  /**
   * Move an amount between two accounts of a wallet in a transaction of its own. On PostgreSQL
   * this is one statement (one round trip) at READ COMMITTED: the server-side function locks both
   * accounts in id order and checks the balance under those row locks, so concurrent transfers
   * neither overdraw nor deadlock nor abort. Under the helper service's lease, and on SQLite,
   * it runs as a managed transaction. @throws as `WalletBook.transfer`
   */
  async transfer(
    walletName: string,
    from: AccountKey,
    to: AccountKey,
    amount: bigint | string,
    label: string | null = null,
    options: Omit<SendOptions, 'forceExternal'> = {},
  ): Promise<Transaction> {
    const request = { from, to, amount, label, ...options };
    const [done] = await this.moveMoney(
      walletName,
      async (target) => [await transferOnePostgres(target, request)],
      async (wallet) => [await wallet.transfer(from, to, amount, label, options)],
    );
    return done!;
  }

  /** Queue a withdrawal in a transaction of its own, as `transfer`. @throws as `WalletBook.withdraw` */
  async withdraw(
    walletName: string,
    from: AccountKey,
    address: string,
    amount: bigint | string,
    label: string | null = null,
    options: Omit<SendOptions, 'forceExternal'> = {},
  ): Promise<Transaction> {
    const request = { from, address, amount, label, ...options };
    const [done] = await this.moveMoney(
      walletName,
      (target) => withdrawManyPostgres(target, [request], 'single'),
      async (wallet) => [await wallet.withdraw(from, address, amount, label, options)],
    );
    return done!;
  }

  /** `WalletBook.transferMany` in a transaction of its own: on PostgreSQL one statement, as `transfer`. */
  transferMany(walletName: string, items: readonly TransferRequest[]): Promise<Transaction[]> {
    return this.moveMoney(
      walletName,
      (target) => transferManyPostgres(target, items, 'batch'),
      (wallet) => wallet.transferMany(items),
    );
  }

  /** `WalletBook.withdrawMany` in a transaction of its own: on PostgreSQL one statement, as `transfer`. */
  withdrawMany(walletName: string, items: readonly WithdrawalRequest[]): Promise<Transaction[]> {
    return this.moveMoney(
      walletName,
      (target) => withdrawManyPostgres(target, items, 'batch'),
      (wallet) => wallet.withdrawMany(items),
    );
  }

  /**
   * One statement outside a transaction where the engine has that (PostgreSQL) and no lease fence
   * must be checked in the same transaction; otherwise a managed transaction with the fence.
   */
  private moveMoney(
    walletName: string,
    direct: (target: BatchTarget) => Promise<Transaction[]>,
    inTransaction: (wallet: WalletBook) => Promise<Transaction[]>,
  ): Promise<Transaction[]> {
    const autocommit = this.host.autocommit;
    if (autocommit && !this.fence) return autocommit((tx) => direct({ tx, context: this.context, walletName }));
    return this.transaction(async (book) => inTransaction(await book.wallet(walletName)));
  }

  /**
   * Create a receiving address for an account: the backend makes the address (network call, no
   * transaction open), then it is recorded. With no label, a unique automatic one is used.
   *
   * Two statements where the engine runs them outside a transaction (PostgreSQL) and no lease
   * fence applies: one look-up before the backend call (wallet, account, whether the label is
   * free) and one conditional insert after it, each committing on its own; nothing is written
   * unless the insert succeeds. Otherwise the insert runs in a managed transaction with the fence.
   * Only a refused insert costs the look-ups that say why.
   * @throws NotFound (wallet, account), AlreadyExists (address, label), InvalidAddress, BackendError
   */
  async createReceivingAddress(walletName: string, account: AccountKey, options: { label?: string } = {}): Promise<Address> {
    const requested = checkOptionalName('address label', options.label);
    const plan = await this.planReceivingAddress(walletName, account, requested);
    const address = await this.backend.createAddress(plan.label);
    const canonical = assertValidAddress(address, this.context.network);
    const autocommit = this.host.autocommit;
    if (autocommit && !this.fence) {
      const recorded = await autocommit((tx) =>
        insertReceivingAddress({ tx, context: this.context, walletId: plan.walletId }, plan.accountId, canonical, plan.label),
      );
      if (recorded) return recorded;
      throw await this.read(async (book) =>
        receivingAddressRefusal(this.walletScope(book, (await book.wallet(walletName)).id), plan.accountId, canonical, plan.label),
      );
    }
    return this.transaction(async (book) => {
      const scope = this.walletScope(book, plan.walletId);
      const recorded = await insertReceivingAddress(scope, plan.accountId, canonical, plan.label);
      if (recorded) return recorded;
      await book.wallet(walletName);
      throw await receivingAddressRefusal(scope, plan.accountId, canonical, plan.label);
    });
  }

  /**
   * The wallet and account ids and the label of a new address, read in one statement (outside a
   * transaction where the engine has that: it only reads, so no fence applies). An automatic
   * label that happens to be taken is drawn again, a bounded number of times.
   */
  private async planReceivingAddress(walletName: string, account: AccountKey, requested: string | null): Promise<ReceivingAddressPlan> {
    const autocommit = this.host.autocommit;
    for (let attempt = 1; attempt <= AUTOMATIC_LABEL_ATTEMPTS; attempt++) {
      const plan = autocommit
        ? await autocommit((tx) => planReceivingAddress({ tx, context: this.context }, walletName, account, requested))
        : await this.read((book) => planReceivingAddress({ tx: book.executor, context: this.context }, walletName, account, requested));
      if (plan) return plan;
    }
    throw new InvalidState(`no free automatic address label after ${AUTOMATIC_LABEL_ATTEMPTS} attempts`);
  }

  private walletScope(book: CoinBook, walletId: number): WalletScope {
    return { tx: book.executor, context: this.context, walletId };
  }

  /**
   * Read the wallet's whole history from the backend and record every transaction of it (missed
   * deposits are found; known ones get their confirmations updated), then move the chain cursor.
   * Fails as a whole (`ScanIncomplete`, naming the txids) when any transaction could not be
   * recorded; what could be recorded stays recorded. See `chain-sync.ts`.
   */
  async scanReceived(options: { pageSize?: number; onPage?: (scanned: number) => void } = {}): Promise<ScanResult> {
    const result = await this.syncWithChain({
      full: true,
      ...(options.onPage ? { onProgress: options.onPage } : {}),
      ...(options.pageSize ? { pageSize: options.pageSize } : {}),
    });
    return { transactions: result.transactions, updates: result.updates.flatMap((update) => update.deposits) };
  }

  /**
   * Everything that changed on the chain since the cursor (the whole history the first time, or
   * with `full`), recorded, and the cursor moved. The helper service runs this every poll period.
   */
  syncWithChain(options: { full?: boolean; onProgress?: (applied: number) => void; pageSize?: number } = {}): Promise<SyncResult> {
    return syncWithChain(this, options);
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
   * with the helper service stopped). The scan must be complete: if any transaction could not
   * be recorded, nothing is booked (`ScanIncomplete`), because the import would otherwise book
   * that deposit's amount and a later scan would credit it again.
   * @throws InvalidState when broadcasts changed meanwhile, or one is open or awaiting vetting;
   *   ScanIncomplete; BackendError.
   */
  async importBalance(walletName: string, account: AccountKey, options: { label?: string } = {}): Promise<BalanceImport> {
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
   * commit, call the backend, then close it with txid and fee. Nothing is ever sent twice:
   * - a refusal of the batch for what it holds (`REFUSAL_CODES`) splits it in halves, each
   *   opened and sent as a broadcast of its own, until the withdrawals the node refuses alone are
   *   found: those become `refused` with the node's reason, the others go out;
   * - any other refusal that proves nothing was sent (node down, wallet locked, the lease's
   *   deadline passed) returns the withdrawals to the queue quietly, for a later round;
   * - anything else (timeout, lost answer, a bug's exception) leaves the broadcast open for
   *   reconciliation, never to be sent again blindly.
   */
  async broadcastPending(walletName: string, options: { outputsMax?: number } = {}): Promise<BroadcastOutcome> {
    const first = await this.openAndSend(walletName, { ...options });
    if (first === undefined) return { status: 'nothing_to_send' };
    if (first.status !== 'refused_batch') return first;
    const sent: SentBroadcast[] = [];
    const refused: Transaction[] = [];
    if (first.withdrawalIds.length === 1) return { status: 'isolated', sent, refused: await this.refuse(walletName, first) };
    const parts = halves(first.withdrawalIds);
    while (parts.length > 0) {
      const ids = parts.shift()!;
      const outcome = await this.openAndSend(walletName, { withdrawalIds: ids });
      if (outcome === undefined) continue; // taken meanwhile (cancelled)
      if (outcome.status === 'sent') sent.push(outcome);
      else if (outcome.status === 'refused_batch') {
        if (outcome.withdrawalIds.length === 1) refused.push(...(await this.refuse(walletName, outcome)));
        else parts.unshift(...halves(outcome.withdrawalIds));
      } else return { status: 'isolated', sent, refused, stopped: outcome };
    }
    return { status: 'isolated', sent, refused };
  }

  /** Open a broadcast of (some) pending withdrawals and send it; undefined when none waits. */
  private async openAndSend(
    walletName: string,
    options: { outputsMax?: number; withdrawalIds?: readonly number[] },
  ): Promise<Exclude<BroadcastOutcome, { status: 'nothing_to_send' | 'isolated' }> | RefusedBatch | undefined> {
    const leaseGeneration = this.fence?.generation;
    const opened = await this.transaction(async (book) =>
      (await book.wallet(walletName)).openBroadcast({ ...options, ...(leaseGeneration === undefined ? {} : { leaseGeneration }) }),
    );
    if (!opened) return undefined;
    return this.send(walletName, opened);
  }

  private async send(
    walletName: string,
    opened: OpenedBroadcast,
  ): Promise<Exclude<BroadcastOutcome, { status: 'nothing_to_send' | 'isolated' }> | RefusedBatch> {
    const broadcastId = opened.broadcast.id;
    const fields = { coin: this.code, wallet: walletName, broadcast: broadcastId, withdrawals: opened.withdrawals.length };
    let sent;
    try {
      const notAfter = this.fence?.sendDeadline();
      if (notAfter !== undefined && this.fence!.now() > notAfter) {
        throw new BackendError('the service lease may expire before the send reaches the node; not sent', {
          retryable: true,
          code: DEADLINE_PASSED,
        });
      }
      sent = await this.backend.sendMany(opened.outputs, {
        comment: opened.broadcast.comment!,
        ...(notAfter === undefined ? {} : { notAfter }),
      });
    } catch (error) {
      // Only a backend error other than "outcome unknown" proves nothing was sent; anything else
      // (including a bug's exception) is treated as possibly sent, never as safe to resend.
      if (error instanceof BackendError && error.code !== OUTCOME_UNKNOWN) {
        const broadcast = await this.transaction(async (book) =>
          (await book.wallet(walletName)).returnBroadcast(broadcastId, { quiet: true }),
        );
        if (REFUSAL_CODES.has(error.code)) {
          this.host.log.warn({ ...fields, err: error.message }, 'the node refused the batch; splitting it to find what it refuses');
          return { status: 'refused_batch', withdrawalIds: opened.withdrawals.map((w) => w.id), broadcast, error };
        }
        this.host.log.error({ ...fields, err: error.message }, 'the node could not take the broadcast; withdrawals wait in the queue');
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
    this.host.log.info(
      {
        ...fields,
        txid: sent.txid,
        fee: sent.fee.toString(),
        outputs: opened.outputs.map((output) => ({ address: output.address, amount: output.amount.toString() })),
      },
      'broadcast sent',
    );
    const withdrawals = await this.read(async (book) => {
      const wallet = await book.wallet(walletName);
      return Promise.all(opened.withdrawals.map((withdrawal) => wallet.getTransaction(withdrawal.id)));
    });
    return { status: 'sent', broadcast, withdrawals };
  }

  /** A one-withdrawal batch the node refused: reopen it and mark it refused with the node's reason. */
  private async refuse(walletName: string, batch: RefusedBatch): Promise<Transaction[]> {
    const [withdrawalId] = batch.withdrawalIds;
    const leaseGeneration = this.fence?.generation;
    const refused = await this.transaction(async (book) => {
      const wallet = await book.wallet(walletName);
      const opened = await wallet.openBroadcast({
        withdrawalIds: [withdrawalId!],
        ...(leaseGeneration === undefined ? {} : { leaseGeneration }),
      });
      if (!opened) return [];
      return wallet.refuseBroadcast(opened.broadcast.id, `${batch.error.code}: ${batch.error.message}`);
    });
    for (const withdrawal of refused) {
      this.host.log.error(
        {
          coin: this.code,
          wallet: walletName,
          withdrawal: withdrawal.id,
          amount: withdrawal.amount.toString(),
          reason: withdrawal.refusal,
        },
        'the node refused a withdrawal; it waits for an operator (retry-withdrawal or cancel-withdrawal)',
      );
    }
    return refused;
  }
}

/** A batch the node refused for what it held (internal to `broadcastPending`). */
interface RefusedBatch {
  readonly status: 'refused_batch';
  readonly withdrawalIds: readonly number[];
  readonly broadcast: NetworkTransaction;
  readonly error: BackendError;
}

function halves(ids: readonly number[]): number[][] {
  const middle = Math.ceil(ids.length / 2);
  return [ids.slice(0, middle), ids.slice(middle)].filter((part) => part.length > 0);
}
