/**
 * The contract between the ledger and a coin's network: a node (bitcoind and forks), an API
 * service (block.io) or the in-memory chain. Backends speak base units (bigint) only and never
 * touch the database; the ledger and the helper service decide what to record.
 */

/** One output of a network transaction that pays an address of the backend's wallet. */
export interface ReceivedOutput {
  /** The address as the backend reports it (bech32 in lowercase). */
  readonly address: string;
  /** Base units, always positive. */
  readonly amount: bigint;
  /** Output index within the transaction. */
  readonly vout: number;
}

/** One output of a transaction we sent. */
export interface SentOutput {
  readonly address: string;
  readonly amount: bigint;
  readonly vout: number;
}

/** A network transaction as seen by the backend's wallet, normalised across backends. */
export interface NetworkTransactionInfo {
  /** 64 lowercase hex characters. */
  readonly txid: string;
  /**
   * Confirmations: 0 in the mempool, n once in a block n-1 deep, negative when the transaction
   * conflicts with one in the best chain (double spent or orphaned for good).
   */
  readonly confirmations: number;
  /** Outputs that pay addresses of this wallet (deposits, or change-free sends to ourselves). */
  readonly received: readonly ReceivedOutput[];
  /** Outputs paid by this wallet to others; empty for pure receives. */
  readonly sent: readonly SentOutput[];
  /** Network fee paid by this wallet, in base units, counted once per transaction; 0n if not ours. */
  readonly fee: bigint;
  /** The comment given to `sendMany`, when the backend keeps it. */
  readonly comment?: string;
  /** Hash of the block that holds it, when it has one. */
  readonly blockHash?: string;
  /** Height of that block. */
  readonly blockHeight?: number;
}

/** One output of a withdrawal batch. */
export interface SendOutputRequest {
  readonly address: string;
  /** Base units, positive. */
  readonly amount: bigint;
}

/** The outcome of a broadcast. */
export interface SendResult {
  readonly txid: string;
  /** Network fee in base units, positive, for the whole transaction. */
  readonly fee: bigint;
}

/** The best block of the chain at the moment of a reading. */
export interface ChainTip {
  /** Block hash, 64 lowercase hex characters. */
  readonly hash: string;
  readonly height: number;
}

/**
 * What the backend said about some wallet transactions, and the tip it said it at. The tip orders
 * readings: the ledger refuses to apply a reading taken at a tip older than one it has already
 * applied (see `ledger/readings.ts`), so a reading taken before a reorganisation can never undo
 * what a reading taken after it recorded, whichever process applies it.
 *
 * The tip must be the one every transaction of the reading was read at: a backend that cannot
 * read both atomically reads the tip before and after the transactions and retries (or fails)
 * when the two differ.
 */
export interface ChainReading {
  readonly tip: ChainTip;
  readonly transactions: readonly NetworkTransactionInfo[];
}

/** A reading of everything that changed since a cursor; see `CoinBackend.changesSince`. */
export interface ChainChanges extends ChainReading {
  /** Txids of wallet transactions in blocks disconnected since the cursor (reorganisation). */
  readonly removed: readonly string[];
}

/** A reading of given txids; see `CoinBackend.readTransactions`. */
export interface TransactionsReading extends ChainReading {
  /** Txids the wallet does not know (not found), in lowercase. */
  readonly unknown: readonly string[];
}

/** A page of received transactions, oldest first. */
export interface ReceivedPage {
  readonly transactions: readonly NetworkTransactionInfo[];
  /** Pass to the next call; null when this was the last page. */
  readonly next: string | null;
  /** The tip this page was read at (see `ChainReading`). */
  readonly tip: ChainTip;
}

/** Options of `CoinBackend.sendMany`. */
export interface SendOptions {
  /** Stored with the transaction where the backend can (bitcoind's wallet comment). */
  readonly comment: string;
  /**
   * A `performance.now()` time after which the send must not start: the caller's lease may have
   * run out by then and another service may be reconciling this broadcast. Checked immediately
   * before the request leaves; a send past it throws `BackendError` `deadline_passed` and sent
   * nothing.
   */
  readonly notAfter?: number;
}

/** What a coin's backend does for the ledger and the helper service. */
export interface CoinBackend {
  /** Short name for logs and the status page, e.g. `memory`, `bitcoind`. */
  readonly kind: string;

  /**
   * Create a new receiving address in the backend's wallet.
   * @param label A label stored with the address where the backend supports it.
   */
  createAddress(label: string): Promise<string>;

  /**
   * Send one transaction paying all `outputs`. The `comment` is stored by the backend where it can
   * (bitcoind's wallet comment) so an interrupted broadcast can be found again.
   * Sends exactly once or throws. A `BackendError` with code `outcome_unknown` means the
   * transaction may have been sent (time limit, connection lost after sending, unreadable
   * answer); any other `BackendError` proves that nothing was sent (refused, unreachable).
   */
  sendMany(outputs: readonly SendOutputRequest[], options: SendOptions): Promise<SendResult>;

  /**
   * Look up one transaction of the wallet.
   * @throws NotFound when the wallet does not know the txid; InvalidTxid when it is malformed.
   */
  getTransaction(txid: string): Promise<NetworkTransactionInfo>;

  /**
   * List the wallet's transactions that received to its addresses, page by page, oldest first.
   * Callers keep calling with `next` until it is null; pages without receives do not end the scan.
   * The fallback of a full scan whose `changesSince(null)` answer is too large to read at once.
   */
  listReceived(next: string | null, pageSize: number): Promise<ReceivedPage>;

  /** The wallet's balance as the backend counts it, with at least `minConfirmations`. */
  getBalance(minConfirmations: number): Promise<bigint>;

  /** Release connections and timers. */
  close(): Promise<void>;

  /**
   * Optional: our send that carries this `sendMany` comment, if the wallet has one. Used to
   * reconcile a broadcast whose outcome was lost (crash, timeout); without it, such a broadcast
   * goes to a person to vet.
   */
  findByComment?(comment: string): Promise<NetworkTransactionInfo | undefined>;

  /** The best block now. */
  chainTip(): Promise<ChainTip>;

  /**
   * Every wallet transaction that may have changed since `cursor` (a tip of an earlier reading),
   * in a number of calls that does not grow with the wallet's size:
   * - those in blocks after the cursor (when the cursor block left the best chain: after the
   *   fork point), and in the mempool: new deposits among them;
   * - those within `depth` confirmations of the tip, either sign, so that confirmation counts of
   *   recent transactions are refreshed by the same reading;
   * - with `cursor` null, the wallet's whole history.
   * Receives that lost to a double spend may be absent (bitcoind hides them): callers look up the
   * transactions they track that the answer does not hold. `removed` lists txids of wallet
   * transactions in blocks disconnected since the cursor, where the backend knows them.
   * @throws BackendError `answer_too_large` when the answer is over the backend's size cap; a
   *   full scan then reads the history in parts with `listReceived`.
   */
  changesSince(cursor: ChainTip | null, depth: number): Promise<ChainChanges>;

  /**
   * Look up several transactions in one reading at one tip (one request where the backend can).
   * @throws InvalidTxid for a malformed txid (before any call).
   */
  readTransactions(txids: readonly string[]): Promise<TransactionsReading>;
}

/** The `BackendError` code of a send whose outcome is unknown: it may have gone out. */
export const OUTCOME_UNKNOWN = 'outcome_unknown';

/** The `BackendError` code of an answer larger than the backend's size cap (nothing parsed). */
export const ANSWER_TOO_LARGE = 'answer_too_large';

/** The `BackendError` code of a send refused because its `notAfter` time had passed (nothing sent). */
export const DEADLINE_PASSED = 'deadline_passed';

/**
 * `BackendError` codes by which a backend says that it refused what was asked of it, for what
 * it was, not because the node is unavailable: nothing was sent, and the same request would be
 * refused again. A batch refused so is split to find the withdrawals it refuses alone.
 * (`insufficient_funds`: the wallet cannot pay, or bitcoind's dust refusal; `invalid_request`:
 * an amount or address the backend will not take; `rejected`: the network's rules; the rest are
 * bitcoind's RPC errors -3, -5, -8, -25 and -26.) Errors of the node or wallet as a whole (down,
 * locked, warming up) are not refusals: the batch waits and is tried again later, whole.
 */
export const REFUSAL_CODES: ReadonlySet<string> = new Set([
  'insufficient_funds',
  'invalid_request',
  'rejected',
  'rpc_type_error',
  'invalid_address_or_key',
  'invalid_parameter',
  'transaction_verify_error',
  'transaction_rejected',
]);

/** A txid is 64 hexadecimal characters; backends answer in lowercase. */
export const TXID_PATTERN = /^[0-9a-f]{64}$/;
