/**
 * The library's own statements for the parts of a transfer the withdrawal broadcast baseline
 * (withdrawal-sql.ts) reuses — the transfer rows themselves are measured against the minimal
 * transfer (minimal-transfer.ts), not against these. As the library issues them:
 *
 * 1. the wallet by name            (CoinBook.wallet)
 * 2. the receiving account         (getAccount: it must exist in this wallet)
 * 3. the conditional debit         (UPDATE … WHERE balance >= amount RETURNING balance)
 * 4. the transaction row           (INSERT … RETURNING id)
 * 5. the sender's journal entry
 * 6. the credit                    (UPDATE balance = balance + amount WHERE it stays in 64 bits)
 * 7. the receiver's journal entry
 * 8. the transaction read back     (what `transfer` returns)
 */
import { INT64_MAX, INT64_MIN } from '../../src/domain/coins.js';
import type { Param } from './raw-db.js';

export function transferStatements(coin: string) {
  const t = {
    wallet: `${coin}_wallet`,
    account: `${coin}_account`,
    address: `${coin}_address`,
    networkTransaction: `${coin}_network_transaction`,
    transaction: `${coin}_transaction`,
    entry: `${coin}_entry`,
  };
  return {
    tables: t,
    wallet: `SELECT * FROM ${t.wallet} WHERE name = ?`,
    account: `SELECT * FROM ${t.account} WHERE wallet_id = ? AND id = ?`,
    debit: `UPDATE ${t.account} SET balance = balance - ?, updated_at = ?
         WHERE id = ? AND wallet_id = ? AND balance >= ? RETURNING balance`,
    insertTransaction: `INSERT INTO ${t.transaction}
       (wallet_id, type, state, amount, sending_account_id, receiving_account_id, address_id,
        network_transaction_id, label, idempotency_key, credited_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
    entry: `INSERT INTO ${t.entry} (account_id, transaction_id, kind, amount, created_at) VALUES (?, ?, ?, ?, ?)`,
    credit: `UPDATE ${t.account} SET balance = balance + ?, updated_at = ?
     WHERE id = ? AND wallet_id = ? AND balance BETWEEN ? AND ?`,
    readBack: `SELECT t.*, a.address AS address_text, n.txid AS txid FROM ${t.transaction} t
    LEFT JOIN ${t.address} a ON a.id = t.address_id
    LEFT JOIN ${t.networkTransaction} n ON n.id = t.network_transaction_id WHERE t.wallet_id = ? AND t.id = ?`,
  };
}

export type TransferStatements = ReturnType<typeof transferStatements>;

/**
 * Parameters of the library's guarded balance change (src/ledger/accounts.ts `adjustAccount`):
 * the balances from which adding `change` stays within the signed 64-bit range.
 */
export function adjustParams(change: bigint, now: string, accountId: Param, walletId: Param): Param[] {
  const [low, high] = change >= 0n ? [INT64_MIN, INT64_MAX - change] : [INT64_MIN - change, INT64_MAX];
  return [change, now, accountId, walletId, low, high];
}
