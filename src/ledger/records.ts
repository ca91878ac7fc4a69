/**
 * The ledger's records as the public API returns them: plain immutable snapshots taken inside a
 * transaction. Ids are numbers (they never approach 2^53); amounts are bigint base units.
 */

/** A wallet holds accounts; look-ups are always scoped to one wallet. */
export interface Wallet {
  readonly id: number;
  readonly name: string;
  readonly createdAt: Date;
}

/** `user` accounts belong to the application; the `network_fee` account collects broadcast fees. */
export type AccountKind = 'user' | 'network_fee';

export interface Account {
  readonly id: number;
  readonly walletId: number;
  readonly name: string;
  readonly kind: AccountKind;
  /** Credited balance in base units. Only the network-fee account (or an explicit override) goes negative. */
  readonly balance: bigint;
  /** When an operator froze it (schema 4); null when not frozen. See `WalletBook.freezeAccount`. */
  readonly frozenAt: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A receiving address of an account, or (account null) an external address we sent to. */
export interface Address {
  readonly id: number;
  readonly address: string;
  readonly walletId: number | null;
  readonly accountId: number | null;
  readonly label: string | null;
  readonly archivedAt: Date | null;
  readonly createdAt: Date;
}

export const TRANSACTION_TYPES = ['deposit', 'withdrawal', 'internal', 'network_fee', 'balance_import'] as const;
/** What kind of money movement a transaction is. */
export type TransactionType = (typeof TRANSACTION_TYPES)[number];

export const TRANSACTION_STATES = [
  'incoming',
  'credited',
  'pending',
  'broadcasting',
  'broadcasted',
  'refused',
  'cancelled',
  'done',
] as const;
/**
 * Where a transaction is in its life:
 * - deposit: `incoming` (seen, below the confirmation threshold) → `credited` (and back, if reorganised away);
 * - withdrawal: `pending` (queued, already debited) → `broadcasting` (in an open broadcast) → `broadcasted`;
 *   `refused` when the node refused it alone (still debited: an operator retries it, back to
 *   `pending`, or cancels it); `cancelled` (from pending or refused) with a refund entry;
 * - internal, network_fee, balance_import: `done` at once.
 */
export type TransactionState = (typeof TRANSACTION_STATES)[number];

export interface Transaction {
  readonly id: number;
  readonly walletId: number;
  readonly type: TransactionType;
  readonly state: TransactionState;
  /** Base units, always positive; the direction follows from the accounts. */
  readonly amount: bigint;
  readonly sendingAccountId: number | null;
  readonly receivingAccountId: number | null;
  /** Receiving address of a deposit, destination of a withdrawal or internal send by address. */
  readonly address: string | null;
  readonly networkTransactionId: number | null;
  /** Txid of the network transaction, once known. */
  readonly txid: string | null;
  readonly label: string | null;
  readonly idempotencyKey: string | null;
  readonly creditedAt: Date | null;
  readonly processedAt: Date | null;
  /** Why the node refused this withdrawal, when it was refused (kept after a retry). */
  readonly refusal: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Deposit network transactions are `seen` or `conflicted`; broadcasts go `opened` → `closed`. */
export type NetworkTransactionState = 'seen' | 'conflicted' | 'opened' | 'closed' | 'returned' | 'vetting';

export interface NetworkTransaction {
  readonly id: number;
  readonly type: 'deposit' | 'broadcast';
  readonly txid: string | null;
  readonly walletId: number | null;
  readonly state: NetworkTransactionState;
  readonly confirmations: number;
  /** A broadcast of ours that conflicts with a transaction in the best chain: its withdrawals may be unpaid. */
  readonly conflicted: boolean;
  readonly fee: bigint | null;
  readonly comment: string | null;
  readonly openedAt: Date | null;
  readonly closedAt: Date | null;
  readonly createdAt: Date;
  /** Lease generation of the helper service that opened this broadcast; null when opened without a lease. */
  readonly leaseGeneration: number | null;
  /** When it was opened, by the database's clock (ms since 1970); null for broadcasts of schema 2. */
  readonly openedAtMs: number | null;
}

export const ENTRY_KINDS = [
  'deposit_credit',
  'deposit_reversal',
  'withdrawal',
  'transfer_out',
  'transfer_in',
  'network_fee',
  'balance_import',
  'withdrawal_refund',
] as const;
/** Why an account's balance changed. */
export type EntryKind = (typeof ENTRY_KINDS)[number];

/** One append-only change of one account's balance; the balance is the sum of its entries. */
export interface Entry {
  readonly id: number;
  readonly accountId: number;
  readonly transactionId: number;
  readonly kind: EntryKind;
  /** Signed base units: positive credits, negative debits. */
  readonly amount: bigint;
  readonly createdAt: Date;
  /** The transaction's label, for history listings. */
  readonly label: string | null;
}
