/**
 * The books' side of the balance audit: what the node wallet should hold by our records, over
 * every wallet of one coin. One node wallet backs all ledger wallets of a coin (one backend per
 * coin), so the audit compares coin-wide sums, never one ledger wallet alone.
 */
import type { CoinScope } from './context.js';
import { exactSum, exactSumColumns } from './exact-sum.js';
import { toBigint, toId } from './rows.js';

/** A broadcast whose fate is not settled: it may or may not have left the node wallet. */
export interface BroadcastInDoubt {
  readonly id: number;
  readonly wallet: string;
  readonly state: 'opened' | 'vetting';
}

/** How many ids of conflicted broadcasts the figures list (the count is always complete). */
export const CONFLICTED_IDS_LISTED_MAX = 20;

/**
 * The books' figures the node wallet is compared with, summed over every wallet of one coin, all
 * read in one transaction. Every withdrawal is in exactly one of `sentWithdrawals`,
 * `conflictedWithdrawals`, `inDoubtWithdrawals` and `queuedWithdrawals`.
 */
export interface NodeBookFigures {
  /** Deposits credited to accounts (at the confirmation threshold). */
  readonly creditedDeposits: bigint;
  /** Balance imports (`import-balance`). */
  readonly imports: bigint;
  /** Withdrawals of closed broadcasts: they left the node wallet. */
  readonly sentWithdrawals: bigint;
  /**
   * Withdrawals of closed broadcasts that lost to a conflicting transaction. Counted as sent; they
   * may be unpaid, their money back in the node wallet.
   */
  readonly conflictedWithdrawals: bigint;
  /** Withdrawals of broadcasts opened or under vetting. Counted as sent: they may have left. */
  readonly inDoubtWithdrawals: bigint;
  /** Withdrawals waiting in the queue or refused by the node: debited, still in the node wallet. Cancelled ones count nowhere (refunded). */
  readonly queuedWithdrawals: bigint;
  /** Network fees booked (one per closed broadcast). */
  readonly fees: bigint;
  /** The part of `fees` booked for conflicted broadcasts. */
  readonly conflictedFees: bigint;
  /** Deposits seen and not credited (below the threshold), not conflicted. */
  readonly incomingDeposits: bigint;
  /** Sum of every account balance (the network-fee accounts are negative). */
  readonly accountsTotal: bigint;
  /**
   * What the node wallet must hold by our records: credited deposits + imports − withdrawals that
   * left or may have left (sent, conflicted, in doubt) − fees. Equals `accountsTotal +
   * queuedWithdrawals` whenever the ledger check holds.
   */
  readonly expected: bigint;
  /** Broadcasts opened or under vetting, oldest first. */
  readonly inDoubtBroadcasts: readonly BroadcastInDoubt[];
  /** How many closed broadcasts are flagged conflicted. */
  readonly conflictedBroadcastCount: number;
  /** Ids of the first conflicted broadcasts (at most `CONFLICTED_IDS_LISTED_MAX`). */
  readonly conflictedBroadcastIds: readonly number[];
}

/** Read the figures of one coin; run it inside a read transaction so that they agree with each other. */
export async function readNodeFigures(scope: CoinScope): Promise<NodeBookFigures> {
  const t = scope.context.tables;
  // Withdrawals are told apart by the state of their broadcast, not by their own state: a
  // withdrawal that is not queued counts as in doubt unless its broadcast is closed, so that every
  // withdrawal falls in exactly one bucket whatever the state of its broadcast.
  // Totals over many rows may exceed 64 bits (an 18-decimal coin): summed exactly (exact-sum.ts).
  const settled = "tr.state NOT IN ('pending', 'refused', 'cancelled')";
  const sums = await scope.tx.get<Record<string, unknown>>(
    `SELECT
       ${exactSumColumns(`CASE WHEN tr.type = 'deposit' AND tr.state = 'credited' THEN tr.amount END`, 'credited')},
       ${exactSumColumns(`CASE WHEN tr.type = 'deposit' AND tr.state = 'incoming' AND n.state = 'seen' THEN tr.amount END`, 'incoming')},
       ${exactSumColumns(`CASE WHEN tr.type = 'balance_import' THEN tr.amount END`, 'imports')},
       ${exactSumColumns(`CASE WHEN tr.type = 'withdrawal' AND tr.state IN ('pending', 'refused') THEN tr.amount END`, 'queued')},
       ${exactSumColumns(`CASE WHEN tr.type = 'withdrawal' AND ${settled} AND n.state = 'closed' AND n.conflicted = 0 THEN tr.amount END`, 'sent')},
       ${exactSumColumns(`CASE WHEN tr.type = 'withdrawal' AND ${settled} AND n.state = 'closed' AND n.conflicted = 1 THEN tr.amount END`, 'conflicted')},
       ${exactSumColumns(`CASE WHEN tr.type = 'withdrawal' AND ${settled} AND (n.state IS NULL OR n.state <> 'closed') THEN tr.amount END`, 'in_doubt')},
       ${exactSumColumns(`CASE WHEN tr.type = 'network_fee' THEN tr.amount END`, 'fees')},
       ${exactSumColumns(`CASE WHEN tr.type = 'network_fee' AND n.conflicted = 1 THEN tr.amount END`, 'conflicted_fees')}
     FROM ${t.transaction} tr LEFT JOIN ${t.networkTransaction} n ON n.id = tr.network_transaction_id`,
  );
  const accounts = await scope.tx.get(`SELECT ${exactSumColumns('balance', 'total')} FROM ${t.account}`);
  const inDoubt = await scope.tx.all<{ id: unknown; wallet: string; state: 'opened' | 'vetting' }>(
    `SELECT n.id, w.name AS wallet, n.state FROM ${t.networkTransaction} n JOIN ${t.wallet} w ON w.id = n.wallet_id
     WHERE n.transaction_type = 'broadcast' AND n.state IN ('opened', 'vetting') ORDER BY n.id`,
  );
  const conflicted = await scope.tx.all<{ id: unknown }>(
    `SELECT id FROM ${t.networkTransaction}
     WHERE transaction_type = 'broadcast' AND state = 'closed' AND conflicted = 1 ORDER BY id LIMIT ${CONFLICTED_IDS_LISTED_MAX}`,
  );
  const conflictedCount = await scope.tx.get<{ n: unknown }>(
    `SELECT COUNT(*) AS n FROM ${t.networkTransaction} WHERE transaction_type = 'broadcast' AND state = 'closed' AND conflicted = 1`,
  );

  const creditedDeposits = exactSum(sums, 'credited');
  const imports = exactSum(sums, 'imports');
  const sentWithdrawals = exactSum(sums, 'sent');
  const conflictedWithdrawals = exactSum(sums, 'conflicted');
  const inDoubtWithdrawals = exactSum(sums, 'in_doubt');
  const fees = exactSum(sums, 'fees');
  return {
    creditedDeposits,
    imports,
    sentWithdrawals,
    conflictedWithdrawals,
    inDoubtWithdrawals,
    queuedWithdrawals: exactSum(sums, 'queued'),
    fees,
    conflictedFees: exactSum(sums, 'conflicted_fees'),
    incomingDeposits: exactSum(sums, 'incoming'),
    accountsTotal: exactSum(accounts, 'total'),
    expected: creditedDeposits + imports - sentWithdrawals - conflictedWithdrawals - inDoubtWithdrawals - fees,
    inDoubtBroadcasts: inDoubt.map((row) => ({ id: toId(row.id), wallet: row.wallet, state: row.state })),
    conflictedBroadcastCount: Number(toBigint(conflictedCount?.n)),
    conflictedBroadcastIds: conflicted.map((row) => toId(row.id)),
  };
}

/**
 * Whether two readings agree on everything the comparison with the node uses. Queued
 * withdrawals and the accounts total may differ: queueing a withdrawal or a transfer between
 * accounts moves money inside the books without changing what the node wallet should hold.
 */
export function sameNodeFigures(a: NodeBookFigures, b: NodeBookFigures): boolean {
  return (
    a.expected === b.expected &&
    a.creditedDeposits === b.creditedDeposits &&
    a.imports === b.imports &&
    a.sentWithdrawals === b.sentWithdrawals &&
    a.conflictedWithdrawals === b.conflictedWithdrawals &&
    a.inDoubtWithdrawals === b.inDoubtWithdrawals &&
    a.fees === b.fees &&
    a.conflictedFees === b.conflictedFees &&
    a.incomingDeposits === b.incomingDeposits &&
    a.inDoubtBroadcasts.length === b.inDoubtBroadcasts.length &&
    a.inDoubtBroadcasts.every(
      (broadcast, i) => broadcast.id === b.inDoubtBroadcasts[i]!.id && broadcast.state === b.inDoubtBroadcasts[i]!.state,
    )
  );
}
