/**
 * Resend until processed: a credited deposit that the application has not marked processed gets
 * its txupdate again once it has gone `olderThanMs` without any event, so an application that
 * missed or dropped the event hears of the money again. Each deposit is resent at most once per
 * interval and each run is bounded, so there is never a storm of duplicates.
 */
import type { CoinScope } from '../ledger/context.js';
import { toId } from '../ledger/rows.js';
import { emitTxUpdate } from './outbox.js';

/** Deposits resent per run at most. */
export const RESEND_BATCH_MAX = 500;

/** Emit `resent` events for quiet unprocessed deposits; returns how many. */
export async function resendUnprocessed(scope: CoinScope, olderThanMs: number, limit = RESEND_BATCH_MAX): Promise<number> {
  const t = scope.context.tables;
  const cutoff = new Date(Date.now() - olderThanMs).toISOString();
  const rows = await scope.tx.all<{ id: unknown }>(
    `SELECT tr.id FROM ${t.transaction} tr
     WHERE tr.type = 'deposit' AND tr.state = 'credited' AND tr.processed_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM cryptoassets_event e
                       WHERE e.coin = ? AND e.transaction_type = 'deposit' AND e.transaction_id = tr.id AND e.created_at > ?)
     ORDER BY tr.id LIMIT ?`,
    [scope.context.coin.code, cutoff, limit],
  );
  for (const row of rows) await emitTxUpdate(scope, toId(row.id), 'resent');
  return rows.length;
}
