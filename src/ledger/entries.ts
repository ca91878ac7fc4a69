/**
 * The journal: every change of an account's balance is one append-only entry, written in the same
 * transaction as the balance change. The cached `account.balance` must always equal the sum of the
 * account's entries; `verifyLedger` proves it.
 */
import type { SqlRow } from '../store/database.js';
import type { CoinScope, WalletScope } from './context.js';
import { inParts } from './multi-row.js';
import type { EntryKind, Transaction } from './records.js';
import { adjustAccount } from './accounts.js';
import { nowText, TRANSACTION_COLUMNS, transactionFromRow } from './rows.js';

/** Write one entry. The balance itself is changed by the caller (or by `postEntry`). */
export async function writeEntry(
  scope: WalletScope,
  accountId: number,
  transactionId: number,
  kind: EntryKind,
  amount: bigint,
): Promise<void> {
  await scope.tx.run(
    `INSERT INTO ${scope.context.tables.entry} (account_id, transaction_id, kind, amount, created_at) VALUES (?, ?, ?, ?, ?)`,
    [accountId, transactionId, kind, amount, nowText()],
  );
}

/** One journal entry of `writeEntries`. */
export interface NewEntry {
  readonly accountId: number;
  readonly transactionId: number;
  readonly kind: EntryKind;
  readonly amount: bigint;
}

/** Write many entries, one INSERT per `ROWS_PER_STATEMENT`; balances are the caller's (see `adjustAccounts`). */
export async function writeEntries(scope: CoinScope, entries: readonly NewEntry[], now: string): Promise<void> {
  for (const part of inParts(entries)) {
    await scope.tx.run(
      `INSERT INTO ${scope.context.tables.entry} (account_id, transaction_id, kind, amount, created_at)
       VALUES ${part.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
      part.flatMap((entry) => [entry.accountId, entry.transactionId, entry.kind, entry.amount, now]),
    );
  }
}

/** Change a balance and journal it; `refuseFrozen` for a transfer in (see `adjustAccount`). */
export async function postEntry(
  scope: WalletScope,
  accountId: number,
  transactionId: number,
  kind: EntryKind,
  amount: bigint,
  options: { refuseFrozen?: boolean } = {},
): Promise<void> {
  await adjustAccount(scope, accountId, amount, options);
  await writeEntry(scope, accountId, transactionId, kind, amount);
}

/** Columns of a new transaction row. */
export interface NewTransaction {
  readonly type: Transaction['type'];
  readonly state: Transaction['state'];
  readonly amount: bigint;
  readonly sendingAccountId?: number | null;
  readonly receivingAccountId?: number | null;
  readonly addressId?: number | null;
  readonly networkTransactionId?: number | null;
  readonly label?: string | null;
  readonly idempotencyKey?: string | null;
  readonly credited?: boolean;
}

/** Insert a transaction row of this wallet; returns its id. */
export async function insertTransaction(scope: WalletScope, row: NewTransaction): Promise<number> {
  return (await insertTransactionRecord(scope, row, null)).id;
}

/**
 * Insert a transaction row of this wallet and return it as read back would, without reading it
 * back: `address` is the text of `row.addressId` (known to the caller); a new row has no txid.
 */
export async function insertTransactionRecord(scope: WalletScope, row: NewTransaction, address: string | null): Promise<Transaction> {
  const now = nowText();
  const inserted = await scope.tx.get(
    `INSERT INTO ${scope.context.tables.transaction}
       (wallet_id, type, state, amount, sending_account_id, receiving_account_id, address_id,
        network_transaction_id, label, idempotency_key, credited_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    [
      scope.walletId,
      row.type,
      row.state,
      row.amount,
      row.sendingAccountId ?? null,
      row.receivingAccountId ?? null,
      row.addressId ?? null,
      row.networkTransactionId ?? null,
      row.label ?? null,
      row.idempotencyKey ?? null,
      row.credited || row.type !== 'deposit' ? now : null,
      now,
      now,
    ],
  );
  return transactionFromRow({ ...inserted!, address_text: address, txid: null });
}

/** SELECT of transactions with their address text and txid; append WHERE … */
export function transactionSelect(scope: WalletScope): string {
  const t = scope.context.tables;
  return `SELECT ${TRANSACTION_COLUMNS} FROM ${t.transaction} t
    LEFT JOIN ${t.address} a ON a.id = t.address_id
    LEFT JOIN ${t.networkTransaction} n ON n.id = t.network_transaction_id`;
}

/** A transaction of this wallet by id, or undefined. */
export async function findTransaction(scope: WalletScope, id: number): Promise<Transaction | undefined> {
  const row = await scope.tx.get(`${transactionSelect(scope)} WHERE t.wallet_id = ? AND t.id = ?`, [scope.walletId, id]);
  return row ? transactionFromRow(row) : undefined;
}

export function transactionsFromRows(rows: SqlRow[]) {
  return rows.map(transactionFromRow);
}
