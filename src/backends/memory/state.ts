/**
 * The shared state of one simulated chain: blocks, mempool, transactions, wallets and the
 * address book. `MemoryChain` (the test driver) and every `MemoryBackend` (a wallet's view) work
 * on the same `ChainState`; it is internal to this folder and not exported from the package.
 *
 * The model is deliberately coarse: transactions have outputs but no inputs, so there are no
 * UTXOs, no dust rules and no signatures. A wallet's money is the sum of what it received minus
 * what it sent and paid in fees, exactly how the ledger looks at it.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { ChainTip } from '../backend.js';
import type { NetworkParams } from '../../domain/coins.js';
import { encodeKeyHashAddress } from './addresses.js';
import { FaultInjector } from './faults.js';

/** One output of a simulated transaction. */
export interface ChainOutput {
  readonly address: string;
  readonly amount: bigint;
  readonly vout: number;
}

/** A simulated transaction. Mutable fields change with mining, reorgs and double spends. */
export interface ChainTransaction {
  readonly txid: string;
  readonly outputs: readonly ChainOutput[];
  /** The wallet that sent it, or null for the outside world. */
  readonly sender: string | null;
  /** Fee paid by `sender`; 0n for outside payments, whose fee no wallet of ours knows. */
  readonly fee: bigint;
  readonly comment?: string;
  /** The transaction this one double-spends, for conflicts made by `doubleSpend`. */
  readonly replaces?: string;
  /** Hash of the active-chain block holding it; null while in the mempool or conflicted. */
  blockHash: string | null;
  /** The transaction that replaced it in the best chain; it never confirms again. */
  conflictedBy: string | null;
}

/** A block the chain made; it may since have left the active chain (reorganisation). */
export interface ChainBlock {
  readonly hash: string;
  readonly height: number;
  /** Hash of the block below it; null for the genesis block. */
  readonly parent: string | null;
  /**
   * Txids in block order; `doubleSpend` may swap one for its conflict while the block is active.
   * A disconnected block keeps the txids it held when it was disconnected.
   */
  readonly txids: string[];
}

/** Where a block's branch meets the active chain; see `ChainState.forkPoint`. */
export interface ForkPoint {
  /** The highest block of the branch that is on the active chain (the block itself if active). */
  readonly fork: ChainBlock;
  /** The branch's blocks above `fork`, lowest first: those disconnected since the block was tip. */
  readonly disconnected: readonly ChainBlock[];
}

/** What the chain knows about one wallet. */
export interface WalletRecord {
  readonly name: string;
  /** Every transaction that sent from or paid to the wallet, in order of appearance. */
  readonly txids: string[];
  /** The subset that paid to the wallet: what `listReceived` pages through. Append-only. */
  readonly receivedTxids: string[];
}

/** An address created by a wallet, with the label it was created with. */
export interface AddressRecord {
  readonly wallet: string;
  readonly label: string;
}

export interface ChainStateOptions {
  readonly network: NetworkParams;
  readonly feeBase: bigint;
  readonly feePerOutput: bigint;
  readonly seed: string;
  /** The clock `sendMany` compares `notAfter` with. */
  readonly now: () => number;
  /** Most transactions a `changesSince` answer may hold; null for no cap. */
  readonly answerCap: number | null;
}

/** See the module comment. All methods are synchronous: the chain is a plain data structure. */
export class ChainState {
  readonly network: NetworkParams;
  readonly feeBase: bigint;
  readonly feePerOutput: bigint;
  readonly faults = new FaultInjector();
  /** The clock `sendMany` compares `notAfter` with (virtual time in simulations). */
  readonly now: () => number;
  /** Most transactions a `changesSince` answer may hold; null for no cap. */
  answerCap: number | null;

  private readonly seed: string;
  /** One counter per kind of identifier, so that ids do not shift when unrelated calls are added. */
  private readonly counters = { tx: 0, block: 0, address: 0 };
  /** The active chain; index = height, blocks[0] is an empty genesis block. */
  private readonly blocks: ChainBlock[] = [];
  private readonly blocksByHash = new Map<string, ChainBlock>();
  /**
   * Every block ever made, disconnected ones included, so that a cursor on a stale branch can be
   * followed down (by `parent`) to where it meets the active chain.
   */
  private readonly knownBlocks = new Map<string, ChainBlock>();
  private mempoolTxids: string[] = [];
  private readonly transactions = new Map<string, ChainTransaction>();
  private readonly addressBook = new Map<string, AddressRecord>();
  private readonly wallets = new Map<string, WalletRecord>();

  constructor(options: ChainStateOptions) {
    this.network = options.network;
    this.feeBase = options.feeBase;
    this.feePerOutput = options.feePerOutput;
    this.seed = options.seed;
    this.now = options.now;
    this.answerCap = options.answerCap;
    this.appendBlock([]);
  }

  // --- identifiers -------------------------------------------------------------------------

  /** A deterministic 32-byte id: same seed and same history give the same txids and hashes. */
  private nextId(kind: 'tx' | 'block' | 'address'): Uint8Array {
    const n = this.counters[kind]++;
    return sha256(utf8ToBytes(`${this.seed}/${kind}/${n}`));
  }

  private newAddress(): string {
    return encodeKeyHashAddress(this.nextId('address').subarray(0, 20), this.network);
  }

  // --- wallets and addresses ---------------------------------------------------------------

  hasWallet(name: string): boolean {
    return this.wallets.has(name);
  }

  addWallet(name: string): void {
    this.wallets.set(name, { name, txids: [], receivedTxids: [] });
  }

  wallet(name: string): WalletRecord {
    const record = this.wallets.get(name);
    if (!record) throw new Error(`memory chain has no wallet ${JSON.stringify(name)}`);
    return record;
  }

  /** A fresh address of `wallet`, remembered with its label. */
  createAddress(wallet: string, label: string): string {
    this.wallet(wallet);
    const address = this.newAddress();
    this.addressBook.set(address, { wallet, label });
    return address;
  }

  /** A fresh address that belongs to no wallet of this chain. */
  createExternalAddress(): string {
    return this.newAddress();
  }

  /** The wallet and label of a normalised address, or undefined for outside addresses. */
  addressRecord(address: string): AddressRecord | undefined {
    return this.addressBook.get(address);
  }

  // --- transactions ------------------------------------------------------------------------

  transaction(txid: string): ChainTransaction | undefined {
    return this.transactions.get(txid);
  }

  /**
   * Record a new transaction and put it in the mempool (unless `toMempool` is false: conflicts
   * go straight into a block). `outputs` must hold normalised addresses; vouts are their indexes.
   */
  addTransaction(
    spec: {
      outputs: readonly { address: string; amount: bigint }[];
      sender: string | null;
      fee: bigint;
      comment?: string;
      replaces?: string;
    },
    toMempool = true,
  ): ChainTransaction {
    const txid = bytesToHex(this.nextId('tx'));
    const tx: ChainTransaction = {
      txid,
      outputs: spec.outputs.map((output, vout) => ({ address: output.address, amount: output.amount, vout })),
      sender: spec.sender,
      fee: spec.fee,
      ...(spec.comment !== undefined ? { comment: spec.comment } : {}),
      ...(spec.replaces !== undefined ? { replaces: spec.replaces } : {}),
      blockHash: null,
      conflictedBy: null,
    };
    this.transactions.set(txid, tx);
    if (toMempool) this.mempoolTxids.push(txid);

    // Index the transaction under each wallet it touches, once, so wallet views and paging never
    // have to scan the whole chain and keep the order in which the wallet first saw it.
    const touched = new Set<string>();
    const receiving = new Set<string>();
    if (spec.sender !== null) touched.add(spec.sender);
    for (const output of tx.outputs) {
      const owner = this.addressBook.get(output.address)?.wallet;
      if (owner !== undefined) {
        touched.add(owner);
        receiving.add(owner);
      }
    }
    for (const name of touched) {
      const record = this.wallet(name);
      record.txids.push(txid);
      if (receiving.has(name)) record.receivedTxids.push(txid);
    }
    return tx;
  }

  /**
   * Confirmations as bitcoind counts them: depth in the active chain, 0 in the mempool, and for a
   * conflicted transaction minus the depth of the transaction that replaced it (0 while that one
   * is itself unconfirmed).
   */
  confirmations(tx: ChainTransaction): number {
    if (tx.conflictedBy !== null) {
      const conflict = this.transactions.get(tx.conflictedBy);
      const depth = conflict ? this.depth(conflict) : 0;
      return depth === 0 ? 0 : -depth;
    }
    return this.depth(tx);
  }

  private depth(tx: ChainTransaction): number {
    const height = this.blockHeight(tx);
    return height === undefined ? 0 : this.height - height + 1;
  }

  /** True when `tx` sent from or paid to `wallet`: the transactions a wallet sees. */
  concernsWallet(tx: ChainTransaction, wallet: string): boolean {
    return tx.sender === wallet || tx.outputs.some((output) => this.addressBook.get(output.address)?.wallet === wallet);
  }

  blockHeight(tx: ChainTransaction): number | undefined {
    return tx.blockHash === null ? undefined : this.blocksByHash.get(tx.blockHash)?.height;
  }

  /**
   * The wallet's balance: received minus sent minus fees over transactions that are not
   * conflicted. Receives count from `minConfirmations`; sends and fees count at once, as a
   * wallet's own spends do.
   */
  balance(wallet: string, minConfirmations: number): bigint {
    let total = 0n;
    for (const txid of this.wallet(wallet).txids) {
      const tx = this.transactions.get(txid);
      if (!tx || tx.conflictedBy !== null) continue;
      if (this.confirmations(tx) >= minConfirmations) {
        for (const output of tx.outputs) {
          if (this.addressBook.get(output.address)?.wallet === wallet) total += output.amount;
        }
      }
      if (tx.sender === wallet) {
        for (const output of tx.outputs) total -= output.amount;
        total -= tx.fee;
      }
    }
    return total;
  }

  // --- blocks ------------------------------------------------------------------------------

  /** Height of the tip; 0 when only the genesis block exists. */
  get height(): number {
    return this.blocks.length - 1;
  }

  get tipHash(): string {
    const tip = this.blocks[this.blocks.length - 1];
    if (!tip) throw new Error('memory chain has no genesis block');
    return tip.hash;
  }

  /** The best block, as a reading's tip. */
  get tip(): ChainTip {
    return { hash: this.tipHash, height: this.height };
  }

  get mempool(): readonly string[] {
    return [...this.mempoolTxids];
  }

  /** The active-chain block `hash`, or undefined (unknown or disconnected). */
  block(hash: string): ChainBlock | undefined {
    return this.blocksByHash.get(hash);
  }

  /** Any block the chain ever made, active or disconnected, or undefined. */
  knownBlock(hash: string): ChainBlock | undefined {
    return this.knownBlocks.get(hash);
  }

  /**
   * Follow `block`'s branch down to the active chain, as bitcoind's listsinceblock does for a
   * cursor that a reorganisation left behind. Ends at genesis at the latest, which is never
   * disconnected. Costs one step per disconnected block.
   */
  forkPoint(block: ChainBlock): ForkPoint {
    const disconnected: ChainBlock[] = [];
    let current = block;
    while (this.blocksByHash.get(current.hash) !== current) {
      disconnected.push(current);
      const parent = current.parent === null ? undefined : this.knownBlocks.get(current.parent);
      if (!parent) throw new Error(`memory chain lost the parent of block ${current.hash}`);
      current = parent;
    }
    return { fork: current, disconnected: disconnected.reverse() };
  }

  /** Mine one block holding `txids` (which must be mempool transactions), return its hash. */
  appendBlock(txids: readonly string[]): string {
    const hash = bytesToHex(this.nextId('block'));
    const parent = this.blocks[this.blocks.length - 1]?.hash ?? null;
    const block: ChainBlock = { hash, height: this.blocks.length, parent, txids: [...txids] };
    this.blocks.push(block);
    this.blocksByHash.set(hash, block);
    this.knownBlocks.set(hash, block);
    const mined = new Set(txids);
    this.mempoolTxids = this.mempoolTxids.filter((txid) => !mined.has(txid));
    for (const txid of txids) {
      const tx = this.transactions.get(txid);
      if (tx) tx.blockHash = hash;
    }
    return hash;
  }

  /** Mine the whole mempool into one block. */
  mineMempool(): string {
    return this.appendBlock(this.mempoolTxids);
  }

  /**
   * Disconnect the blocks from `height` to the tip. Their transactions go back to the mempool
   * ahead of what was already there (they are older), in block order. Returns those txids.
   */
  disconnectFrom(height: number): string[] {
    const removed = this.blocks.splice(height);
    const returned: string[] = [];
    for (const block of removed) {
      this.blocksByHash.delete(block.hash);
      for (const txid of block.txids) {
        const tx = this.transactions.get(txid);
        if (tx) tx.blockHash = null;
        returned.push(txid);
      }
    }
    this.mempoolTxids = [...returned, ...this.mempoolTxids];
    return returned;
  }

  /**
   * Replace `tx` by a conflicting transaction paying an outside address. The conflict takes the
   * original's place in its block, or, for a mempool transaction, is mined alone in a new block;
   * either way the original ends up with negative confirmations at once.
   */
  replace(tx: ChainTransaction): ChainTransaction {
    const total = tx.outputs.reduce((sum, output) => sum + output.amount, 0n);
    const conflict = this.addTransaction(
      { outputs: [{ address: this.createExternalAddress(), amount: total }], sender: null, fee: 0n, replaces: tx.txid },
      false,
    );
    tx.conflictedBy = conflict.txid;
    const block = tx.blockHash === null ? undefined : this.blocksByHash.get(tx.blockHash);
    if (block) {
      block.txids[block.txids.indexOf(tx.txid)] = conflict.txid;
      conflict.blockHash = block.hash;
    } else {
      this.mempoolTxids = this.mempoolTxids.filter((txid) => txid !== tx.txid);
      this.mempoolTxids.push(conflict.txid);
      this.appendBlock([conflict.txid]);
    }
    tx.blockHash = null;
    return conflict;
  }
}
