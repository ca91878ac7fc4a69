/**
 * The auditor's knowledge of the chain, built from the chain and from what the simulator itself
 * did, never from the ledger: our receiving addresses (as created), every transaction the run
 * made (outside payments, double spends, fundings) and every send the chain accepted from the
 * node wallet (found in the mempool right after each `sendMany`, whatever the caller was told),
 * and every withdrawal queued, each to an address of its own.
 */
import type { ChainTransactionInfo, MemoryChain } from '../src/backends/memory/index.js';

/** A withdrawal as the simulator queued it. */
export interface QueuedWithdrawal {
  readonly id: number;
  readonly address: string;
  readonly amount: bigint;
  readonly account: string;
}

/** A transaction the node wallet sent, as the chain accepted it. */
export interface AcceptedSend {
  readonly txid: string;
  readonly comment: string | null;
  /** The broadcast id the comment names (`cryptoassets btc broadcast <id> <random>`), or null. */
  readonly broadcastId: number | null;
  readonly outputs: readonly { readonly address: string; readonly amount: bigint }[];
  readonly fee: bigint;
  /** The step it was accepted at. */
  readonly step: number;
}

const COMMENT = /^cryptoassets btc broadcast (\d+) [0-9a-f]+$/;

/** A deposit key: one (transaction, our address) pair, as the ledger records deposits. */
export function depositKey(txid: string, address: string): string {
  return `${txid}/${address}`;
}

export class ChainModel {
  /** Receiving address → account name. */
  readonly ourAddresses = new Map<string, string>();
  /** Every transaction the run made or saw accepted, in order. */
  private readonly txids: string[] = [];
  private readonly known = new Set<string>();
  /** Outside payments to our addresses (double-spend candidates). */
  readonly depositTxids: string[] = [];
  readonly sends = new Map<string, AcceptedSend>();
  readonly withdrawals = new Map<number, QueuedWithdrawal>();
  readonly withdrawalByAddress = new Map<string, QueuedWithdrawal>();
  /** Money given to the node wallet outside our addresses (settle phase). */
  fundedTotal = 0n;

  constructor(
    private readonly chain: MemoryChain,
    /** The node wallet's name on the chain. */
    private readonly walletName: string,
  ) {}

  /** Remember a transaction the run made. */
  noteTransaction(txid: string): void {
    if (this.known.has(txid)) return;
    this.known.add(txid);
    this.txids.push(txid);
  }

  noteDeposit(txid: string): void {
    this.noteTransaction(txid);
    this.depositTxids.push(txid);
  }

  noteFunding(txid: string, amount: bigint): void {
    this.noteTransaction(txid);
    this.fundedTotal += amount;
  }

  noteWithdrawal(withdrawal: QueuedWithdrawal): void {
    this.withdrawals.set(withdrawal.id, withdrawal);
    this.withdrawalByAddress.set(withdrawal.address, withdrawal);
  }

  /**
   * Record sends of the node wallet that entered the mempool since the last look (called right
   * after every `sendMany` reached the node, whatever its outcome). Returns the new ones.
   */
  registerNewSends(step: number): AcceptedSend[] {
    const found: AcceptedSend[] = [];
    for (const txid of this.chain.mempool) {
      if (this.known.has(txid)) continue;
      const info = this.chain.inspect(txid)!;
      if (info.sender !== this.walletName) continue;
      this.noteTransaction(txid);
      const match = info.comment === undefined ? null : COMMENT.exec(info.comment);
      const send: AcceptedSend = {
        txid,
        comment: info.comment ?? null,
        broadcastId: match ? Number(match[1]) : null,
        outputs: info.outputs.map(({ address, amount }) => ({ address, amount })),
        fee: info.fee,
        step,
      };
      this.sends.set(txid, send);
      found.push(send);
    }
    return found;
  }

  /** The accepted send carrying `comment`, if any (what an operator finds on the chain). */
  sendWithComment(comment: string): AcceptedSend | undefined {
    for (const send of this.sends.values()) if (send.comment === comment) return send;
    return undefined;
  }

  /** Every accepted send that paid `address`. */
  sendsPaying(address: string): AcceptedSend[] {
    return [...this.sends.values()].filter((send) => send.outputs.some((output) => output.address === address));
  }

  inspect(txid: string): ChainTransactionInfo {
    const info = this.chain.inspect(txid);
    if (!info) throw new Error(`the chain lost transaction ${txid}`);
    return info;
  }

  /**
   * Deposits the chain confirms now: per (txid, our address), the sum of the outputs paying it,
   * for every transaction on the active chain with at least `threshold` confirmations (a
   * conflicted transaction has none).
   */
  confirmedDeposits(threshold: number): Map<string, bigint> {
    const confirmed = new Map<string, bigint>();
    for (const txid of this.txids) {
      const info = this.inspect(txid);
      if (info.conflictedBy !== undefined || info.confirmations < threshold) continue;
      for (const output of info.outputs) {
        if (!this.ourAddresses.has(output.address)) continue;
        const key = depositKey(txid, output.address);
        confirmed.set(key, (confirmed.get(key) ?? 0n) + output.amount);
      }
    }
    return confirmed;
  }

  /** Outside payments to our addresses now in the mempool (what a double spend can take away). */
  unconfirmedDeposits(): string[] {
    return this.depositTxids.filter((txid) => {
      const info = this.inspect(txid);
      return info.inMempool && info.conflictedBy === undefined;
    });
  }

  /**
   * What the node wallet holds, counted as the chain counts it: receives to any of its addresses
   * (ours and fundings) at `minConfirmations`, minus its sends and fees, over transactions that
   * are not conflicted.
   */
  nodeBalance(minConfirmations: number): bigint {
    let total = 0n;
    for (const txid of this.txids) {
      const info = this.inspect(txid);
      if (info.conflictedBy !== undefined) continue;
      if (info.confirmations >= minConfirmations) {
        for (const output of info.outputs) {
          if (this.chain.addressOwner(output.address)?.wallet === this.walletName) total += output.amount;
        }
      }
      if (info.sender === this.walletName) {
        for (const output of info.outputs) total -= output.amount;
        total -= info.fee;
      }
    }
    return total;
  }

  /** Recent transactions, newest last: what wallet notifications are drawn from. */
  recent(count: number): string[] {
    return this.txids.slice(-count);
  }
}
