/**
 * What an operator (or the application) can do with a withdrawal that has not left: retry one the
 * node refused, or cancel one that is queued or refused. History is never edited: a cancellation
 * credits the account back with a new `withdrawal_refund` entry, so the journal shows both the
 * debit and the refund.
 */
import { InvalidState, NotFound } from '../domain/errors.js';
import { emitTxUpdate } from '../events/outbox.js';
import type { WalletScope } from './context.js';
import { checkBalanceChange, getAccount } from './accounts.js';
import { findTransaction, postEntry, transactionSelect, transactionsFromRows } from './entries.js';
import type { Transaction } from './records.js';
import { nowText } from './rows.js';

async function withdrawal(scope: WalletScope, id: number): Promise<Transaction> {
  const found = await findTransaction(scope, id);
  if (!found || found.type !== 'withdrawal') throw new NotFound('withdrawal', id);
  return found;
}

/**
 * Put a refused withdrawal back in the queue, to be tried in the next broadcast (after the cause
 * of the refusal was fixed: the wallet funded, the address corrected on the node's side…).
 * @throws NotFound, InvalidState (not refused)
 */
export async function retryWithdrawal(scope: WalletScope, id: number): Promise<Transaction> {
  const current = await withdrawal(scope, id);
  if (current.state !== 'refused') throw new InvalidState(`withdrawal ${id} is ${current.state}; only a refused withdrawal can be retried`);
  await scope.tx.run(
    `UPDATE ${scope.context.tables.transaction} SET state = 'pending', updated_at = ? WHERE id = ? AND wallet_id = ? AND state = 'refused'`,
    [nowText(), id, scope.walletId],
  );
  await emitTxUpdate(scope, id, 'requeued');
  return withdrawal(scope, id);
}

/**
 * Cancel a queued or refused withdrawal: state `cancelled`, and its amount credited back to the
 * sending account by a refund entry. A withdrawal in a broadcast (or sent) cannot be cancelled.
 * @throws NotFound, InvalidState, BalanceOutOfRange (the refund would leave the 64-bit range; nothing written)
 */
export async function cancelWithdrawal(scope: WalletScope, id: number): Promise<Transaction> {
  const current = await withdrawal(scope, id);
  if (current.state !== 'pending' && current.state !== 'refused') {
    throw new InvalidState(`withdrawal ${id} is ${current.state}; only a pending or refused withdrawal can be cancelled`);
  }
  // Refused before the first write, so that nothing is half-written even if the caller catches it.
  checkBalanceChange(await getAccount(scope, current.sendingAccountId!), current.amount);
  const changed = await scope.tx.run(
    `UPDATE ${scope.context.tables.transaction} SET state = 'cancelled', updated_at = ?
     WHERE id = ? AND wallet_id = ? AND state IN ('pending', 'refused')`,
    [nowText(), id, scope.walletId],
  );
  if (changed !== 1) throw new InvalidState(`withdrawal ${id} changed state under us`);
  await postEntry(scope, current.sendingAccountId!, id, 'withdrawal_refund', current.amount);
  await emitTxUpdate(scope, id, 'cancelled');
  return withdrawal(scope, id);
}

/** Withdrawals the node refused, oldest first. */
export async function refusedWithdrawals(scope: WalletScope): Promise<Transaction[]> {
  const rows = await scope.tx.all(
    `${transactionSelect(scope)} WHERE t.wallet_id = ? AND t.type = 'withdrawal' AND t.state = 'refused' ORDER BY t.id`,
    [scope.walletId],
  );
  return transactionsFromRows(rows);
}
