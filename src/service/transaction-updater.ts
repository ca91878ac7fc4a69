/**
 * The transaction updater: what to do when the node says "transaction TXID changed" (a wallet
 * notification) or a poll finds new confirmations. It asks the backend about the txid and applies
 * the answer to the ledger in one short transaction. Unknown and malformed txids are reported, not
 * thrown, so one bad notification never stops the others.
 */
import { InvalidTxid, NotFound } from '../domain/errors.js';
import type { CoinLedger } from '../ledger/coin-ledger.js';
import type { NetworkUpdate } from '../ledger/tracking.js';
import type { NetworkTransactionInfo } from '../backends/backend.js';

export type UpdateResult =
  | { readonly status: 'applied'; readonly update: NetworkUpdate }
  | { readonly status: 'unknown_txid' | 'malformed_txid'; readonly txid: string };

/** Look the txid up on the backend and apply what it says. Backend and database errors propagate. */
export async function updateTransaction(ledger: CoinLedger, txid: string): Promise<UpdateResult> {
  let info: NetworkTransactionInfo;
  try {
    info = await ledger.backend.getTransaction(txid);
  } catch (error) {
    if (error instanceof InvalidTxid) return { status: 'malformed_txid', txid };
    if (error instanceof NotFound) return { status: 'unknown_txid', txid };
    throw error;
  }
  return { status: 'applied', update: await applyInfo(ledger, info) };
}

/** Apply a backend answer already in hand. */
export function applyInfo(ledger: CoinLedger, info: NetworkTransactionInfo): Promise<NetworkUpdate> {
  return ledger.transaction((book) => book.applyNetworkUpdate(info));
}
