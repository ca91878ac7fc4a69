/**
 * The ledger check: recompute every wallet's books from independent tables and compare.
 *
 * For each wallet of a coin it proves that
 * 1. each account's cached balance equals the sum of its journal entries;
 * 2. each transaction posted exactly what its type and state demand (a transfer nets to zero, a
 *    credited deposit posted +amount, an uncredited one nets to zero, a withdrawal −amount, …),
 *    only to accounts of its own wallet, and (transfers aside) only to the transaction's account;
 * 3. the accounts sum to credited deposits + imports − withdrawals − fees, computed from the
 *    transactions table;
 * 4. every closed broadcast with a fee has exactly that fee booked.
 * It also reports `walletBalance`, what the node's wallet should hold by our records; the balance
 * audit (`node-audit.ts`) compares the coin-wide sum with the node.
 */
import type { CoinScope, WalletScope } from './context.js';
import { listWallets } from './accounts.js';
import { exactSum, exactSumColumns } from './exact-sum.js';
import type { NodeAudit } from './node-audit.js';
import { toBigint, toId } from './rows.js';

/** Figures and problems of one wallet. */
export interface WalletCheck {
  readonly walletId: number;
  readonly wallet: string;
  /** Sum of all account balances, including the (negative) network-fee account. */
  readonly accountsTotal: bigint;
  readonly creditedDeposits: bigint;
  readonly imports: bigint;
  /** All withdrawals but cancelled ones: queued, refused, in a broadcast, or broadcasted. */
  readonly withdrawals: bigint;
  /** Withdrawals still queued or refused (debited from accounts, still held by the wallet). */
  readonly queuedWithdrawals: bigint;
  readonly fees: bigint;
  /** What the node's wallet should hold for this wallet by our records (compare with the node). */
  readonly walletBalance: bigint;
  /** Empty when every invariant holds. */
  readonly problems: readonly string[];
}

export interface CoinCheck {
  readonly coin: string;
  readonly wallets: readonly WalletCheck[];
  /** The balance audit against the coin's node wallet; only with `verifyLedger({ node: true })`. */
  readonly node?: NodeAudit;
}

/** Result of `verifyLedger`. */
export interface LedgerCheck {
  /** The books hold and, when the node was audited, every coin's audit is ok. */
  readonly ok: boolean;
  /** The books alone hold (checks 1–4 of every wallet), whatever the node audit says. */
  readonly booksOk: boolean;
  /** Whether the node wallets were audited (`verifyLedger({ node: true })`). */
  readonly nodeAudited: boolean;
  readonly coins: readonly CoinCheck[];
  /** Every problem: the books' prefixed with coin and wallet, then the audit's prefixed with coin. */
  readonly problems: readonly string[];
}

const PROBLEMS_LISTED_MAX = 20;

/** Check every wallet of one coin. */
export async function verifyCoin(scope: CoinScope): Promise<CoinCheck> {
  const wallets: WalletCheck[] = [];
  for (const wallet of await listWallets(scope)) {
    wallets.push(await verifyWallet({ ...scope, walletId: wallet.id }, wallet.name));
  }
  return { coin: scope.context.coin.code, wallets };
}

async function verifyWallet(scope: WalletScope, name: string): Promise<WalletCheck> {
  const problems: string[] = [];
  const t = scope.context.tables;
  const { tx, walletId } = scope;

  const drifted = await tx.all<{ id: bigint; balance: bigint; posted: unknown }>(
    `SELECT acc.id, acc.balance, COALESCE(SUM(e.amount), 0) AS posted
     FROM ${t.account} acc LEFT JOIN ${t.entry} e ON e.account_id = acc.id
     WHERE acc.wallet_id = ? GROUP BY acc.id, acc.balance
     HAVING acc.balance <> COALESCE(SUM(e.amount), 0) LIMIT ${PROBLEMS_LISTED_MAX}`,
    [walletId],
  );
  for (const row of drifted) {
    problems.push(`account ${toId(row.id)} balance ${toBigint(row.balance)} but its entries sum to ${toBigint(row.posted)}`);
  }

  const misposted = await tx.all<{ id: bigint; type: string; state: string; posted: unknown }>(
    `SELECT tr.id, tr.type, tr.state, COALESCE(SUM(e.amount), 0) AS posted
     FROM ${t.transaction} tr LEFT JOIN ${t.entry} e ON e.transaction_id = tr.id
     WHERE tr.wallet_id = ? GROUP BY tr.id, tr.type, tr.state, tr.amount
     HAVING COALESCE(SUM(e.amount), 0) <> CASE
       WHEN tr.type = 'internal' THEN 0
       WHEN tr.type = 'deposit' AND tr.state = 'credited' THEN tr.amount
       WHEN tr.type = 'deposit' THEN 0
       WHEN tr.type = 'balance_import' THEN tr.amount
       WHEN tr.type = 'withdrawal' AND tr.state = 'cancelled' THEN 0
       ELSE -tr.amount END
     LIMIT ${PROBLEMS_LISTED_MAX}`,
    [walletId],
  );
  for (const row of misposted) {
    problems.push(`${row.type} transaction ${toId(row.id)} (${row.state}) posted ${toBigint(row.posted)} in total`);
  }

  const strays = await tx.all<{ id: bigint }>(
    `SELECT e.id FROM ${t.entry} e JOIN ${t.transaction} tr ON tr.id = e.transaction_id
     JOIN ${t.account} acc ON acc.id = e.account_id
     WHERE tr.wallet_id = ? AND acc.wallet_id <> tr.wallet_id LIMIT ${PROBLEMS_LISTED_MAX}`,
    [walletId],
  );
  for (const row of strays) problems.push(`entry ${toId(row.id)} posts to an account of another wallet`);

  // Every transaction but a transfer moves one account's money: its entries (a withdrawal's debit
  // and refund, a deposit's credits and reversals, a fee, an import) all post to that account.
  const misdirected = await tx.all<{ id: bigint; transaction_id: bigint; type: string }>(
    `SELECT e.id, e.transaction_id, tr.type FROM ${t.entry} e JOIN ${t.transaction} tr ON tr.id = e.transaction_id
     WHERE tr.wallet_id = ? AND tr.type <> 'internal'
       AND e.account_id <> COALESCE(tr.sending_account_id, tr.receiving_account_id) LIMIT ${PROBLEMS_LISTED_MAX}`,
    [walletId],
  );
  for (const row of misdirected) {
    problems.push(
      `entry ${toId(row.id)} of ${row.type} transaction ${toId(row.transaction_id)} posts to another account than the transaction's`,
    );
  }

  // Wallet-wide totals legitimately exceed 64 bits (a wallet's lifetime of deposits), so they are
  // summed exactly. The per-account and per-transaction sums above are left plain: an account's
  // entries, added in the order they were written (the entry index's order), pass only through
  // balances the ledger kept in range. Should an engine overflow there anyway, the store reports
  // BalanceOutOfRange rather than a wrong figure.
  const totals = await tx.get(
    `SELECT
       ${exactSumColumns(`CASE WHEN type = 'deposit' AND state = 'credited' THEN amount END`, 'credited')},
       ${exactSumColumns(`CASE WHEN type = 'balance_import' THEN amount END`, 'imports')},
       ${exactSumColumns(`CASE WHEN type = 'withdrawal' AND state <> 'cancelled' THEN amount END`, 'withdrawals')},
       ${exactSumColumns(`CASE WHEN type = 'withdrawal' AND state IN ('pending', 'refused') THEN amount END`, 'queued')},
       ${exactSumColumns(`CASE WHEN type = 'network_fee' THEN amount END`, 'fees')}
     FROM ${t.transaction} WHERE wallet_id = ?`,
    [walletId],
  );
  const accounts = await tx.get(`SELECT ${exactSumColumns('balance', 'total')} FROM ${t.account} WHERE wallet_id = ?`, [walletId]);
  const creditedDeposits = exactSum(totals, 'credited');
  const imports = exactSum(totals, 'imports');
  const withdrawals = exactSum(totals, 'withdrawals');
  const queuedWithdrawals = exactSum(totals, 'queued');
  const fees = exactSum(totals, 'fees');
  const accountsTotal = exactSum(accounts, 'total');
  const expected = creditedDeposits + imports - withdrawals - fees;
  if (accountsTotal !== expected) {
    problems.push(
      `accounts sum to ${accountsTotal} but credited deposits ${creditedDeposits} + imports ${imports}` +
        ` - withdrawals ${withdrawals} - fees ${fees} = ${expected}`,
    );
  }
  // What the node's wallet should hold for this wallet by our records; reported for comparing
  // with the node (it equals accountsTotal + queuedWithdrawals whenever check 3 holds).
  const walletBalance = creditedDeposits + imports - (withdrawals - queuedWithdrawals) - fees;

  const feeless = await tx.all<{ id: bigint }>(
    `SELECT n.id FROM ${t.networkTransaction} n
     WHERE n.wallet_id = ? AND n.transaction_type = 'broadcast' AND n.state = 'closed' AND n.fee > 0
       AND NOT EXISTS (SELECT 1 FROM ${t.transaction} f WHERE f.network_transaction_id = n.id AND f.type = 'network_fee' AND f.amount = n.fee)
     LIMIT ${PROBLEMS_LISTED_MAX}`,
    [walletId],
  );
  for (const row of feeless) problems.push(`closed broadcast ${toId(row.id)} has no matching network-fee transaction`);

  return {
    walletId,
    wallet: name,
    accountsTotal,
    creditedDeposits,
    imports,
    withdrawals,
    queuedWithdrawals,
    fees,
    walletBalance,
    problems,
  };
}
