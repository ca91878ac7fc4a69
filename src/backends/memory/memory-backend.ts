/**
 * One wallet of a `MemoryChain`, seen through the `CoinBackend` interface the way the ledger sees
 * a bitcoind wallet. Created by `MemoryChain.createWallet` / `openWallet`, never directly.
 */
import type {
  ChainChanges,
  ChainTip,
  CoinBackend,
  NetworkTransactionInfo,
  ReceivedOutput,
  ReceivedPage,
  SendOptions,
  SendOutputRequest,
  SendResult,
  SentOutput,
  TransactionsReading,
} from '../backend.js';
import { DEADLINE_PASSED, TXID_PATTERN } from '../backend.js';
import { BackendError, InvalidTxid, NotFound } from '../../domain/errors.js';
import { checkAddress } from './addresses.js';
import { selectChanges } from './changes.js';
import { tooLargeError, type MemoryMethod } from './faults.js';
import type { ChainState, ChainTransaction } from './state.js';

/** `listReceived` cursors: an offset into the wallet's append-only list of receiving txs. */
const CURSOR_PATTERN = /^memory:(0|[1-9]\d*)$/;

/** A wallet of the in-memory chain; see `MemoryChain` for the chain itself. */
export class MemoryBackend implements CoinBackend {
  readonly kind = 'memory';
  /** The wallet's name on its chain. */
  readonly walletName: string;
  private readonly state: ChainState;
  private closed = false;

  /** @internal Use `MemoryChain.createWallet` or `MemoryChain.openWallet`. */
  constructor(state: ChainState, walletName: string) {
    this.state = state;
    this.walletName = walletName;
  }

  /** A fresh address of this wallet for the chain's network; the label is kept with it. */
  async createAddress(label: string): Promise<string> {
    return this.call('createAddress', () => this.state.createAddress(this.walletName, label));
  }

  /**
   * Send one transaction paying `outputs`, with fee `feeBase + feePerOutput × outputs`.
   * Refuses, with a retryable `BackendError` and nothing sent, an empty list, amounts that are
   * not positive bigints, invalid or repeated addresses (bitcoind's sendmany refuses duplicates
   * too) (`code: 'invalid_request'`), totals the wallet cannot cover (`'insufficient_funds'`),
   * and, before the request reaches the node, a send whose `notAfter` is earlier than the
   * chain's clock (`'deadline_passed'`).
   */
  async sendMany(outputs: readonly SendOutputRequest[], options: SendOptions): Promise<SendResult> {
    const send = (): SendResult => {
      const checked = this.checkOutputs(outputs);
      const fee = this.state.feeBase + this.state.feePerOutput * BigInt(checked.length);
      const total = checked.reduce((sum, output) => sum + output.amount, 0n);
      // Spendable = minconf-0 balance: the model has no coin selection, and counting unconfirmed
      // receives keeps tests short; the ledger never relies on the node refusing those.
      const spendable = this.state.balance(this.walletName, 0);
      if (total + fee > spendable) {
        throw new BackendError(
          `insufficient funds: wallet ${JSON.stringify(this.walletName)} can spend ${spendable}, ` +
            `the transaction needs ${total + fee} (outputs ${total} + fee ${fee})`,
          { retryable: true, code: 'insufficient_funds' },
        );
      }
      const comment = options?.comment;
      const tx = this.state.addTransaction({
        outputs: checked,
        sender: this.walletName,
        fee,
        ...(typeof comment === 'string' && comment !== '' ? { comment } : {}),
      });
      return { txid: tx.txid, fee };
    };
    return this.call('sendMany', send, () => this.checkDeadline(options?.notAfter));
  }

  /**
   * The transaction as this wallet sees it. Uppercase txids are accepted; the answer is in
   * lowercase.
   * @throws InvalidTxid when `txid` is not 64 hex characters; NotFound when the transaction
   * neither pays nor was sent by this wallet.
   */
  async getTransaction(txid: string): Promise<NetworkTransactionInfo> {
    return this.call('getTransaction', () => {
      const normalized = typeof txid === 'string' ? txid.toLowerCase() : '';
      if (!TXID_PATTERN.test(normalized)) throw new InvalidTxid(String(txid));
      const tx = this.state.transaction(normalized);
      const info = tx && this.view(tx);
      if (!info) throw new NotFound('transaction', normalized);
      return info;
    });
  }

  /**
   * Every transaction that paid this wallet, oldest first (order of first appearance, which
   * does not change with reorgs), conflicted ones included so callers learn of double spends.
   * The cursor counts items already returned from an append-only list, so pages neither skip nor
   * repeat even when payments arrive between calls; a cursor can be reused and gives the same
   * page plus anything that arrived since, up to `pageSize`.
   */
  async listReceived(next: string | null, pageSize: number): Promise<ReceivedPage> {
    return this.call('listReceived', (): ReceivedPage => {
      if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
        throw new RangeError(`listReceived: pageSize must be a positive integer, got ${String(pageSize)}`);
      }
      const received = this.state.wallet(this.walletName).receivedTxids;
      const start = this.parseCursor(next, received.length);
      const txids = received.slice(start, start + pageSize);
      const end = start + txids.length;
      const transactions = txids.map((txid) => {
        const tx = this.state.transaction(txid);
        if (!tx) throw new Error(`memory chain lost transaction ${txid}`);
        return this.mustView(tx);
      });
      return { transactions, next: end < received.length ? `memory:${end}` : null, tip: this.state.tip };
    });
  }

  /**
   * Received minus sent minus fees over transactions that are not conflicted; receives count
   * once they have `minConfirmations`, sends and fees at once.
   */
  async getBalance(minConfirmations: number): Promise<bigint> {
    return this.call('getBalance', () => {
      if (!Number.isSafeInteger(minConfirmations) || minConfirmations < 0) {
        throw new RangeError(`getBalance: minConfirmations must be a non-negative integer, got ${String(minConfirmations)}`);
      }
      return this.state.balance(this.walletName, minConfirmations);
    });
  }

  /** Our send carrying this comment, if any. */
  async findByComment(comment: string): Promise<NetworkTransactionInfo | undefined> {
    return this.call('findByComment', () => {
      for (const txid of this.state.wallet(this.walletName).txids) {
        const tx = this.state.transaction(txid);
        if (tx && tx.sender === this.walletName && tx.comment === comment) return this.view(tx) ?? undefined;
      }
      return undefined;
    });
  }

  /** The chain's best block. */
  async chainTip(): Promise<ChainTip> {
    return this.call('chainTip', () => this.state.tip);
  }

  /**
   * The wallet's transactions that may have changed since `cursor`, read at one tip; see
   * `CoinBackend.changesSince` and `./changes.ts` for which. Conflicted receives are listed like
   * other transactions (bitcoind hides them). `removed` holds the wallet's txids in blocks of the
   * cursor's branch that a reorganisation disconnected.
   * @throws BackendError `answer_too_large` when the answer holds more transactions than the
   *   chain's answer cap; `invalid_cursor` for a cursor this chain never gave; RangeError for a
   *   negative depth.
   */
  async changesSince(cursor: ChainTip | null, depth: number): Promise<ChainChanges> {
    return this.call('changesSince', (): ChainChanges => {
      const selected = selectChanges(this.state, this.walletName, cursor, depth);
      const cap = this.state.answerCap;
      if (cap !== null && selected.transactions.length > cap) {
        throw tooLargeError('changesSince', this.walletName, `${selected.transactions.length} transactions, cap ${cap}`);
      }
      return {
        tip: this.state.tip,
        transactions: selected.transactions.map((tx) => this.mustView(tx)),
        removed: [...selected.removed],
      };
    });
  }

  /**
   * The wallet's view of each txid (uppercase accepted, answers in lowercase, duplicates read
   * once, in the order given), at one tip. Txids the wallet does not know, other wallets'
   * transactions among them, are listed in `unknown`.
   * @throws InvalidTxid for a malformed txid, before the call reaches the node (no hook, no
   *   injected failure).
   */
  async readTransactions(txids: readonly string[]): Promise<TransactionsReading> {
    if (!Array.isArray(txids)) throw new TypeError('readTransactions: txids must be an array');
    const wanted = [
      ...new Set(
        txids.map((txid: unknown) => {
          const normalized = typeof txid === 'string' ? txid.toLowerCase() : '';
          if (!TXID_PATTERN.test(normalized)) throw new InvalidTxid(String(txid));
          return normalized;
        }),
      ),
    ];
    return this.call('readTransactions', (): TransactionsReading => {
      const transactions: NetworkTransactionInfo[] = [];
      const unknown: string[] = [];
      for (const txid of wanted) {
        const tx = this.state.transaction(txid);
        const info = tx && this.view(tx);
        if (info) transactions.push(info);
        else unknown.push(txid);
      }
      return { tip: this.state.tip, transactions, unknown };
    });
  }

  /** Marks this handle closed: later calls throw. The wallet stays on the chain (`openWallet`). */
  async close(): Promise<void> {
    this.closed = true;
  }

  /**
   * One backend call: refused on a closed handle; then the call hook (`'before'`), checks made
   * before a request leaves (`clientCheck`), the node's part (down, injected failure, then
   * `operation`), the call hook (`'after'`), and the answer. Without a hook the call runs
   * synchronously, as it always did, so tests that do not use hooks see no extra turns.
   */
  private async call<T>(method: MemoryMethod, operation: () => T, clientCheck?: () => void): Promise<T> {
    if (this.closed) {
      throw new BackendError(`memory backend of wallet ${JSON.stringify(this.walletName)} is closed`, {
        retryable: false,
        code: 'backend_closed',
      });
    }
    const before = this.startHook(method, 'before');
    if (before) await before;
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      clientCheck?.();
      outcome = { ok: true, value: this.state.faults.apply(method, this.walletName, operation) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    // A throwing 'after' hook replaces the answer: the call WAS carried out (a send went out) but
    // the caller never learns its outcome, which is how a crash or a lost answer looks.
    const after = this.startHook(method, 'after');
    if (after) await after;
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  /**
   * Start the hook set on the chain now, or return undefined without one: the caller awaits only
   * a real hook, so that hook-free calls keep running synchronously up to their answer.
   */
  private startHook(method: MemoryMethod, phase: 'before' | 'after'): Promise<void> | undefined {
    const hook = this.state.faults.callHook;
    return hook === null ? undefined : hook({ method, wallet: this.walletName, phase });
  }

  /** Refuses a send whose `notAfter` is earlier than the chain's clock (see `SendOptions`). */
  private checkDeadline(notAfter: unknown): void {
    if (notAfter === undefined) return;
    if (typeof notAfter !== 'number' || Number.isNaN(notAfter)) {
      throw new BackendError(`sendMany refused, nothing sent: notAfter must be a number, got ${describe(notAfter)}`, {
        retryable: true,
        code: 'invalid_request',
      });
    }
    const now = this.state.now();
    if (now > notAfter) {
      throw new BackendError(`sendMany refused, nothing sent: its deadline ${notAfter} passed at ${now}`, {
        retryable: true,
        code: DEADLINE_PASSED,
      });
    }
  }

  private checkOutputs(outputs: readonly SendOutputRequest[]): { address: string; amount: bigint }[] {
    const refuse = (message: string): BackendError =>
      new BackendError(`sendMany refused, nothing sent: ${message}`, { retryable: true, code: 'invalid_request' });
    if (!Array.isArray(outputs) || outputs.length === 0) throw refuse('no outputs');
    const seen = new Set<string>();
    return outputs.map((output, index) => {
      const amount: unknown = output?.amount;
      if (typeof amount !== 'bigint' || amount <= 0n) {
        throw refuse(`output ${index} amount must be a positive bigint, got ${describe(amount)}`);
      }
      const check = checkAddress(output.address, this.state.network);
      if (!check.ok) {
        throw refuse(
          `output ${index} address ${JSON.stringify(String(output.address))} is not a valid ${this.state.network.name} address (${check.detail})`,
        );
      }
      const address = check.address;
      if (seen.has(address)) throw refuse(`output ${index} repeats address ${address}`);
      seen.add(address);
      return { address, amount };
    });
  }

  private parseCursor(next: string | null, length: number): number {
    if (next === null) return 0;
    const match = typeof next === 'string' ? CURSOR_PATTERN.exec(next) : null;
    const offset = match?.[1] === undefined ? Number.NaN : Number(match[1]);
    if (!Number.isSafeInteger(offset) || offset > length) {
      throw new BackendError(`listReceived: ${JSON.stringify(String(next))} is not a cursor of this wallet`, {
        retryable: false,
        code: 'invalid_cursor',
      });
    }
    return offset;
  }

  /** The wallet's view of a transaction the wallet's own index holds (so it concerns the wallet). */
  private mustView(tx: ChainTransaction): NetworkTransactionInfo {
    const info = this.view(tx);
    if (!info) throw new Error(`memory chain indexed transaction ${tx.txid} under wallet ${this.walletName}, which it does not concern`);
    return info;
  }

  /** The wallet's view of `tx`, or null when the transaction does not concern this wallet. */
  private view(tx: ChainTransaction): NetworkTransactionInfo | null {
    const received: ReceivedOutput[] = tx.outputs
      .filter((output) => this.state.addressRecord(output.address)?.wallet === this.walletName)
      .map(({ address, amount, vout }) => ({ address, amount, vout }));
    const ours = tx.sender === this.walletName;
    if (!ours && received.length === 0) return null;
    // Like bitcoind, a send to our own address is listed both as sent and as received.
    const sent: SentOutput[] = ours ? tx.outputs.map(({ address, amount, vout }) => ({ address, amount, vout })) : [];
    const blockHeight = this.state.blockHeight(tx);
    return {
      txid: tx.txid,
      confirmations: this.state.confirmations(tx),
      received,
      sent,
      fee: ours ? tx.fee : 0n,
      ...(ours && tx.comment !== undefined ? { comment: tx.comment } : {}),
      ...(tx.blockHash !== null && blockHeight !== undefined ? { blockHash: tx.blockHash, blockHeight } : {}),
    };
  }
}

function describe(value: unknown): string {
  return typeof value === 'bigint' ? `${value}n` : `${typeof value} ${String(value)}`;
}
