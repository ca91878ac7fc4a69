/**
 * Broadcasts left `opened` (the process died, or the node's answer was lost, between opening and
 * closing) are reconciled with the node, never resent blindly: the send carrying the broadcast's
 * comment is looked up; if the wallet has it, the broadcast is closed with its txid and fee;
 * otherwise it goes to `vetting` for a person, who resolves it with `resolveBroadcast`.
 */
import { InvalidState } from '../domain/errors.js';
import type { CoinLedger, LedgerLog } from '../ledger/coin-ledger.js';
import type { NetworkTransaction } from '../ledger/records.js';

export interface ReconcileResult {
  readonly closed: readonly number[];
  readonly vetting: readonly number[];
  /** Not found yet, but a send of it may still reach the node: looked at again next round. */
  readonly waiting: readonly number[];
}

/**
 * Reconcile every opened broadcast of a wallet. Call only where no broadcast of this process is
 * in flight. `settled(broadcast)` says whether every send of it that was ever started has reached
 * the node by now (its holder's lease and the request time limit have run out, see
 * `timings.ts`); a broadcast not found in the node's wallet goes to vetting only then.
 */
export async function reconcileBroadcasts(
  ledger: CoinLedger,
  walletName: string,
  log: LedgerLog,
  settled: (broadcast: NetworkTransaction) => Promise<boolean> | boolean = () => true,
): Promise<ReconcileResult> {
  const opened = await ledger.read(async (book) => (await book.wallet(walletName)).listBroadcasts(['opened']));
  const closed: number[] = [];
  const vetting: number[] = [];
  const waiting: number[] = [];
  for (const broadcast of opened) {
    // Decided before the look-up: a send that reached the node before this moment shows in it.
    const mayVet = await settled(broadcast);
    const found = broadcast.comment && ledger.backend.findByComment ? await ledger.backend.findByComment(broadcast.comment) : undefined;
    const fields = { coin: ledger.code, wallet: walletName, broadcast: broadcast.id };
    if (found) {
      await ledger.transaction(async (book) => (await book.wallet(walletName)).closeBroadcast(broadcast.id, found.txid, found.fee));
      closed.push(broadcast.id);
      log.warn({ ...fields, txid: found.txid }, 'interrupted broadcast had been sent; closed it with its txid and fee');
    } else if (!mayVet) {
      waiting.push(broadcast.id);
      log.warn(fields, 'interrupted broadcast not in the node wallet yet, but a send of it may still arrive; waiting');
    } else {
      await ledger.transaction(async (book) => (await book.wallet(walletName)).markBroadcastForVetting(broadcast.id));
      vetting.push(broadcast.id);
      log.error(fields, 'interrupted broadcast not found in the node wallet; a person must vet it (cryptoassets resolve-broadcast)');
    }
  }
  return { closed, vetting, waiting };
}

/**
 * A person's verdict on a broadcast under vetting: `sent` with the txid and fee found on chain,
 * or `not_sent`, which puts its withdrawals back in the queue. `not_sent` is refused while any
 * service could still be sending it (`settled` false: see `timings.ts`), and while the node's
 * wallet does have a send with the broadcast's comment.
 */
export async function resolveBroadcast(
  ledger: CoinLedger,
  walletName: string,
  broadcastId: number,
  verdict: { sent: { txid: string; fee: bigint } } | { notSent: true },
  settled: (broadcast: NetworkTransaction) => Promise<boolean> | boolean = () => true,
): Promise<NetworkTransaction> {
  // Only a broadcast the service has given up on: an `opened` one may be in flight right now.
  const broadcast = await ledger.read(async (book) => {
    const all = await (await book.wallet(walletName)).listBroadcasts(['vetting']);
    return all.find((candidate) => candidate.id === broadcastId);
  });
  if (!broadcast) throw new InvalidState(`broadcast ${broadcastId} of wallet ${walletName} is not under vetting`);
  if ('sent' in verdict) {
    return ledger.transaction(async (book) =>
      (await book.wallet(walletName)).closeBroadcast(broadcastId, verdict.sent.txid, verdict.sent.fee),
    );
  }
  if (!(await settled(broadcast))) {
    throw new InvalidState(
      `broadcast ${broadcastId} may still be in flight (a service that held the lease may be sending it); try again after the lease and the request time limit have run out`,
    );
  }
  if (broadcast.comment && ledger.backend.findByComment) {
    const found = await ledger.backend.findByComment(broadcast.comment);
    if (found) throw new InvalidState(`broadcast ${broadcastId} was sent as ${found.txid}; refusing to return its withdrawals`);
  }
  return ledger.transaction(async (book) => (await book.wallet(walletName)).returnBroadcast(broadcastId));
}
