/**
 * `CoinBackend` on a bitcoind-compatible node (Bitcoin Core, Litecoin Core, Dogecoin Core) over
 * JSON-RPC, using only the wallet API of current nodes (no accounts API).
 *
 * Guarantees beyond the interface:
 * - The fee of a send is the transaction's fee counted once, not once per output line.
 * - `sendMany` never repeats a `sendmany` call. When its outcome cannot be known (time limit,
 *   connection lost after sending, unreadable or oversized answer) it throws `outcome_unknown`;
 *   the caller must reconcile with `findByComment` before sending again. Every other error means
 *   nothing was sent.
 * - Amounts go to and come from the node as decimal text, never through a float.
 * - Readings (`readTransactions`, `changesSince`, `listReceived` pages, `chainTip`) carry the tip
 *   they were read at; see `tip-reading.ts` for how that is made true.
 */
import { performance } from 'node:perf_hooks';
import type {
  ChainChanges,
  ChainTip,
  CoinBackend,
  NetworkTransactionInfo,
  ReceivedPage,
  SendOptions,
  SendOutputRequest,
  SendResult,
  TransactionsReading,
} from '../backend.js';
import { DEADLINE_PASSED, TXID_PATTERN } from '../backend.js';
import { validateAddress } from '../../domain/address.js';
import { checkAmount, formatAmount } from '../../domain/amounts.js';
import type { CoinDefinition, NetworkParams } from '../../domain/coins.js';
import { BackendError, InvalidTxid } from '../../domain/errors.js';
import type { BitcoindBackendConfig } from '../../config/types.js';
import { ChangeReader, readSinceBlock, sinceBlockRequest } from './changes.js';
import { JsonNumber } from './lossless-json.js';
import { amount, garbage } from './normalise.js';
import { decodeCursor, encodeCursor, scanStep, type ListedEntry, type Listing } from './received-scan.js';
import { RpcClient, type RpcTransport } from './rpc-client.js';
import { RpcError } from './rpc-errors.js';
import { readAtTip } from './tip-reading.js';
import { lookups, TransactionReader, unwrap } from './transactions.js';

/** Options of `new BitcoindBackend`. */
export interface BitcoindBackendOptions {
  readonly config: BitcoindBackendConfig;
  readonly coin: CoinDefinition;
  readonly network: NetworkParams;
  /** A client to use instead of one built from `config` (tests). */
  readonly rpc?: RpcTransport;
}

/** Options of `findByComment`. */
export interface FindByCommentOptions {
  /** How many of the newest entries the fast path searches before the complete search. Default 1000. */
  readonly maxEntries?: number;
}

/** What changed in the wallet since a block; see `listSinceBlock`. */
export interface SinceBlockResult {
  /**
   * Wallet transactions in or after the block's successors and in the mempool, one per txid, in
   * the node's order. Receives that lost to a double spend are not among them (see `removed`).
   */
  readonly transactions: readonly NetworkTransactionInfo[];
  /** Txids of wallet transactions in blocks that were disconnected since (reorganisation). */
  readonly removed: readonly string[];
  /** Hash of the best block: pass it to the next call. */
  readonly lastBlock: string;
}

const READ = { idempotent: true } as const;
/**
 * Codes of `BackendError`s from the `sendmany` call that prove the request never reached the
 * wallet (refused connection, full queue, bad credentials, no such endpoint, deadline). Any other
 * failure may come after the node sent the transaction: an allow-list, so that a new kind of
 * failure can only err on the side of reconciliation.
 */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'node_unreachable',
  'node_busy',
  'unauthorized',
  'forbidden',
  'endpoint_not_found',
  DEADLINE_PASSED,
]);
/** Entries per `listtransactions` window when searching for a comment. */
const COMMENT_WINDOW = 100;
/** Seconds the wallet stays unlocked beyond the call's time limit, as a safety margin. */
const UNLOCK_MARGIN_S = 10;

/** See the module comment. */
export class BitcoindBackend implements CoinBackend {
  readonly kind = 'bitcoind';
  readonly coin: CoinDefinition;
  readonly network: NetworkParams;
  private readonly config: BitcoindBackendConfig;
  private readonly rpc: RpcTransport;
  private readonly reader: TransactionReader;
  private readonly changes: ChangeReader;
  private readonly listing: Listing;
  /** Sends run one at a time, so one send's `walletlock` cannot lock the wallet under another's. */
  private sendQueue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: BitcoindBackendOptions) {
    this.config = options.config;
    this.coin = options.coin;
    this.network = options.network;
    this.rpc =
      options.rpc ??
      new RpcClient({
        url: options.config.url,
        auth: options.config.auth,
        timeoutMs: options.config.timeoutMs,
        maxAnswerBytes: options.config.maxAnswerBytes,
        ...(options.config.wallet !== undefined ? { wallet: options.config.wallet } : {}),
      });
    this.reader = new TransactionReader(this.rpc, this.coin, this.network);
    this.changes = new ChangeReader(this.rpc, this.reader, this.coin);
    this.listing = { windows: (requests) => this.listWindows(requests) };
  }

  /**
   * A new receiving address: `getnewaddress label type`. On a network without segwit (Dogecoin)
   * the type is left out, because such nodes only make legacy addresses and older ones (Dogecoin
   * Core 1.14) accept no type argument.
   * @throws BackendError `wrong_network` when the node answers with an address that is not valid
   *   on the configured network (a mainnet node configured as testnet, or the reverse).
   */
  async createAddress(label: string): Promise<string> {
    this.ensureOpen();
    if (typeof label !== 'string') throw new TypeError('createAddress: label must be a string');
    const params = this.network.bech32 === undefined ? [label] : [label, this.config.addressType];
    // Repeating getnewaddress after a lost answer only leaves an unused address behind.
    const address = await this.rpc.call('getnewaddress', params, READ);
    const check = validateAddress(address, this.network);
    if (!check.ok) {
      throw new BackendError(
        `bitcoind getnewaddress at ${this.rpc.endpoint} returned ${JSON.stringify(String(address)).slice(0, 100)}, ` +
          `which is not a ${this.coin.code} ${this.network.name} address (${check.reason}: ${check.detail}); ` +
          'is the node running on another network?',
        { retryable: false, code: 'wrong_network' },
      );
    }
    return check.address;
  }

  /**
   * Send one transaction paying `outputs` with `sendmany`, the wallet unlocked with the configured
   * passphrase just for the send, then read its fee with `gettransaction`.
   *
   * @throws BackendError `invalid_request` (retryable) for an empty list, amounts that are not
   *   positive bigints, invalid or repeated addresses; `insufficient_funds` (retryable) when the
   *   wallet cannot pay (RPC -6, which the node also uses for other refusals to build the
   *   transaction); another `RpcError` when the node refused (nothing sent); `deadline_passed`
   *   (retryable, nothing sent) when `notAfter` passed before the send could leave, checked
   *   before the wallet is unlocked and right before the `sendmany` request is written;
   *   `outcome_unknown` (not retryable) when the transaction may have been sent.
   */
  async sendMany(outputs: readonly SendOutputRequest[], options: SendOptions): Promise<SendResult> {
    this.ensureOpen();
    const amounts = this.checkOutputs(outputs);
    const comment = typeof options?.comment === 'string' ? options.comment : '';
    const notAfter = options?.notAfter;
    if (notAfter !== undefined && typeof notAfter !== 'number') throw new TypeError('sendMany: notAfter must be a performance.now() time');
    const run = this.sendQueue.then(() => this.sendNow(amounts, comment, notAfter));
    this.sendQueue = run.catch(() => undefined);
    return run;
  }

  /**
   * The wallet's view of a transaction.
   * @throws InvalidTxid when `txid` is not 64 hex characters (checked before any call);
   *   NotFound when the wallet does not know it (RPC -5).
   */
  async getTransaction(txid: string): Promise<NetworkTransactionInfo> {
    this.ensureOpen();
    const normalized = typeof txid === 'string' ? txid.toLowerCase() : '';
    if (!TXID_PATTERN.test(normalized)) throw new InvalidTxid(String(txid));
    const [info] = await this.reader.describe([normalized]);
    return info!;
  }

  /**
   * Several transactions in one reading: one batch `[getbestblockhash, getblockcount,
   * gettransaction…, getbestblockhash, getblockcount]`, read again (up to 3 times) while the tip
   * moves under it. Each txid is read once; infos are those `getTransaction` gives.
   * @throws InvalidTxid for a malformed txid (before any call); BackendError `tip_moving`
   *   (retryable) when the tip moved during every attempt.
   */
  async readTransactions(txids: readonly string[]): Promise<TransactionsReading> {
    this.ensureOpen();
    if (!Array.isArray(txids)) throw new TypeError('readTransactions: txids must be an array');
    const normalized = txids.map((txid) => {
      const lower = typeof txid === 'string' ? txid.toLowerCase() : '';
      if (!TXID_PATTERN.test(lower)) throw new InvalidTxid(String(txid));
      return lower;
    });
    const unique = [...new Set(normalized)];
    const { tip, answers } = await readAtTip(this.rpc, lookups(unique));
    const { transactions, unknown } = await this.reader.fromAnswers(unique, answers);
    return { tip, transactions, unknown };
  }

  /**
   * Transactions that paid the wallet's addresses, oldest first (the order in which the wallet
   * first saw them). `pageSize` counts wallet entries (one per output and direction), so a page
   * may hold fewer transactions, or none, while the scan goes on: only `next === null` ends it.
   * Coinbase outputs and receives that lost to a double spend are not listed. See
   * `received-scan.ts` for how cursors stay valid while transactions arrive. The page's
   * transactions are read in one batch between tip readings, like `readTransactions`; the
   * listing that chose them needs no tip, since it only says which transactions come next.
   */
  async listReceived(next: string | null, pageSize: number): Promise<ReceivedPage> {
    this.ensureOpen();
    const position = next === null ? null : decodeCursor(next);
    const step = await scanStep(this.listing, position, pageSize);
    const { tip, answers } = await readAtTip(this.rpc, lookups(step.txids));
    // A txid listed a moment ago that gettransaction no longer knows was removed from the wallet
    // (removeprunedfunds): no longer a receive of this wallet, so not part of the page.
    const { transactions } = await this.reader.fromAnswers(step.txids, answers);
    return {
      transactions: transactions.filter((info) => info.received.length > 0),
      next: step.next === null ? null : encodeCursor(step.next),
      tip,
    };
  }

  /** The best block now: `getbestblockhash` and `getblockcount`, in one batch, read twice to agree. */
  async chainTip(): Promise<ChainTip> {
    this.ensureOpen();
    return (await readAtTip(this.rpc, [])).tip;
  }

  /**
   * Every wallet transaction that may have changed since `cursor`, in at most three round trips
   * whatever the wallet's size (a block count, a block hash, the listing at its tip); see `changes.ts` for
   * the blocks listed from.
   * @throws RangeError for a malformed cursor or depth; BackendError `answer_too_large` when the
   *   listing is over `max_answer_bytes` (read the history with `listReceived` instead);
   *   `tip_moving` (retryable) when the tip moved during every attempt.
   */
  async changesSince(cursor: ChainTip | null, depth: number): Promise<ChainChanges> {
    this.ensureOpen();
    return this.changes.changesSince(cursor, depth);
  }

  /**
   * `getbalance "*" minConfirmations`: the node's trusted balance (confirmed, plus our own
   * unconfirmed change), including mature coinbase outputs.
   */
  async getBalance(minConfirmations: number): Promise<bigint> {
    this.ensureOpen();
    if (!Number.isSafeInteger(minConfirmations) || minConfirmations < 0) {
      throw new RangeError(`getBalance: minConfirmations must be a non-negative integer, got ${String(minConfirmations)}`);
    }
    const balance = await this.rpc.call('getbalance', ['*', minConfirmations], READ);
    return amount(balance, 'balance', this.coin, { method: 'getbalance', endpoint: this.rpc.endpoint });
  }

  /**
   * The newest send of the wallet whose comment is `comment`, searching the newest
   * `maxEntries` entries; undefined when there is none. Used to find out whether a broadcast
   * whose outcome was unknown went out.
   */
  async findByComment(comment: string, options: FindByCommentOptions = {}): Promise<NetworkTransactionInfo | undefined> {
    this.ensureOpen();
    const maxEntries = options.maxEntries ?? 1000;
    // Fast path: a broadcast being reconciled is usually among the newest entries. Windows
    // overlap a little, so an arrival between two calls cannot push the match past both.
    const count = Math.max(1, Math.min(COMMENT_WINDOW, maxEntries));
    const stride = Math.max(1, count - 10);
    for (let skip = 0; skip < maxEntries; skip += stride) {
      const [window = []] = await this.listWindows([{ count, skip }]);
      for (let i = window.length - 1; i >= 0; i--) {
        const entry = window[i]!;
        if (entry.category === 'send' && entry.comment === comment) return this.getTransaction(entry.txid);
      }
      if (window.length < count) return undefined; // the whole wallet was searched
    }
    // "Not found" decides whether withdrawals may be sent again, so it must cover the whole
    // wallet: listsinceblock from genesis lists every wallet transaction, comments included.
    const raw = (await this.rpc.call('listsinceblock', ['', 1, true], READ)) as { transactions?: unknown } | null;
    if (!raw || !Array.isArray(raw.transactions)) {
      throw garbage({ method: 'listsinceblock', endpoint: this.rpc.endpoint }, 'transactions is not an array');
    }
    for (const entry of raw.transactions as { category?: unknown; comment?: unknown; txid?: unknown }[]) {
      if (entry?.category === 'send' && entry.comment === comment && typeof entry.txid === 'string') return this.getTransaction(entry.txid);
    }
    return undefined;
  }

  /**
   * Everything that changed since `blockHash` (null: since the genesis block), in one call whose
   * cost follows the changes, not the wallet's size: `listsinceblock`. Keep `lastBlock` and pass
   * it next time; after a reorganisation the transactions of disconnected blocks appear in
   * `removed` only if the hash passed is the old tip, so always pass the last one returned.
   * @throws RangeError for a malformed hash; RpcError `invalid_address_or_key` for an unknown block.
   */
  async listSinceBlock(blockHash: string | null): Promise<SinceBlockResult> {
    this.ensureOpen();
    if (blockHash !== null && (typeof blockHash !== 'string' || !TXID_PATTERN.test(blockHash))) {
      throw new RangeError('listSinceBlock: blockHash must be 64 lowercase hexadecimal characters or null');
    }
    const { method, params } = sinceBlockRequest(blockHash ?? '');
    const answer = readSinceBlock(await this.rpc.call(method, params, READ), this.coin, this.rpc.endpoint);
    return {
      transactions: await this.reader.fromEntries(answer.entries),
      removed: answer.removed,
      lastBlock: answer.lastBlock,
    };
  }

  /**
   * Check that the node answers and the wallet is loaded (`getwalletinfo`).
   * @throws BackendError like any call: `node_unreachable`, `unauthorized`, `wallet_not_found`, …
   */
  async ping(): Promise<void> {
    this.ensureOpen();
    await this.rpc.call('getwalletinfo', [], READ);
  }

  /** Refuse further calls. The client holds no connections between calls (unless keep-alive). */
  async close(): Promise<void> {
    this.closed = true;
  }

  private async sendNow(amounts: Record<string, JsonNumber>, comment: string, notAfter: number | undefined): Promise<SendResult> {
    // Sends wait for each other: this one may have waited past its deadline already.
    this.checkDeadline(notAfter, comment, 'before it started');
    // A cheap read first: it fails (retryably, nothing sent) if the node or wallet is not there,
    // before the wallet is unlocked. With a keep-alive client it also refreshes the pooled
    // connection, so that one the node closed while idle cannot break the send itself and turn
    // a clean failure into an unknown outcome.
    await this.rpc.call('getwalletinfo', [], READ);
    // Not worth unlocking the wallet for a send that may not leave.
    this.checkDeadline(notAfter, comment, 'before the wallet was unlocked');
    let unlocked = false;
    let txid: string;
    try {
      unlocked = await this.unlock();
      txid = await this.broadcast(amounts, comment, notAfter);
    } finally {
      if (unlocked) {
        // Failing to lock again must not hide the outcome of the send; the node relocks the
        // wallet by itself when the unlock period ends.
        await this.rpc.call('walletlock', [], READ).catch(() => undefined);
      }
    }
    return { txid, fee: await this.readFee(txid, comment) };
  }

  /** Unlock with the configured passphrase; false when there is none or the wallet is not encrypted. */
  private async unlock(): Promise<boolean> {
    const passphrase = this.config.passphrase;
    if (passphrase === undefined) return false;
    const seconds = Math.ceil(this.config.timeoutMs / 1000) + UNLOCK_MARGIN_S;
    try {
      await this.rpc.call('walletpassphrase', [passphrase, seconds], READ);
      return true;
    } catch (error) {
      if (error instanceof RpcError && error.rpcCode === -15) return false;
      throw error;
    }
  }

  private async broadcast(amounts: Record<string, JsonNumber>, comment: string, notAfter: number | undefined): Promise<string> {
    let answer: unknown;
    try {
      // The client checks `notAfter` once more, synchronously, right before the request is written.
      answer = await this.rpc.call('sendmany', ['', amounts, 1, comment], notAfter === undefined ? {} : { notAfter });
    } catch (error) {
      // The node's refusals (RpcError; -6 is already retryable `insufficient_funds`) and
      // failures proven to precede the call (NOT_SENT_CODES) mean nothing was sent. Anything
      // else (timeout, lost connection, garbage, an answer over the size cap) may have sent it.
      if (error instanceof RpcError) throw error;
      if (error instanceof BackendError && NOT_SENT_CODES.has(error.code)) throw error;
      throw this.outcomeUnknown(comment, 'the sendmany call failed', error);
    }
    if (typeof answer !== 'string' || !TXID_PATTERN.test(answer)) {
      throw this.outcomeUnknown(comment, 'sendmany answered something that is not a txid', undefined);
    }
    return answer;
  }

  /** The fee of our send, from `gettransaction` (counted once, made positive). */
  private async readFee(txid: string, comment: string): Promise<bigint> {
    try {
      const [info] = await this.reader.describe([txid]);
      return info!.fee;
    } catch (error) {
      // The transaction went out; only its fee is unknown. Never let this look retryable.
      throw this.outcomeUnknown(comment, `the transaction was sent as ${txid} but its fee could not be read`, error);
    }
  }

  /** @throws BackendError `deadline_passed` when `notAfter` has passed. */
  private checkDeadline(notAfter: number | undefined, comment: string, when: string): void {
    if (notAfter === undefined || performance.now() <= notAfter) return;
    throw new BackendError(`sendMany with comment ${JSON.stringify(comment)}: not sent, its deadline had passed ${when}`, {
      retryable: true,
      code: DEADLINE_PASSED,
    });
  }

  private outcomeUnknown(comment: string, detail: string, cause: unknown): BackendError {
    const reason = cause instanceof Error ? `: ${cause.message}` : '';
    return new BackendError(
      `sendMany with comment ${JSON.stringify(comment)}: ${detail}${reason}. It may have been sent: ` +
        'look it up with findByComment before sending again',
      { retryable: false, code: 'outcome_unknown', cause },
    );
  }

  /** Validate outputs and turn them into sendmany's `{address: amount}` object. */
  private checkOutputs(outputs: readonly SendOutputRequest[]): Record<string, JsonNumber> {
    const refuse = (message: string): BackendError =>
      new BackendError(`sendMany refused, nothing sent: ${message}`, { retryable: true, code: 'invalid_request' });
    if (!Array.isArray(outputs) || outputs.length === 0) throw refuse('no outputs');
    const amounts: Record<string, JsonNumber> = {};
    outputs.forEach((output, index) => {
      const value: unknown = output?.amount;
      if (typeof value !== 'bigint' || value <= 0n) throw refuse(`output ${index} amount must be a positive bigint`);
      try {
        checkAmount(value, this.coin);
      } catch (error) {
        throw refuse(`output ${index}: ${(error as Error).message}`);
      }
      const check = validateAddress(output.address, this.network);
      if (!check.ok) {
        throw refuse(`output ${index} address is not a valid ${this.network.name} address (${check.reason}: ${check.detail})`);
      }
      // sendmany takes an object keyed by address, which cannot hold the same address twice.
      if (Object.hasOwn(amounts, check.address)) throw refuse(`output ${index} repeats address ${check.address}`);
      amounts[check.address] = new JsonNumber(formatAmount(value, this.coin));
    });
    return amounts;
  }

  /** `listtransactions "*" count skip true` for each request, in one round trip. */
  private async listWindows(requests: readonly { count: number; skip: number }[]): Promise<ListedEntry[][]> {
    const answers = await this.rpc.batch(
      requests.map(({ count, skip }) => ({ method: 'listtransactions', params: ['*', count, skip, true] })),
      READ,
    );
    const context = { method: 'listtransactions', endpoint: this.rpc.endpoint };
    return answers.map((answer) => {
      const list = unwrap(answer);
      if (!Array.isArray(list)) throw garbage(context, 'not an array');
      return list.map((raw: unknown): ListedEntry => {
        const entry = raw as { txid?: unknown; category?: unknown; comment?: unknown } | null;
        if (typeof entry?.txid !== 'string' || !TXID_PATTERN.test(entry.txid) || typeof entry.category !== 'string') {
          throw garbage(context, 'entry without txid or category');
        }
        return {
          txid: entry.txid,
          category: entry.category,
          ...(typeof entry.comment === 'string' ? { comment: entry.comment } : {}),
        };
      });
    });
  }

  private ensureOpen(): void {
    if (this.closed) {
      throw new BackendError(`bitcoind backend at ${this.rpc.endpoint} is closed`, { retryable: false, code: 'backend_closed' });
    }
  }
}
