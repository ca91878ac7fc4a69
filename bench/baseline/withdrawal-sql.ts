/**
 * The statements the library issues to broadcast a batch of queued withdrawals
 * (src/ledger/broadcasts.ts, src/events/outbox.ts,
 * src/ledger/coin-ledger.ts `broadcastPending`), issued straight through better-sqlite3 in the
 * same order and the same transactions. The backend call between opening and closing a broadcast
 * is the same in-memory backend call as ours: it stands for the network, not for our code.
 */
import { randomBytes } from 'node:crypto';
import type { CoinBackend } from '../../src/backends/backend.js';
import type { Param, SqliteStatements } from './raw-db.js';
import { adjustParams, transferStatements } from './transfer-sql.js';

const OUTPUTS_MAX = 500;

export function withdrawalStatements(coin: string) {
  const base = transferStatements(coin);
  const t = base.tables;
  const select = `SELECT t.*, a.address AS address_text, n.txid AS txid FROM ${t.transaction} t
    LEFT JOIN ${t.address} a ON a.id = t.address_id
    LEFT JOIN ${t.networkTransaction} n ON n.id = t.network_transaction_id`;
  return {
    ...base,
    addressRow: `SELECT * FROM ${t.address} WHERE address = ?`,
    insertExternalAddress: `INSERT INTO ${t.address} (address, created_at) VALUES (?, ?) RETURNING id`,
    payload: `SELECT tr.id, tr.type, tr.state, tr.amount, tr.network_transaction_id, tr.created_at, tr.credited_at, tr.processed_at,
            a.address, n.txid, n.confirmations, n.state AS network_state, n.conflicted AS network_conflicted,
            acc.id AS account_id, acc.name AS account_name, w.name AS wallet_name,
            (SELECT COUNT(*) FROM ${t.entry} e WHERE e.transaction_id = tr.id AND e.kind = 'deposit_reversal') AS reversals
     FROM ${t.transaction} tr
     JOIN ${t.wallet} w ON w.id = tr.wallet_id
     JOIN ${t.account} acc ON acc.id = COALESCE(tr.receiving_account_id, tr.sending_account_id)
     LEFT JOIN ${t.address} a ON a.id = tr.address_id
     LEFT JOIN ${t.networkTransaction} n ON n.id = tr.network_transaction_id
     WHERE tr.id = ?`,
    insertEvent: `INSERT INTO cryptoassets_event (name, coin, transaction_type, transaction_id, payload, created_at) VALUES ('txupdate', ?, ?, ?, ?, ?)`,
    pending: `${select} WHERE t.wallet_id = ? AND t.type = 'withdrawal' AND t.state = 'pending'
     ORDER BY t.id LIMIT ?`,
    openBroadcast: `INSERT INTO ${t.networkTransaction}
       (transaction_type, wallet_id, state, confirmations, opened_at, created_at, updated_at)
     VALUES ('broadcast', ?, 'opened', 0, ?, ?, ?) RETURNING id`,
    setComment: `UPDATE ${t.networkTransaction} SET comment = ? WHERE id = ?`,
    takeWithdrawal: `UPDATE ${t.transaction} SET state = 'broadcasting', network_transaction_id = ?, updated_at = ?
       WHERE id = ? AND wallet_id = ? AND state = 'pending'`,
    broadcastWithdrawals: `SELECT id FROM ${t.transaction} WHERE network_transaction_id = ? AND type = 'withdrawal' ORDER BY id`,
    getBroadcast: `SELECT * FROM ${t.networkTransaction} WHERE id = ? AND wallet_id = ? AND transaction_type = 'broadcast'`,
    closeBroadcast: `UPDATE ${t.networkTransaction}
     SET state = 'closed', txid = ?, fee = ?, closed_at = ?, updated_at = ? WHERE id = ?`,
    markBroadcasted: `UPDATE ${t.transaction} SET state = 'broadcasted', processed_at = ?, updated_at = ?
     WHERE network_transaction_id = ? AND wallet_id = ? AND type = 'withdrawal' AND state = 'broadcasting'`,
    feeAccount: `SELECT * FROM ${t.account} WHERE wallet_id = ? AND kind = 'network_fee'`,
    adjust: base.credit,
  };
}

export type WithdrawalStatements = ReturnType<typeof withdrawalStatements>;

/** The event row's payload: the selected row as JSON (the library shapes it a little more). */
function emitEvent(db: SqliteStatements, s: WithdrawalStatements, coin: string, id: Param, change: string, now: string): void {
  const row = db.get(s.payload, [id])!;
  const payload = JSON.stringify({ ...row, change, coin }, (_key, value: unknown) =>
    typeof value === 'bigint' ? value.toString() : value,
  );
  db.run(s.insertEvent, [coin, row.type as string, id, payload, now]);
}

function emitForBroadcast(
  db: SqliteStatements,
  s: WithdrawalStatements,
  coin: string,
  broadcastId: Param,
  change: string,
  now: string,
): void {
  for (const row of db.all(s.broadcastWithdrawals, [broadcastId])) emitEvent(db, s, coin, row.id as bigint, change, now);
}

/** Broadcast one batch (up to 500) of queued withdrawals; false when none was waiting. */
export async function broadcastBatch(
  db: SqliteStatements,
  s: WithdrawalStatements,
  coin: string,
  walletName: string,
  backend: CoinBackend,
): Promise<boolean> {
  const opened = db.write(() => {
    const walletId = db.get(s.wallet, [walletName])!.id as bigint;
    const withdrawals = db.all(s.pending, [walletId, OUTPUTS_MAX]);
    if (withdrawals.length === 0) return undefined;
    const now = new Date().toISOString();
    const id = db.get(s.openBroadcast, [walletId, now, now, now])!.id as bigint;
    const comment = `cryptoassets ${coin} broadcast ${id} ${randomBytes(6).toString('hex')}`;
    db.run(s.setComment, [comment, id]);
    const outputs = new Map<string, bigint>();
    for (const withdrawal of withdrawals) {
      if (db.run(s.takeWithdrawal, [id, now, withdrawal.id as bigint, walletId]) !== 1) throw new Error('withdrawal left the queue');
      const address = withdrawal.address_text as string;
      outputs.set(address, (outputs.get(address) ?? 0n) + (withdrawal.amount as bigint));
    }
    emitForBroadcast(db, s, coin, id, 'broadcasting', now);
    db.get(s.getBroadcast, [id, walletId]);
    return { id, comment, withdrawals, outputs: [...outputs].map(([address, amount]) => ({ address, amount })) };
  });
  if (!opened) return false;
  const sent = await backend.sendMany(opened.outputs, { comment: opened.comment });
  db.write(() => {
    const walletId = db.get(s.wallet, [walletName])!.id as bigint;
    db.get(s.getBroadcast, [opened.id, walletId]);
    const now = new Date().toISOString();
    db.run(s.closeBroadcast, [sent.txid, sent.fee, now, now, opened.id]);
    db.run(s.markBroadcasted, [now, now, opened.id, walletId]);
    const feeAccountId = db.get(s.feeAccount, [walletId])!.id as bigint;
    const feeId = db.get(s.insertTransaction, [
      walletId,
      'network_fee',
      'done',
      sent.fee,
      feeAccountId,
      null,
      null,
      opened.id,
      `network fee of broadcast ${opened.id}`,
      null,
      now,
      now,
      now,
    ])!.id as bigint;
    db.run(s.adjust, adjustParams(-sent.fee, now, feeAccountId, walletId));
    db.run(s.entry, [feeAccountId, feeId, 'network_fee', -sent.fee, now]);
    emitForBroadcast(db, s, coin, opened.id, 'broadcasted', now);
    db.get(s.getBroadcast, [opened.id, walletId]);
  });
  db.read(() => {
    const walletId = db.get(s.wallet, [walletName])!.id as bigint;
    for (const withdrawal of opened.withdrawals) db.get(s.readBack, [walletId, withdrawal.id as bigint]);
  });
  return true;
}
