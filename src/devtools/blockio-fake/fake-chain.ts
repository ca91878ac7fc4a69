/**
 * The chain behind the fake block.io: real transactions (built with @scure/btc-signer, so their
 * txids are the real ones), blocks with random hashes, and the test's controls over them (pay an
 * address from outside, mine, reorganise, drop a transaction).
 */
import { randomBytes } from 'node:crypto';
import { Address, OutScript, p2wpkh, Transaction } from '@scure/btc-signer';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { SignerNetwork } from '../../backends/blockio/network.js';

/** One output of a fake transaction. */
export interface FakeOutput {
  readonly address: string;
  readonly amount: bigint;
}

/** A transaction the fake chain knows. */
export interface FakeTx {
  readonly txid: string;
  /** The full transaction, hex (witnesses included where signed). */
  readonly hex: string;
  readonly inputs: readonly { readonly txid: string; readonly vout: number }[];
  readonly outputs: readonly FakeOutput[];
  /** Unix seconds of first sight. */
  readonly time: number;
  /** Order of first sight: the listing order of `get_transactions` (newest first). */
  readonly seq: number;
  blockHeight: number | undefined;
  /** Dropped from the chain and mempool for good (double spent). */
  dropped: boolean;
}

interface Block {
  readonly hash: string;
  readonly height: number;
  readonly txids: string[];
}

/** Transaction options for transactions the fake builds (unknown outputs allowed). */
export const TX_OPTIONS = { allowUnknownOutputs: true, allowUnknownInputs: true, disableScriptCheck: true } as const;

/** A small UTXO chain. */
export class FakeChain {
  readonly network: SignerNetwork;
  readonly #txs = new Map<string, FakeTx>();
  readonly #blocks: Block[] = [{ hash: randomHash(), height: 0, txids: [] }];
  #seq = 0;
  #clock = 1_700_000_000;
  readonly #watchers: (() => void)[] = [];

  constructor(network: SignerNetwork) {
    this.network = network;
  }

  /** Call `watcher` after every change: a transaction seen, blocks mined, a reorganisation, a drop. */
  onChange(watcher: () => void): void {
    this.#watchers.push(watcher);
  }

  #changed(): void {
    for (const watcher of this.#watchers) watcher();
  }

  get tip(): { hash: string; height: number } {
    const last = this.#blocks[this.#blocks.length - 1]!;
    return { hash: last.hash, height: last.height };
  }

  /** A live (not dropped) transaction. */
  get(txid: string): FakeTx | undefined {
    const tx = this.#txs.get(txid);
    return tx && !tx.dropped ? tx : undefined;
  }

  /** Every live transaction, newest first. */
  newestFirst(): FakeTx[] {
    return [...this.#txs.values()].filter((tx) => !tx.dropped).sort((a, b) => b.seq - a.seq);
  }

  confirmations(tx: FakeTx): number {
    return tx.blockHeight === undefined ? 0 : this.tip.height - tx.blockHeight + 1;
  }

  blockHash(height: number): string | undefined {
    return this.#blocks[height]?.hash;
  }

  /** Outputs of live transactions that no live transaction spends. */
  unspent(): { txid: string; vout: number; output: FakeOutput; confirmed: boolean }[] {
    const spent = new Set<string>();
    for (const tx of this.newestFirst()) for (const input of tx.inputs) spent.add(`${input.txid}:${input.vout}`);
    const result: { txid: string; vout: number; output: FakeOutput; confirmed: boolean }[] = [];
    for (const tx of this.newestFirst().reverse()) {
      tx.outputs.forEach((output, vout) => {
        if (!spent.has(`${tx.txid}:${vout}`)) result.push({ txid: tx.txid, vout, output, confirmed: tx.blockHeight !== undefined });
      });
    }
    return result;
  }

  /** Record a transaction (unconfirmed). */
  add(txid: string, hex: string, inputs: FakeTx['inputs'], outputs: readonly FakeOutput[]): FakeTx {
    const existing = this.#txs.get(txid);
    if (existing) return existing;
    const tx: FakeTx = { txid, hex, inputs, outputs, time: this.#clock++, seq: this.#seq++, blockHeight: undefined, dropped: false };
    this.#txs.set(txid, tx);
    this.#changed();
    return tx;
  }

  /** Somebody outside pays `outputs` in one real transaction (from an input of nobody we know). */
  pay(outputs: readonly FakeOutput[]): string {
    const tx = new Transaction(TX_OPTIONS);
    tx.addInput({ txid: randomBytes(32), index: 0 });
    for (const output of outputs) tx.addOutputAddress(output.address, output.amount, this.network);
    return this.add(tx.id, tx.hex, [], outputs).txid;
  }

  /** Mine `count` blocks; the first takes the whole mempool. */
  mine(count: number): void {
    for (let i = 0; i < count; i++) {
      const height = this.tip.height + 1;
      const txids = this.newestFirst()
        .filter((tx) => tx.blockHeight === undefined)
        .map((tx) => tx.txid);
      for (const txid of txids) this.#txs.get(txid)!.blockHeight = height;
      this.#blocks.push({ hash: randomHash(), height, txids });
    }
    this.#changed();
  }

  /** Disconnect the last `depth` blocks (their transactions return to the mempool) and mine `depth + 1` empty blocks. */
  reorg(depth: number): void {
    const removed = this.#blocks.splice(this.#blocks.length - depth, depth);
    for (const block of removed) for (const txid of block.txids) this.#txs.get(txid)!.blockHeight = undefined;
    for (let i = 0; i <= depth; i++) this.#blocks.push({ hash: randomHash(), height: this.tip.height + 1, txids: [] });
    this.#changed();
  }

  /**
   * A transaction loses to a double spend: it leaves its block (a reorganisation replaces that
   * block and every later one by as many new blocks) or the mempool, for good.
   */
  drop(txid: string): void {
    const tx = this.#txs.get(txid);
    if (!tx) throw new Error(`fake chain: no transaction ${txid}`);
    if (tx.blockHeight !== undefined) {
      const depth = this.tip.height - tx.blockHeight + 1;
      const removed = this.#blocks.splice(this.#blocks.length - depth, depth);
      for (const block of removed) for (const other of block.txids) this.#txs.get(other)!.blockHeight = undefined;
      tx.dropped = true;
      this.mine(depth);
      return;
    }
    tx.dropped = true;
    this.#changed();
  }
}

/** A fresh P2WPKH address of nobody we know. */
export function foreignAddress(network: SignerNetwork): string {
  return p2wpkh(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true), network).address!;
}

/** The address an output script pays, or undefined. */
export function scriptAddress(script: Uint8Array, network: SignerNetwork): string | undefined {
  try {
    return Address(network).encode(OutScript.decode(script));
  } catch {
    return undefined;
  }
}

function randomHash(): string {
  return bytesToHex(randomBytes(32));
}
