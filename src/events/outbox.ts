/**
 * The transactional outbox: a `txupdate` row is written in the same database transaction as the
 * ledger change it reports. A change that rolls back (a conflict re-run, an error) leaves no
 * event; an event never exists without its change. Delivery happens later, after commit, from
 * this table (see dispatcher.ts).
 */
import { formatAmount } from '../domain/amounts.js';
import type { CoinScope } from '../ledger/context.js';
import { nowText, toBigint, toId } from '../ledger/rows.js';
import type { TxUpdatePayload, TxUpdateTransactionType } from './types.js';

/** What changed, as named in the event's `change` field. */
export type TxUpdateChange =
  | 'created'
  | 'confirmations'
  | 'credited'
  | 'reversed'
  | 'queued'
  | 'broadcasting'
  | 'broadcasted'
  | 'requeued'
  | 'refused'
  | 'cancelled'
  | 'resent'
  | 'held'
  | 'released';

/** What a txupdate payload is made of: the columns of the payload query, or the same facts in hand. */
export interface PayloadFacts extends Record<string, unknown> {
  id: unknown;
  type: string;
  state: string;
  amount: unknown;
  network_transaction_id: unknown;
  created_at: unknown;
  credited_at: unknown;
  processed_at: unknown;
  address: string | null;
  txid: string | null;
  confirmations: unknown;
  network_state: string | null;
  network_conflicted: unknown;
  account_id: unknown;
  account_name: string;
  wallet_name: string;
  reversals: unknown;
}

/** Events written per INSERT: a bound on the statement's parameters (SQLite allows 32,766). */
const EVENTS_PER_INSERT = 500;

/** Write a txupdate event for a deposit or withdrawal, reflecting its state now, inside the caller's transaction. */
export async function emitTxUpdate(scope: CoinScope, transactionId: number, change: TxUpdateChange): Promise<void> {
  await writeTxUpdates(scope, [await buildPayload(scope, transactionId, change)]);
}

/**
 * Write one txupdate event per transaction, in the given order, all with the same `change`: the
 * payloads `emitTxUpdate` would write one at a time, read with one payload query and written with
 * one INSERT per EVENTS_PER_INSERT transactions instead of two statements each.
 */
export async function emitTxUpdates(scope: CoinScope, transactionIds: readonly number[], change: TxUpdateChange): Promise<void> {
  const payloads: TxUpdatePayload[] = [];
  for (let start = 0; start < transactionIds.length; start += EVENTS_PER_INSERT) {
    const part = transactionIds.slice(start, start + EVENTS_PER_INSERT);
    const rows = await scope.tx.all<PayloadFacts>(`${payloadSelect(scope)} WHERE tr.id IN (${part.map(() => '?').join(', ')})`, part);
    const byId = new Map(rows.map((row) => [toId(row.id), row]));
    for (const id of part) {
      const row = byId.get(id);
      if (!row) throw new Error(`transaction ${id} vanished while writing its event`);
      payloads.push(txUpdatePayload(scope, row, change));
    }
  }
  await writeTxUpdates(scope, payloads);
}

/**
 * Write txupdate events whose payloads the caller already built (from `txUpdatePayload`), in the
 * given order, in as few statements as the engine's parameter limit allows: a reading's deposits
 * cost one INSERT instead of one payload query and one INSERT each.
 */
export async function writeTxUpdates(scope: CoinScope, payloads: readonly TxUpdatePayload[]): Promise<void> {
  const now = nowText();
  for (let start = 0; start < payloads.length; start += EVENTS_PER_INSERT) {
    const part = payloads.slice(start, start + EVENTS_PER_INSERT);
    await scope.tx.run(
      `INSERT INTO cryptoassets_event (name, coin, transaction_type, transaction_id, payload, created_at)
       VALUES ${part.map(() => "('txupdate', ?, ?, ?, ?, ?)").join(', ')}`,
      part.flatMap((payload) => [
        payload.coin,
        payload.transactionType === 'deposit' ? 'deposit' : 'withdrawal',
        payload.transactionId,
        JSON.stringify(payload),
        now,
      ]),
    );
  }
}

/** Write one event per withdrawal of a broadcast. */
export async function emitForBroadcast(scope: CoinScope, broadcastId: number, change: TxUpdateChange): Promise<void> {
  const rows = await scope.tx.all<{ id: unknown }>(
    `SELECT id FROM ${scope.context.tables.transaction} WHERE network_transaction_id = ? AND type = 'withdrawal' ORDER BY id`,
    [broadcastId],
  );
  await emitTxUpdates(
    scope,
    rows.map((row) => toId(row.id)),
    change,
  );
}

/** The payload of a txupdate read from the database now (one query over six tables). */
export async function buildPayload(scope: CoinScope, transactionId: number, change: TxUpdateChange): Promise<TxUpdatePayload> {
  const row = await scope.tx.get<PayloadFacts>(`${payloadSelect(scope)} WHERE tr.id = ?`, [transactionId]);
  if (!row) throw new Error(`transaction ${transactionId} vanished while writing its event`);
  return txUpdatePayload(scope, row, change);
}

/** The payload query without its WHERE clause: the facts of transactions `tr`. */
function payloadSelect(scope: CoinScope): string {
  const t = scope.context.tables;
  return `SELECT tr.id, tr.type, tr.state, tr.amount, tr.network_transaction_id, tr.created_at, tr.credited_at, tr.processed_at,
            a.address, n.txid, n.confirmations, n.state AS network_state, n.conflicted AS network_conflicted,
            acc.id AS account_id, acc.name AS account_name, w.name AS wallet_name,
            (SELECT COUNT(*) FROM ${t.entry} e WHERE e.transaction_id = tr.id AND e.kind = 'deposit_reversal') AS reversals
     FROM ${t.transaction} tr
     JOIN ${t.wallet} w ON w.id = tr.wallet_id
     JOIN ${t.account} acc ON acc.id = COALESCE(tr.receiving_account_id, tr.sending_account_id)
     LEFT JOIN ${t.address} a ON a.id = tr.address_id
     LEFT JOIN ${t.networkTransaction} n ON n.id = tr.network_transaction_id`;
}

/** The payload of a txupdate from its facts (see docs/events.md for every field). */
export function txUpdatePayload(scope: CoinScope, row: PayloadFacts, change: TxUpdateChange): TxUpdatePayload {
  if (row.type !== 'deposit' && row.type !== 'withdrawal') throw new Error(`no txupdate events for ${row.type} transactions`);
  const { coin, network } = scope.context;
  const amount = toBigint(row.amount);
  const confirmations = row.confirmations === null || row.confirmations === undefined ? 0 : Number(row.confirmations);
  const conflicted = row.network_state === 'conflicted' || Number(row.network_conflicted ?? 0) === 1;
  const isDeposit = row.type === 'deposit';
  return {
    coin: coin.code,
    network: network.name,
    transactionType: (isDeposit ? 'deposit' : 'broadcast') satisfies TxUpdateTransactionType,
    transactionId: toId(row.id),
    networkTransactionId: row.network_transaction_id === null ? null : toId(row.network_transaction_id),
    txid: row.txid ?? null,
    wallet: row.wallet_name,
    account: { id: toId(row.account_id), name: row.account_name },
    address: row.address ?? null,
    amount: amount.toString(),
    amountDecimal: formatAmount(amount, coin),
    state: row.state,
    confirmations,
    confirmationThreshold: coin.confirmationThreshold,
    credited: isDeposit
      ? row.state === 'credited'
      : row.state === 'broadcasted' && !conflicted && confirmations >= coin.confirmationThreshold,
    reversed: isDeposit && row.state !== 'credited' && toBigint(row.reversals) > 0n,
    conflicted,
    processed: row.processed_at !== null && row.processed_at !== undefined && isDeposit,
    change,
    transactionCreatedAt: isoText(row.created_at)!,
    creditedAt: isDeposit ? isoText(row.credited_at) : null,
  };
}

function isoText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString();
}
