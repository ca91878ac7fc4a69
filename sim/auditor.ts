/**
 * The auditor: after every step it compares the ledger with its own model of the chain
 * (`ChainModel`, never the ledger's records) and throws `AuditFailure` naming the check.
 *
 * Deposits — the rule for a ledger that may lag the chain. A window opens at each successful
 * synchronisation that is known to have seen the whole chain (a `syncOnce` of the process that
 * holds the lease by the database, or a full scan): at that moment the credited deposits must
 * equal exactly what the chain confirms (same keys, same amounts). Until the next such
 * synchronisation, after every step:
 * - a deposit the chain has confirmed at every state since the window opened must still be
 *   credited (nothing can have shown it unconfirmed: reversing it means a stale reading was
 *   applied);
 * - a credited deposit must have been confirmed by the chain at some state since the window
 *   opened (a reading can only credit what the chain showed it; anything else is a stale or
 *   invented reading);
 * - a credited amount is the sum of the transaction's outputs to that address.
 * The states observed are every state the chain was in: after each step and after each change of
 * the chain inside a step (a reader may have read it then). Sends never change which deposits are
 * confirmed.
 *
 * Withdrawals: every send the chain accepted pays only withdrawals (each to its own address, at
 * its amount), pays each withdrawal at most once ever, carries the comment of the broadcast
 * whose withdrawals it pays; a withdrawal the ledger holds as not sent (pending, refused,
 * cancelled) was not paid; a closed broadcast carries the txid of the send with its comment.
 */
import type { ChainModel } from './chain-model.js';
import type { LedgerSnapshot } from './ledger-view.js';

/** A broken guarantee. */
export class AuditFailure extends Error {
  constructor(
    /** Short name of the check, e.g. `deposits-at-sync`. */
    readonly check: string,
    detail: string,
  ) {
    super(`${check}: ${detail}`);
    this.name = 'AuditFailure';
  }
}

/** States of a withdrawal that say "nothing of it was sent". */
const NOT_SENT = new Set(['pending', 'refused', 'cancelled']);

export class Auditor {
  /** Confirmed at every chain state since the window opened: must stay credited. */
  private always = new Map<string, bigint>();
  /** Confirmed at some chain state since the window opened: may be credited. */
  private ever = new Set<string>();

  constructor(
    private readonly model: ChainModel,
    private readonly threshold: number,
  ) {}

  /**
   * Every per-step check. `synced`: a synchronisation that saw the whole chain succeeded in this
   * step, which opens a new deposit window.
   */
  afterStep(ledger: LedgerSnapshot, synced: boolean): void {
    if (!ledger.check.ok) throw new AuditFailure('ledger-check', ledger.check.problems.slice(0, 5).join('; '));
    this.checkDeposits(ledger, synced);
    this.checkSends(ledger);
  }

  /** The settle phase's end: the ledger equals the chain, and every withdrawal is settled. */
  finalChecks(ledger: LedgerSnapshot, walletBalance: bigint, importsTotal: bigint, feesTotal: bigint): void {
    this.afterStep(ledger, true);
    for (const [id, withdrawal] of this.model.withdrawals) {
      const row = ledger.withdrawals.get(id);
      const paid = this.model.sendsPaying(withdrawal.address);
      if (!row) throw new AuditFailure('final-withdrawals', `withdrawal ${id} is missing from the ledger`);
      if (row.state === 'cancelled') {
        if (paid.length > 0) throw new AuditFailure('final-withdrawals', `cancelled withdrawal ${id} was paid by ${paid[0]!.txid}`);
        continue;
      }
      if (paid.length !== 1) {
        throw new AuditFailure('final-withdrawals', `withdrawal ${id} (${row.state}) was paid ${paid.length} times after settling`);
      }
      if (row.state !== 'broadcasted') throw new AuditFailure('final-withdrawals', `withdrawal ${id} is ${row.state} after settling`);
      const info = this.model.inspect(paid[0]!.txid);
      if (info.confirmations < 1) {
        throw new AuditFailure(
          'final-withdrawals',
          `withdrawal ${id} was paid by ${info.txid}, which has ${info.confirmations} confirmations`,
        );
      }
    }
    const confirmed = this.model.confirmedDeposits(this.threshold);
    const chainTotal = [...confirmed.values()].reduce((sum, amount) => sum + amount, 0n);
    const ledgerTotal = [...ledger.credited.values()].reduce((sum, amount) => sum + amount, 0n);
    if (chainTotal !== ledgerTotal) {
      throw new AuditFailure(
        'final-deposits',
        `credited deposits sum to ${ledgerTotal}, the chain confirms ${chainTotal} to our addresses`,
      );
    }
    let sendFees = 0n;
    for (const send of this.model.sends.values()) {
      sendFees += send.fee;
      const broadcast = send.broadcastId === null ? undefined : ledger.broadcasts.get(send.broadcastId);
      if (broadcast?.state !== 'closed' || broadcast.txid !== send.txid) {
        throw new AuditFailure(
          'final-broadcasts',
          `send ${send.txid} (broadcast ${send.broadcastId}) is not recorded as its closed broadcast (${broadcast?.state ?? 'missing'})`,
        );
      }
    }
    for (const broadcast of ledger.broadcasts.values()) {
      if (broadcast.state === 'opened' || broadcast.state === 'vetting') {
        throw new AuditFailure('final-broadcasts', `broadcast ${broadcast.id} is still ${broadcast.state} after settling`);
      }
    }
    if (feesTotal !== sendFees)
      throw new AuditFailure('final-fees', `the ledger booked ${feesTotal} in fees, the chain's sends paid ${sendFees}`);
    // Everything is confirmed now: the node holds exactly what the ledger says it should, plus
    // what was given to it outside our addresses, minus what was imported of that.
    const node = this.model.nodeBalance(0);
    const expected = walletBalance + this.model.fundedTotal - importsTotal;
    if (node !== expected) {
      throw new AuditFailure(
        'final-node-balance',
        `the node wallet holds ${node}; the ledger's wallet balance ${walletBalance} + fundings ${this.model.fundedTotal} - imports ${importsTotal} = ${expected}`,
      );
    }
  }

  /**
   * Take note of the chain as it is now: called after every change of the chain inside a step
   * (a reader may have read that state and record it later), and after every step.
   */
  observeChain(): Map<string, bigint> {
    const confirmed = this.model.confirmedDeposits(this.threshold);
    for (const key of [...this.always.keys()]) if (!confirmed.has(key)) this.always.delete(key);
    for (const key of confirmed.keys()) this.ever.add(key);
    return confirmed;
  }

  private checkDeposits(ledger: LedgerSnapshot, synced: boolean): void {
    const confirmed = this.observeChain();
    for (const [key, amount] of ledger.credited) {
      const onChain = this.outputAmount(key);
      if (onChain !== amount)
        throw new AuditFailure('deposit-amount', `${key} credited ${amount}, the chain's outputs to it sum to ${onChain}`);
    }
    if (synced) {
      for (const key of confirmed.keys()) {
        if (!ledger.credited.has(key))
          throw new AuditFailure('deposits-at-sync', `the chain confirms ${key} but a completed sync left it uncredited`);
      }
      for (const key of ledger.credited.keys()) {
        if (!confirmed.has(key))
          throw new AuditFailure(
            'deposits-at-sync',
            `${key} is credited after a completed sync, but the chain does not confirm it (${this.describe(key)})`,
          );
      }
      this.always = new Map(confirmed);
      this.ever = new Set(confirmed.keys());
      return;
    }
    for (const key of this.always.keys()) {
      if (!ledger.credited.has(key)) {
        throw new AuditFailure(
          'deposit-reversed-without-cause',
          `${key} was reversed although the chain has confirmed it at every state since the last sync`,
        );
      }
    }
    for (const key of ledger.credited.keys()) {
      if (!this.ever.has(key)) {
        throw new AuditFailure(
          'deposit-credited-without-cause',
          `${key} is credited but the chain has not confirmed it at any state since the last sync (${this.describe(key)})`,
        );
      }
    }
  }

  private checkSends(ledger: LedgerSnapshot): void {
    const paidBy = new Map<string, string>();
    for (const send of this.model.sends.values()) {
      if (send.broadcastId === null)
        throw new AuditFailure('send-comment', `send ${send.txid} carries no broadcast comment (${String(send.comment)})`);
      const paidIds: number[] = [];
      for (const output of send.outputs) {
        const withdrawal = this.model.withdrawalByAddress.get(output.address);
        if (!withdrawal) throw new AuditFailure('send-outputs', `send ${send.txid} pays ${output.address}, which no withdrawal asked for`);
        if (withdrawal.amount !== output.amount) {
          throw new AuditFailure(
            'send-outputs',
            `send ${send.txid} pays withdrawal ${withdrawal.id} ${output.amount} instead of ${withdrawal.amount}`,
          );
        }
        const earlier = paidBy.get(output.address);
        if (earlier !== undefined) {
          throw new AuditFailure(
            'paid-twice',
            `withdrawal ${withdrawal.id} was paid by ${earlier} and again by ${send.txid} (broadcast ${send.broadcastId})`,
          );
        }
        paidBy.set(output.address, send.txid);
        paidIds.push(withdrawal.id);
      }
      const broadcast = ledger.broadcasts.get(send.broadcastId);
      if (!broadcast)
        throw new AuditFailure('send-comment', `send ${send.txid} names broadcast ${send.broadcastId}, which the ledger does not have`);
      if (broadcast.comment !== send.comment)
        throw new AuditFailure('send-comment', `send ${send.txid} carries a comment that is not broadcast ${broadcast.id}'s`);
      if (broadcast.state === 'returned') {
        throw new AuditFailure(
          'sent-broadcast-returned',
          `broadcast ${broadcast.id} was sent as ${send.txid} (step ${send.step}) but the ledger returned it`,
        );
      }
      if (broadcast.state === 'closed' && broadcast.txid !== send.txid) {
        throw new AuditFailure('broadcast-txid', `broadcast ${broadcast.id} was sent as ${send.txid} but closed with ${broadcast.txid}`);
      }
      const members = [...ledger.withdrawals.values()]
        .filter((row) => row.broadcastId === broadcast.id)
        .map((row) => row.id)
        .sort((a, b) => a - b);
      const paid = paidIds.sort((a, b) => a - b);
      if (members.join(',') !== paid.join(',')) {
        throw new AuditFailure(
          'send-outputs',
          `send ${send.txid} paid withdrawals [${paid}] but broadcast ${broadcast.id} holds [${members}]`,
        );
      }
    }
    for (const row of ledger.withdrawals.values()) {
      const paid = paidBy.get(row.address);
      if (paid !== undefined && NOT_SENT.has(row.state)) {
        throw new AuditFailure('unsent-but-paid', `withdrawal ${row.id} is ${row.state} in the ledger but ${paid} paid it`);
      }
    }
    for (const broadcast of ledger.broadcasts.values()) {
      if (broadcast.state !== 'closed') continue;
      const send = broadcast.txid === null ? undefined : this.model.sends.get(broadcast.txid);
      if (!send || send.broadcastId !== broadcast.id) {
        throw new AuditFailure(
          'broadcast-txid',
          `broadcast ${broadcast.id} is closed with ${broadcast.txid}, which is not the chain's send of it`,
        );
      }
    }
  }

  /** The sum of the outputs of `key`'s transaction to its address. */
  private outputAmount(key: string): bigint {
    const [txid, address] = key.split('/') as [string, string];
    const info = this.model.inspect(txid);
    return info.outputs.filter((output) => output.address === address).reduce((sum, output) => sum + output.amount, 0n);
  }

  private describe(key: string): string {
    const info = this.model.inspect(key.split('/')[0]!);
    return `${info.confirmations} confirmations${info.conflictedBy ? `, conflicted by ${info.conflictedBy.slice(0, 12)}…` : ''}${info.inMempool ? ', in the mempool' : ''}`;
  }
}
