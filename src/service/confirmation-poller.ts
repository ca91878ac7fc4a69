/**
 * Confirmation polling: the node notifies a transaction only at mempool entry and first
 * confirmation, so later confirmations are polled until each tracked transaction reaches the
 * coin's tracking limit.
 *
 * Where the backend offers `recentTransactions`, a round costs a constant number of backend calls
 * however many transactions are open: one answer covers everything within the tracking window.
 * Only transactions missing from it (pushed beyond the window while we were not looking, or
 * unknown to the wallet) are looked up one by one.
 */
import type { NetworkTransactionInfo } from '../backends/backend.js';
import type { CoinLedger, LedgerLog } from '../ledger/coin-ledger.js';
import type { NetworkUpdate } from '../ledger/tracking.js';
import { applyInfo, updateTransaction } from './transaction-updater.js';

/** What one polling round did. */
export interface PollResult {
  readonly tracked: number;
  readonly updated: number;
  /** Backend calls made: 1 with `recentTransactions` plus one per fallback look-up. */
  readonly backendCalls: number;
  readonly fallbacks: number;
  readonly failures: number;
}

/**
 * One polling round over every tracked transaction of the coin. `onUpdate` sees each applied
 * update (for metrics and, later, events).
 */
export async function pollConfirmations(
  ledger: CoinLedger,
  log: LedgerLog,
  onUpdate: (update: NetworkUpdate) => void = () => undefined,
): Promise<PollResult> {
  const tracked = await ledger.read((book) => book.trackedTransactions());
  if (tracked.length === 0) return { tracked: 0, updated: 0, backendCalls: 0, fallbacks: 0, failures: 0 };
  const backend = ledger.backend;
  let backendCalls = 0;
  let recent: Map<string, NetworkTransactionInfo> | undefined;
  if (backend.recentTransactions) {
    backendCalls++;
    const window = await backend.recentTransactions(ledger.context.coin.trackingLimit);
    recent = new Map(window.map((info) => [info.txid, info]));
  }
  let updated = 0;
  let fallbacks = 0;
  let failures = 0;
  const seen = new Set<string>();
  for (const item of tracked) {
    if (seen.has(item.txid)) continue; // a send to ourselves is tracked as deposit and broadcast
    seen.add(item.txid);
    try {
      const info = recent?.get(item.txid);
      if (info) {
        const update = await applyInfo(ledger, info);
        onUpdate(update);
        if (update.deposits.length > 0 || update.broadcasts.length > 0) updated++;
        continue;
      }
      fallbacks++;
      backendCalls++;
      const result = await updateTransaction(ledger, item.txid);
      if (result.status === 'applied') {
        onUpdate(result.update);
        updated++;
      }
      else log.warn({ coin: ledger.code, txid: item.txid, status: result.status }, 'tracked transaction unknown to the backend');
    } catch (error) {
      // One transaction's failure never stops the others (the original aborted the whole run).
      failures++;
      log.error({ coin: ledger.code, txid: item.txid, err: errorText(error) }, 'could not update a tracked transaction');
    }
  }
  return { tracked: tracked.length, updated, backendCalls, fallbacks, failures };
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
