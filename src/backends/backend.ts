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

/** A page of received transactions, oldest first. */
export interface ReceivedPage {
  readonly transactions: readonly NetworkTransactionInfo[];
  /** Pass to the next call; null when this was the last page. */
  readonly next: string | null;
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
  sendMany(outputs: readonly SendOutputRequest[], options: { comment: string }): Promise<SendResult>;

  /**
   * Look up one transaction of the wallet.
   * @throws NotFound when the wallet does not know the txid; InvalidTxid when it is malformed.
   */
  getTransaction(txid: string): Promise<NetworkTransactionInfo>;

  /**
   * List the wallet's transactions that received to its addresses, page by page, oldest first.
   * Callers keep calling with `next` until it is null; pages without receives do not end the scan.
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

  /** Optional: height of the best chain's tip, for the status page. */
  blockHeight?(): Promise<number>;

  /**
   * Optional: every wallet transaction whose confirmations are within `depth` of the tip (in the
   * mempool, in the last `depth` blocks, or conflicted by at most `depth`), in a constant number
   * of calls however many there are. Confirmation polling uses it so that a polling round costs
   * the same with ten or ten thousand open transactions; without it, each is looked up alone.
   */
  recentTransactions?(depth: number): Promise<NetworkTransactionInfo[]>;
}

/** The `BackendError` code of a send whose outcome is unknown: it may have gone out. */
export const OUTCOME_UNKNOWN = 'outcome_unknown';

/** A txid is 64 hexadecimal characters; backends answer in lowercase. */
export const TXID_PATTERN = /^[0-9a-f]{64}$/;
