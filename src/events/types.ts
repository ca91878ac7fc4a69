/**
 * Events tell the application about money: a deposit arrived, it is credited, a withdrawal went
 * out, it has N confirmations. Each is written to the database in the same transaction as the
 * ledger change it describes (a transactional outbox), then delivered to every configured handler
 * in order, at least once, with its id for de-duplication.
 */

/** Event names. Only `txupdate` exists today. */
export type EventName = 'txupdate';

/**
 * Which side of the network a txupdate describes, in cryptoassets.core's terms: `deposit` for
 * money coming in to one of our addresses, `broadcast` for a withdrawal going out (queued, in a
 * broadcast, or sent).
 */
export type TxUpdateTransactionType = 'deposit' | 'broadcast';

/**
 * The body of a `txupdate` event: the state of one deposit or withdrawal right after a change.
 * Amounts are base units as a decimal string (exact; never a JSON number) plus decimal text in
 * coins for display.
 */
export interface TxUpdatePayload {
  /** Lowercase coin code, e.g. `btc`. */
  readonly coin: string;
  /** Network the coin runs on, e.g. `mainnet`. */
  readonly network: string;
  readonly transactionType: TxUpdateTransactionType;
  /** Id of the ledger transaction (deposit or withdrawal). */
  readonly transactionId: number;
  /** Id of the network transaction (deposit) or broadcast (withdrawal), once there is one. */
  readonly networkTransactionId: number | null;
  /** The on-chain transaction id, once known. */
  readonly txid: string | null;
  readonly wallet: string;
  readonly account: { readonly id: number; readonly name: string };
  /** Our receiving address (deposit) or the destination (withdrawal). */
  readonly address: string | null;
  /** Base units as a decimal string. */
  readonly amount: string;
  /** The same amount in coins, with all decimals, e.g. `"0.00120000"`. */
  readonly amountDecimal: string;
  /** Ledger state: deposits `incoming`/`credited`; withdrawals `pending`/`broadcasting`/`broadcasted`. */
  readonly state: string;
  /** Network confirmations (0 while unconfirmed or not yet sent). */
  readonly confirmations: number;
  /** Confirmations at which deposits are credited on this coin. */
  readonly confirmationThreshold: number;
  /**
   * Deposits: true only while the deposit counts in its account's balance (threshold met, not
   * reversed). Withdrawals: true once their broadcast has the threshold's confirmations.
   */
  readonly credited: boolean;
  /** True when a credited deposit was taken back (reorganisation or double spend). */
  readonly reversed: boolean;
  /** True when the network transaction conflicts with one in the best chain. */
  readonly conflicted: boolean;
  /** True once the application marked the deposit processed. */
  readonly processed: boolean;
  /** What changed: `created`, `confirmations`, `credited`, `reversed`, `queued`, `broadcasting`, `broadcasted`, `requeued`, `resent`. */
  readonly change: string;
  /** When the ledger transaction was created (ISO 8601, UTC). */
  readonly transactionCreatedAt: string;
  /** When the deposit was credited, if it is. */
  readonly creditedAt: string | null;
}

/** An event as handlers receive it. */
export interface CryptoAssetsEvent {
  /** Increasing per database, as a decimal string; use it to de-duplicate. */
  readonly id: string;
  readonly name: EventName;
  /** When the change happened (ISO 8601, UTC). */
  readonly createdAt: string;
  readonly data: TxUpdatePayload;
}

/**
 * A destination for events. `deliver` resolves when the application has accepted the event and
 * throws (or rejects) when it has not: the event is then retried, in order, until it is accepted
 * or goes to the dead-letter list after the handler's maximum attempts.
 */
export interface EventHandler {
  /** The handler's name from the configuration (`events.<name>`); also the key of its progress. */
  readonly name: string;
  /** Attempts before an event goes to dead-letter. */
  readonly maxAttempts: number;
  deliver(event: CryptoAssetsEvent): Promise<void>;
  /** Release resources (timers, child processes). */
  close?(): Promise<void>;
}
