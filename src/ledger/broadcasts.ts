/**
 * The database half of broadcasting queued withdrawals. A broadcast is opened and committed before
 * the node is called, and closed (txid, fee, withdrawals broadcasted, fee charged) in a second
 * transaction afterwards. A broadcast still `opened` therefore means: the node may or may not have
 * sent it. Such a broadcast is never sent again blindly; it is reconciled with the node by its
 * comment, or left for a person to vet.
 */
import { randomBytes } from 'node:crypto';
import { InvalidState, NotFound } from '../domain/errors.js';
import { emitForBroadcast, emitTxUpdates } from '../events/outbox.js';
import type { WalletScope } from './context.js';
import { nowMsSql } from '../store/clock.js';
import { getNetworkFeeAccount, startingRange } from './accounts.js';
import { findTransaction, insertTransaction, postEntry } from './entries.js';
import { pendingWithdrawals } from './queries.js';
import type { NetworkTransaction, Transaction } from './records.js';
import { networkTransactionFromRow, nowText, toId } from './rows.js';

/** Outputs per broadcast at most: keeps transactions well under standardness size limits. */
export const BROADCAST_OUTPUTS_MAX = 500;

/** An opened broadcast, ready to be sent. */
export interface OpenedBroadcast {
  readonly broadcast: NetworkTransaction;
  readonly withdrawals: readonly Transaction[];
  /** One output per destination address: sendmany takes each address once, so amounts are summed. */
  readonly outputs: readonly { readonly address: string; readonly amount: bigint }[];
}

/** Options of `openBroadcast`. */
export interface OpenBroadcastOptions {
  /** Outputs at most; default `BROADCAST_OUTPUTS_MAX`. */
  readonly outputsMax?: number;
  /** Only these withdrawals (those of them still pending): a batch split to isolate a refusal. */
  readonly withdrawalIds?: readonly number[];
  /** The helper service's lease generation, recorded on the broadcast. */
  readonly leaseGeneration?: number;
}

/**
 * Collect pending withdrawals into a new `opened` broadcast. Returns undefined when nothing waits.
 * Concurrent callers cannot take the same withdrawal: the serializable transaction makes one of
 * them conflict and re-run, and it then finds them gone. A withdrawal's `broadcasting` event is
 * written the first time it joins a broadcast only: a batch tried again after the node was down,
 * or split to isolate a refusal, makes no event per attempt.
 */
export async function openBroadcast(scope: WalletScope, options: OpenBroadcastOptions = {}): Promise<OpenedBroadcast | undefined> {
  const outputsMax = options.outputsMax ?? BROADCAST_OUTPUTS_MAX;
  // Withdrawals of frozen accounts stay in the queue. The account is read in this transaction and
  // a freeze reads the queued withdrawals this rewrites (accounts.ts), so a freeze that commits
  // first holds them, and on PostgreSQL one that overlaps forms a serialization cycle with this
  // transaction and one of the two re-runs (SQLite runs one writer at a time).
  let withdrawals = await pendingWithdrawals(scope, options.withdrawalIds ? undefined : outputsMax, { sendable: true });
  if (options.withdrawalIds) {
    const wanted = new Set(options.withdrawalIds);
    withdrawals = withdrawals.filter((withdrawal) => wanted.has(withdrawal.id)).slice(0, outputsMax);
  }
  if (withdrawals.length === 0) return undefined;
  const now = nowText();
  const inserted = await scope.tx.get<{ id: bigint }>(
    `INSERT INTO ${scope.context.tables.networkTransaction}
       (transaction_type, wallet_id, state, confirmations, opened_at, opened_at_ms, lease_generation, created_at, updated_at)
     VALUES ('broadcast', ?, 'opened', 0, ?, ${nowMsSql(scope.context.engine)}, ?, ?, ?) RETURNING id`,
    [scope.walletId, now, options.leaseGeneration ?? null, now, now],
  );
  const id = toId(inserted!.id);
  // The comment travels with the node's wallet transaction, so a crash after sending can be traced.
  const comment = `cryptoassets ${scope.context.coin.code} broadcast ${id} ${randomBytes(6).toString('hex')}`;
  await scope.tx.run(`UPDATE ${scope.context.tables.networkTransaction} SET comment = ? WHERE id = ?`, [comment, id]);
  const outputs = new Map<string, bigint>();
  const firstAttempts: number[] = [];
  for (const withdrawal of withdrawals) {
    const row = await scope.tx.get<{ attempts: unknown }>(
      `UPDATE ${scope.context.tables.transaction}
       SET state = 'broadcasting', network_transaction_id = ?, broadcast_attempts = broadcast_attempts + 1, updated_at = ?
       WHERE id = ? AND wallet_id = ? AND state = 'pending' RETURNING broadcast_attempts AS attempts`,
      [id, now, withdrawal.id, scope.walletId],
    );
    if (!row) throw new Error(`withdrawal ${withdrawal.id} left the queue under us`);
    if (Number(row.attempts) === 1) firstAttempts.push(withdrawal.id);
    outputs.set(withdrawal.address!, (outputs.get(withdrawal.address!) ?? 0n) + withdrawal.amount);
  }
  await emitTxUpdates(scope, firstAttempts, 'broadcasting');
  return {
    broadcast: await getBroadcast(scope, id),
    withdrawals,
    outputs: [...outputs].map(([address, amount]) => ({ address, amount })),
  };
}

/** The node sent the broadcast: record txid and fee, mark its withdrawals broadcasted, charge the fee. */
export async function closeBroadcast(scope: WalletScope, broadcastId: number, txid: string, fee: bigint): Promise<NetworkTransaction> {
  const broadcast = await getBroadcast(scope, broadcastId);
  if (broadcast.state !== 'opened' && broadcast.state !== 'vetting') {
    throw new InvalidState(`broadcast ${broadcastId} is ${broadcast.state}, not open`);
  }
  if (fee < 0n) throw new InvalidState(`broadcast ${broadcastId}: negative fee ${fee}`);
  const now = nowText();
  await scope.tx.run(
    `UPDATE ${scope.context.tables.networkTransaction}
     SET state = 'closed', txid = ?, fee = ?, closed_at = ?, updated_at = ? WHERE id = ?`,
    [txid, fee, now, now, broadcastId],
  );
  await scope.tx.run(
    `UPDATE ${scope.context.tables.transaction} SET state = 'broadcasted', processed_at = ?, updated_at = ?
     WHERE network_transaction_id = ? AND wallet_id = ? AND type = 'withdrawal' AND state = 'broadcasting'`,
    [now, now, broadcastId, scope.walletId],
  );
  if (fee > 0n && !(await bookFeeInOneStatement(scope, broadcastId, fee))) {
    const feeAccount = await getNetworkFeeAccount(scope);
    const id = await insertTransaction(scope, {
      type: 'network_fee',
      state: 'done',
      amount: fee,
      sendingAccountId: feeAccount.id,
      networkTransactionId: broadcastId,
      label: `network fee of broadcast ${broadcastId}`,
    });
    await postEntry(scope, feeAccount.id, id, 'network_fee', -fee);
  }
  await emitForBroadcast(scope, broadcastId, 'broadcasted');
  return getBroadcast(scope, broadcastId);
}

/**
 * PostgreSQL: charge a broadcast's fee to the wallet's network-fee account in one statement (the
 * balance change, the transaction row, its journal entry — data-modifying CTEs, which SQLite has
 * not), where the general path takes four. False, with nothing written, when the account does not
 * exist yet (the first fee of a wallet) or the change would leave the 64-bit range: the general
 * path then creates the account or explains the refusal.
 */
async function bookFeeInOneStatement(scope: WalletScope, broadcastId: number, fee: bigint): Promise<boolean> {
  if (scope.context.engine !== 'postgres') return false;
  const t = scope.context.tables;
  const now = nowText();
  const { low, high } = startingRange(-fee);
  const written = await scope.tx.run(
    `WITH charged AS (
       UPDATE ${t.account} SET balance = balance - CAST(? AS BIGINT), updated_at = ?
       WHERE wallet_id = ? AND kind = 'network_fee' AND balance BETWEEN ? AND ? RETURNING id),
     booked AS (
       INSERT INTO ${t.transaction} (wallet_id, type, state, amount, sending_account_id, network_transaction_id, label,
         credited_at, created_at, updated_at)
       SELECT CAST(? AS BIGINT), 'network_fee', 'done', CAST(? AS BIGINT), id, CAST(? AS BIGINT), CAST(? AS TEXT),
         CAST(? AS TIMESTAMPTZ), CAST(? AS TIMESTAMPTZ), CAST(? AS TIMESTAMPTZ) FROM charged RETURNING id, sending_account_id)
     INSERT INTO ${t.entry} (account_id, transaction_id, kind, amount, created_at)
       SELECT sending_account_id, id, 'network_fee', -CAST(? AS BIGINT), CAST(? AS TIMESTAMPTZ) FROM booked`,
    [
      fee,
      now,
      scope.walletId,
      low,
      high,
      scope.walletId,
      fee,
      broadcastId,
      `network fee of broadcast ${broadcastId}`,
      now,
      now,
      now,
      fee,
      now,
    ],
  );
  return written === 1;
}

/**
 * The node refused the broadcast in a way that proves nothing was sent (e.g. insufficient funds),
 * or a person established that it was not sent: put its withdrawals back in the queue, to go out
 * with a later broadcast. `quiet` (an automatic return: the node was down, a batch being split)
 * writes no `requeued` events: the withdrawals' state as the application knows it, `broadcasting`,
 * goes on until they are sent or refused.
 */
export async function returnBroadcast(
  scope: WalletScope,
  broadcastId: number,
  options: { quiet?: boolean } = {},
): Promise<NetworkTransaction> {
  const broadcast = await getBroadcast(scope, broadcastId);
  if (broadcast.state !== 'opened' && broadcast.state !== 'vetting') {
    throw new InvalidState(`broadcast ${broadcastId} is ${broadcast.state}, not open`);
  }
  const now = nowText();
  const returned = await scope.tx.all<{ id: unknown }>(
    `SELECT id FROM ${scope.context.tables.transaction}
     WHERE network_transaction_id = ? AND wallet_id = ? AND type = 'withdrawal' AND state = 'broadcasting' ORDER BY id`,
    [broadcastId, scope.walletId],
  );
  await scope.tx.run(
    `UPDATE ${scope.context.tables.transaction} SET state = 'pending', network_transaction_id = NULL, updated_at = ?
     WHERE network_transaction_id = ? AND wallet_id = ? AND type = 'withdrawal' AND state = 'broadcasting'`,
    [now, broadcastId, scope.walletId],
  );
  if (!options.quiet) {
    await emitTxUpdates(
      scope,
      returned.map((row) => toId(row.id)),
      'requeued',
    );
  }
  await scope.tx.run(
    `UPDATE ${scope.context.tables.networkTransaction} SET state = 'returned', closed_at = ?, updated_at = ? WHERE id = ?`,
    [now, now, broadcastId],
  );
  return getBroadcast(scope, broadcastId);
}

/**
 * The node refused this broadcast, and it holds one withdrawal only: the withdrawal is `refused`
 * with the node's reason (one event), still debited, until an operator retries or cancels it.
 * The broadcast is `returned` (nothing was sent).
 */
export async function refuseBroadcast(scope: WalletScope, broadcastId: number, reason: string): Promise<Transaction[]> {
  const broadcast = await getBroadcast(scope, broadcastId);
  if (broadcast.state !== 'opened') throw new InvalidState(`broadcast ${broadcastId} is ${broadcast.state}, not opened`);
  const now = nowText();
  const refused = await scope.tx.all<{ id: unknown }>(
    `UPDATE ${scope.context.tables.transaction} SET state = 'refused', network_transaction_id = NULL, refusal = ?, updated_at = ?
     WHERE network_transaction_id = ? AND wallet_id = ? AND type = 'withdrawal' AND state = 'broadcasting' RETURNING id`,
    [reason.slice(0, 1000), now, broadcastId, scope.walletId],
  );
  await scope.tx.run(
    `UPDATE ${scope.context.tables.networkTransaction} SET state = 'returned', closed_at = ?, updated_at = ? WHERE id = ?`,
    [now, now, broadcastId],
  );
  const ids = refused.map((row) => toId(row.id));
  await emitTxUpdates(scope, ids, 'refused');
  const transactions: Transaction[] = [];
  for (const id of ids) transactions.push((await findTransaction(scope, id))!);
  return transactions;
}

/** Mark an opened broadcast for a person to vet (its fate could not be established). */
export async function markBroadcastForVetting(scope: WalletScope, broadcastId: number): Promise<NetworkTransaction> {
  await scope.tx.run(
    `UPDATE ${scope.context.tables.networkTransaction} SET state = 'vetting', updated_at = ?
     WHERE id = ? AND wallet_id = ? AND state = 'opened'`,
    [nowText(), broadcastId, scope.walletId],
  );
  return getBroadcast(scope, broadcastId);
}

export async function getBroadcast(scope: WalletScope, broadcastId: number): Promise<NetworkTransaction> {
  const row = await scope.tx.get(
    `SELECT * FROM ${scope.context.tables.networkTransaction} WHERE id = ? AND wallet_id = ? AND transaction_type = 'broadcast'`,
    [broadcastId, scope.walletId],
  );
  if (!row) throw new NotFound('broadcast', broadcastId);
  return networkTransactionFromRow(row);
}

/** Broadcasts of this wallet in the given states (default: those not closed or returned). */
export async function listBroadcasts(
  scope: WalletScope,
  states: readonly NetworkTransaction['state'][] = ['opened', 'vetting'],
  options: BroadcastListOptions = {},
): Promise<NetworkTransaction[]> {
  const conflicted = options.conflictedOnly ? ' AND conflicted = 1' : '';
  const order = options.newest === undefined ? 'ORDER BY id' : 'ORDER BY id DESC LIMIT ?';
  const rows = await scope.tx.all(
    `SELECT * FROM ${scope.context.tables.networkTransaction}
     WHERE wallet_id = ? AND transaction_type = 'broadcast' AND state IN (${states.map(() => '?').join(', ')})${conflicted} ${order}`,
    options.newest === undefined ? [scope.walletId, ...states] : [scope.walletId, ...states, options.newest],
  );
  return rows.map(networkTransactionFromRow);
}

/** Narrowing of `listBroadcasts`, so that status pages read a bounded number of rows. */
export interface BroadcastListOptions {
  /** Only the newest this many, newest first (default: all, oldest first). */
  readonly newest?: number;
  /** Only those found conflicting with the best chain. */
  readonly conflictedOnly?: boolean;
}
