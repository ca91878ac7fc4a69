/**
 * The limit of queueing one withdrawal on SQLite: the minimal correct operation written by hand
 * against the library's tables, in one BEGIN IMMEDIATE transaction, five statements prepared once:
 *
 * 1. the conditional debit (`balance >= amount`, not frozen, right wallet), returning the
 *    account's name for the event;
 * 2. the destination address, inserted or found in one statement (`ON CONFLICT … RETURNING id`);
 * 3. the pending withdrawal row;
 * 4. its journal row;
 * 5. the `txupdate` event in the outbox, its payload built from what the call already knows (the
 *    same fields the library's payload has) instead of read back with a join.
 */
import { formatAmount } from '../../src/domain/amounts.js';
import type { CoinDefinition } from '../../src/domain/coins.js';
import type { SqliteStatements } from './raw-db.js';

export class SqliteWithdrawalLimit {
  private readonly sql;

  constructor(
    private readonly db: SqliteStatements,
    private readonly coin: CoinDefinition,
    private readonly networkName: string,
    private readonly walletId: bigint,
    private readonly walletName: string,
  ) {
    const p = coin.code;
    this.sql = {
      debit: `UPDATE ${p}_account SET balance = balance - ?, updated_at = ?
        WHERE id = ? AND wallet_id = ? AND frozen_at IS NULL AND balance >= ? RETURNING name`,
      address: `INSERT INTO ${p}_address (address, created_at) VALUES (?, ?)
        ON CONFLICT (address) DO UPDATE SET address = excluded.address RETURNING id, wallet_id`,
      insert: `INSERT INTO ${p}_transaction (wallet_id, type, state, amount, sending_account_id, address_id, created_at, updated_at)
        VALUES (?, 'withdrawal', 'pending', ?, ?, ?, ?, ?) RETURNING id`,
      entry: `INSERT INTO ${p}_entry (account_id, transaction_id, kind, amount, created_at) VALUES (?, ?, 'withdrawal', ?, ?)`,
      event: `INSERT INTO cryptoassets_event (name, coin, transaction_type, transaction_id, payload, created_at)
        VALUES ('txupdate', ?, 'withdrawal', ?, ?, ?)`,
    };
  }

  /** Queue a withdrawal of `amount` from account `from` to an outside `address`. */
  queue(from: number, address: string, amount: bigint): void {
    const s = this.sql;
    this.db.write(() => {
      const now = new Date().toISOString();
      const account = this.db.get(s.debit, [amount, now, from, this.walletId, amount]);
      if (!account) throw new Error(`withdrawal from ${from}: insufficient balance`);
      const destination = this.db.get(s.address, [address, now])!;
      // A receiving address of a wallet would make this a transfer; the benchmark pays outside ones only.
      if (destination.wallet_id !== null) throw new Error(`${address} is one of our receiving addresses`);
      const id = this.db.get(s.insert, [this.walletId, amount, from, destination.id as bigint, now, now])!.id as bigint;
      this.db.run(s.entry, [from, id, -amount, now]);
      const payload = {
        coin: this.coin.code,
        network: this.networkName,
        transactionType: 'broadcast',
        transactionId: Number(id),
        networkTransactionId: null,
        txid: null,
        wallet: this.walletName,
        account: { id: from, name: account.name as string },
        address,
        amount: amount.toString(),
        amountDecimal: formatAmount(amount, this.coin),
        state: 'pending',
        confirmations: 0,
        confirmationThreshold: this.coin.confirmationThreshold,
        credited: false,
        reversed: false,
        conflicted: false,
        processed: false,
        change: 'queued',
        transactionCreatedAt: now,
        creditedAt: null,
      };
      this.db.run(s.event, [this.coin.code, id, JSON.stringify(payload), now]);
    });
  }
}
