/**
 * Which network transactions are still tracked, and applying what the network says about one.
 * A network transaction is tracked until its confirmations reach the coin's tracking limit:
 * deposits (seen or conflicted) and our closed broadcasts.
 */
import type { ChainReading, NetworkTransactionInfo } from '../backends/backend.js';
import { emitForBroadcast } from '../events/outbox.js';
import type { CoinScope } from './context.js';
import { checkTxid, type DepositUpdate, recordDeposit } from './deposits.js';
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
  const txid = checkTxid(info.txid);
  const deposits =
    info.received.length > 0
      ? await recordDeposit(scope, {
          txid,
          confirmations: info.confirmations,
          outputs: info.received,
          ...(readingSeq === undefined ? {} : { readingSeq }),
        })
      : [];
  const table = scope.context.tables.networkTransaction;
  const ours = await scope.tx.all<{ id: bigint; confirmations: unknown; conflicted: unknown; reading_seq: unknown }>(
    `SELECT id, confirmations, conflicted, reading_seq FROM ${table} WHERE transaction_type = 'broadcast' AND txid = ?`,
    [txid],
  );
  const broadcasts: number[] = [];
  const conflictedBroadcasts: number[] = [];
  for (const row of ours) {
    const id = toId(row.id);
    const storedSeq = Number(row.reading_seq);
    if (readingSeq !== undefined && readingSeq < storedSeq) continue; // an older reading: see readings.ts
    if (info.confirmations < 0) conflictedBroadcasts.push(id);
    const confirmations = Math.abs(info.confirmations);
    const conflicted = info.confirmations < 0 ? 1 : 0;
    if (Number(row.confirmations) !== confirmations || Number(row.conflicted) !== conflicted) {
      await scope.tx.run(`UPDATE ${table} SET confirmations = ?, conflicted = ?, reading_seq = ?, updated_at = ? WHERE id = ?`, [
        confirmations,
        conflicted,
        Math.max(storedSeq, readingSeq ?? 0),
        nowText(),
        id,
      ]);
      await emitForBroadcast(scope, id, 'confirmations');
      broadcasts.push(id);
    }
  }
  return { txid, deposits, broadcasts, conflictedBroadcasts };
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
  const updates: NetworkUpdate[] = [];
  for (const info of reading.transactions) updates.push(await applyNetworkUpdate(scope, info, seq));
  if (options.moveCursor) await moveCursor(scope, reading.tip);
  return { seq, updates };
}
