/**
 * Which wallet transactions `MemoryBackend.changesSince` answers with. It follows the bitcoind
 * backend, which asks `listsinceblock` for the block at height min(cursor height, tip − depth):
 * the transactions in blocks above that height, those in the mempool, and conflicted ones whose
 * conflict is that recent; when the cursor block has left the active chain, heights count from
 * the fork point instead, and `removed` names the wallet transactions of the cursor's branch
 * above it, as `include_removed` does.
 *
 * One difference, on purpose: a receive that lost to a double spend is listed like any other
 * transaction in range, where bitcoind hides it (it lists only its sends).
 */
import type { ChainTip } from '../backend.js';
import { BackendError } from '../../domain/errors.js';
import type { ChainBlock, ChainState, ChainTransaction } from './state.js';

/** The transactions of a `changesSince` answer, before they are turned into wallet views. */
export interface SelectedChanges {
  /** In the order the wallet first saw them. */
  readonly transactions: readonly ChainTransaction[];
  /** Wallet txids in blocks of the cursor's branch that are no longer active, lowest block first. */
  readonly removed: readonly string[];
}

/**
 * Select what changed for `wallet` since `cursor` (see the module comment).
 * @throws BackendError `invalid_cursor` for a cursor whose block this chain never made at that height.
 */
export function selectChanges(state: ChainState, wallet: string, cursor: ChainTip | null, depth: number): SelectedChanges {
  if (!Number.isSafeInteger(depth) || depth < 0) {
    throw new RangeError(`changesSince: depth must be a non-negative integer, got ${String(depth)}`);
  }
  const walletTxids = state.wallet(wallet).txids;
  const all = walletTxids.map((txid) => {
    const tx = state.transaction(txid);
    if (!tx) throw new Error(`memory chain lost transaction ${txid}`);
    return tx;
  });
  if (cursor === null) return { transactions: all, removed: [] };

  const block = cursorBlock(state, cursor);
  const { fork, disconnected } = state.forkPoint(block);
  // Confirmations of a transaction mined at height h are tip − h + 1, so "above `floor`" is
  // |confirmations| ≤ tip − floor, which also takes conflicts mined above it (negative counts).
  const floor = Math.min(fork.height, state.height - depth);
  const window = state.height - floor;
  const transactions = all.filter((tx) => {
    const confirmations = state.confirmations(tx);
    return confirmations === 0 || Math.abs(confirmations) <= window;
  });

  const removed: string[] = [];
  const listed = new Set<string>();
  for (const stale of disconnected) {
    for (const txid of stale.txids) {
      const tx = state.transaction(txid);
      if (tx && !listed.has(txid) && state.concernsWallet(tx, wallet)) {
        listed.add(txid);
        removed.push(txid);
      }
    }
  }
  return { transactions, removed };
}

/** The block a cursor names; refuses hashes the chain never made and heights that do not match. */
function cursorBlock(state: ChainState, cursor: ChainTip): ChainBlock {
  const hash = typeof cursor?.hash === 'string' ? cursor.hash.toLowerCase() : '';
  const block = state.knownBlock(hash);
  if (!block || block.height !== cursor.height) {
    throw new BackendError(
      `changesSince: ${JSON.stringify(cursor)} is not a block of this chain (hash and height must match a block it made)`,
      { retryable: false, code: 'invalid_cursor' },
    );
  }
  return block;
}
