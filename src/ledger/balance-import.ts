/**
 * Importing a node's unaccounted balance: money the node's wallet holds that no account of ours
 * accounts for (coins that were in the wallet before the ledger existed, or sent to it outside the
 * ledger). It is booked once onto an account chosen by the operator; a second import finds nothing
 * unaccounted and books nothing.
 */
import { InvalidState } from '../domain/errors.js';
import type { AccountKey, CoinScope, WalletScope } from './context.js';
import { checkBalanceChange, getAccount } from './accounts.js';
import { findTransaction, insertTransaction, postEntry } from './entries.js';
import { exactSum, exactSumColumns } from './exact-sum.js';
import type { Transaction } from './records.js';
import { toBigint } from './rows.js';

/**
 * What the node's wallet should hold by our records, over every wallet of the coin (one backend
 * wallet serves them all): account balances plus withdrawals debited but not yet sent (queued, or
 * refused by the node and waiting for an operator).
 * @throws InvalidState while any broadcast is open or awaiting vetting (its money is in doubt).
 */
export async function expectedBackendBalance(scope: CoinScope): Promise<bigint> {
  const t = scope.context.tables;
  const doubtful = await scope.tx.get<{ n: unknown }>(
    `SELECT COUNT(*) AS n FROM ${t.networkTransaction} WHERE transaction_type = 'broadcast' AND state IN ('opened', 'vetting')`,
  );
  if (toBigint(doubtful?.n) > 0n) {
    throw new InvalidState('a broadcast is open or awaiting vetting; reconcile it before importing a balance');
  }
  // Over every wallet the total may exceed 64 bits even though each balance fits: summed exactly.
  const accounts = await scope.tx.get(`SELECT ${exactSumColumns('balance', 'total')} FROM ${t.account}`);
  // Queued and refused withdrawals alike are debited from their accounts and still in the node
  // wallet (a refused one waits for an operator to retry or cancel it).
  const queued = await scope.tx.get(
    `SELECT ${exactSumColumns('amount', 'total')} FROM ${t.transaction} WHERE type = 'withdrawal' AND state IN ('pending', 'refused')`,
  );
  return exactSum(accounts, 'total') + exactSum(queued, 'total');
}

/** Result of an import. */
export interface BalanceImport {
  /** Base units booked; 0n when nothing was unaccounted. */
  readonly imported: bigint;
  readonly backendBalance: bigint;
  readonly expectedBalance: bigint;
  readonly transaction?: Transaction;
}

/**
 * Book `backendBalance − expected` onto `account` when positive.
 * The backend balance is read by the caller before the transaction (no network calls inside).
 * @throws BalanceOutOfRange when the account's balance would leave the 64-bit range, before anything is written.
 */
export async function importUnaccountedBalance(
  scope: WalletScope,
  account: AccountKey,
  backendBalance: bigint,
  label: string,
): Promise<BalanceImport> {
  const target = await getAccount(scope, account);
  const expectedBalance = await expectedBackendBalance(scope);
  const unaccounted = backendBalance - expectedBalance;
  if (unaccounted <= 0n) return { imported: 0n, backendBalance, expectedBalance };
  checkBalanceChange(target, unaccounted);
  const id = await insertTransaction(scope, {
    type: 'balance_import',
    state: 'done',
    amount: unaccounted,
    receivingAccountId: target.id,
    label,
  });
  await postEntry(scope, target.id, id, 'balance_import', unaccounted);
  return { imported: unaccounted, backendBalance, expectedBalance, transaction: await findTransaction(scope, id) };
}
