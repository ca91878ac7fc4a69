/**
 * Which network transactions are still tracked, and applying what the network says about one.
 * A network transaction is tracked until its confirmations reach the coin's tracking limit:
 * deposits (seen or conflicted) and our closed broadcasts.
 */
import type { ChainReading, NetworkTransactionInfo } from '../backends/backend.js';
import { emitForBroadcast } from '../events/outbox.js';
import type { CoinScope } from './context.js';
import { checkTxid, type DepositUpdate, recordDeposits } from './deposits.js';
import { inParts, listOf } from './multi-row.js';
import { acceptReading, moveCursor } from './readings.js';
import { nowText, toId } from './rows.js';

/** A tracked network transaction. */
export interface TrackedTransaction {
  readonly id: number;
  readonly txid: string;
  readonly type: 'deposit' | 'broadcast';
  readonly confirmations: number;
}

/** Which network transactions are tracked: below the limit, deposits and our sent broadcasts. */
const TRACKED = `confirmations < ? AND txid IS NOT NULL
  AND ((transaction_type = 'deposit') OR (transaction_type = 'broadcast' AND state = 'closed'))`;

/** Network transactions below the tracking limit, oldest first. */
export async function trackedTransactions(scope: CoinScope, limit?: number): Promise<TrackedTransaction[]> {
  const rows = await scope.tx.all<{ id: bigint; txid: string; transaction_type: 'deposit' | 'broadcast'; confirmations: unknown }>(
    `SELECT id, txid, transaction_type, confirmations FROM ${scope.context.tables.networkTransaction}
     WHERE ${TRACKED} ORDER BY id${limit === undefined ? '' : ' LIMIT ?'}`,
    limit === undefined ? [scope.context.coin.trackingLimit] : [scope.context.coin.trackingLimit, limit],
  );
  return rows.map((row) => ({
    id: toId(row.id),
    txid: row.txid,
    type: row.transaction_type,
    confirmations: Number(row.confirmations),
  }));
}

/** How many network transactions are tracked (one COUNT, for status pages and metrics). */
export async function countTracked(scope: CoinScope): Promise<number> {
  const row = await scope.tx.get<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${scope.context.tables.networkTransaction} WHERE ${TRACKED}`, [
    scope.context.coin.trackingLimit,
  ]);
  return Number(row?.n ?? 0);
}

/** What applying a network update changed. */
export interface NetworkUpdate {
  readonly txid: string;
  readonly deposits: readonly DepositUpdate[];
  /** Ids of our broadcasts whose confirmations were updated. */
  readonly broadcasts: readonly number[];
  /** Our broadcast is conflicted: the withdrawals in it may not have been paid. Needs a person. */
  readonly conflictedBroadcasts: readonly number[];
}

/**
 * Apply the backend's view of one transaction: deposits to our addresses (created, confirmed,
 * credited or reversed) and the confirmations of our own broadcast with that txid. A send to
 * our own address is both. A transaction that is neither changes nothing.
 */
export async function applyNetworkUpdate(scope: CoinScope, info: NetworkTransactionInfo, readingSeq?: number): Promise<NetworkUpdate> {
  return (await applyNetworkUpdates(scope, [info], readingSeq))[0]!;
}

/**
 * `applyNetworkUpdate` for every transaction of a reading, in statements shared by the whole
 * batch: the deposits in one pass (see `recordDeposits`), our broadcasts with these txids in
 * one query. Returns one update per transaction, in order.
 */
async function applyNetworkUpdates(
  scope: CoinScope,
  infos: readonly NetworkTransactionInfo[],
  readingSeq?: number,
): Promise<NetworkUpdate[]> {
  const txids = infos.map((info) => checkTxid(info.txid));
  const paying = infos.flatMap((info, i) =>
    info.received.length > 0
      ? [
          {
            index: i,
            report: {
              txid: txids[i]!,
              confirmations: info.confirmations,
              outputs: info.received,
              ...(readingSeq === undefined ? {} : { readingSeq }),
            },
          },
        ]
      : [],
  );
  const recorded = await recordDeposits(
    scope,
    paying.map((item) => item.report),
  );
  const deposits: DepositUpdate[][] = infos.map(() => []);
  paying.forEach((item, i) => (deposits[item.index] = recorded[i]!));
  const ours = await findBroadcasts(scope, [...new Set(txids)]);
  const updates: NetworkUpdate[] = [];
  for (const [i, info] of infos.entries()) {
    const txid = txids[i]!;
    const broadcasts: number[] = [];
    const conflictedBroadcasts: number[] = [];
    for (const row of ours.get(txid) ?? []) {
      if (readingSeq !== undefined && readingSeq < row.readingSeq) continue; // an older reading: see readings.ts
      if (info.confirmations < 0) conflictedBroadcasts.push(row.id);
      const confirmations = Math.abs(info.confirmations);
      const conflicted = info.confirmations < 0 ? 1 : 0;
      if (row.confirmations !== confirmations || row.conflicted !== conflicted) {
        row.readingSeq = Math.max(row.readingSeq, readingSeq ?? 0);
        await scope.tx.run(
          `UPDATE ${scope.context.tables.networkTransaction} SET confirmations = ?, conflicted = ?, reading_seq = ?, updated_at = ? WHERE id = ?`,
          [confirmations, conflicted, row.readingSeq, nowText(), row.id],
        );
        // Kept current: a txid twice in one reading compares with what the first wrote.
        row.confirmations = confirmations;
        row.conflicted = conflicted;
        await emitForBroadcast(scope, row.id, 'confirmations');
        broadcasts.push(row.id);
      }
    }
    updates.push({ txid, deposits: deposits[i]!, broadcasts, conflictedBroadcasts });
  }
  return updates;
}

/** Our broadcasts with these txids, by txid (several broadcasts may carry one txid). */
async function findBroadcasts(
  scope: CoinScope,
  txids: readonly string[],
): Promise<Map<string, { id: number; confirmations: number; conflicted: number; readingSeq: number }[]>> {
  const found = new Map<string, { id: number; confirmations: number; conflicted: number; readingSeq: number }[]>();
  for (const part of inParts(txids)) {
    const rows = await scope.tx.all<{ id: unknown; txid: string; confirmations: unknown; conflicted: unknown; reading_seq: unknown }>(
      `SELECT id, txid, confirmations, conflicted, reading_seq FROM ${scope.context.tables.networkTransaction}
       WHERE transaction_type = 'broadcast' AND txid IN (${listOf(part.length)}) ORDER BY id`,
      part,
    );
    for (const row of rows) {
      const list = found.get(row.txid) ?? [];
      list.push({
        id: toId(row.id),
        confirmations: Number(row.confirmations),
        conflicted: Number(row.conflicted),
        readingSeq: Number(row.reading_seq),
      });
      found.set(row.txid, list);
    }
  }
  return found;
}

/** What applying a whole reading changed. */
export interface ReadingApplied {
  /** Sequence number the reading was applied under (see readings.ts). */
  readonly seq: number;
  readonly updates: readonly NetworkUpdate[];
}

/**
 * Apply a node reading in the caller's transaction: accepted or refused by the register first
 * (`StaleReading`), then every transaction in it, then, with `moveCursor`, the chain cursor to
 * the reading's tip — in the same transaction as the writes it covers.
 */
export async function applyReading(
  scope: CoinScope,
  reading: ChainReading,
  ticket: number,
  options: { readonly moveCursor?: boolean } = {},
): Promise<ReadingApplied> {
  const seq = await acceptReading(scope, reading.tip, ticket);
  const updates = await applyNetworkUpdates(scope, reading.transactions, seq);
  if (options.moveCursor) await moveCursor(scope, reading.tip);
  return { seq, updates };
}
