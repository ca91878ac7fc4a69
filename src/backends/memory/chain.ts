/**
 * `MemoryChain`: a deterministic simulated blockchain for tests and the demo. It holds blocks, a
 * mempool and any number of wallets (each one a `MemoryBackend`), plus an "outside world" with
 * unlimited money that pays any address. Tests drive it directly: pay, mine, reorg, double spend,
 * make the node fail.
 *
 * Everything is derived from a seed, so two chains given the same options and the same calls
 * produce the same addresses, txids and block hashes. The chain's own methods are synchronous;
 * backend calls only wait when a call hook (see `setCallHook`) makes them.
 */
import type { ChainTip } from '../backend.js';
import type { NetworkParams } from '../../domain/coins.js';
import { normalizeAddress } from './addresses.js';
import type { InjectedFailure, MemoryCallHook, MemoryMethod } from './faults.js';
import { MemoryBackend } from './memory-backend.js';
import { ChainState } from './state.js';

/** Options of `new MemoryChain`. */
export interface MemoryChainOptions {
  /** The network whose addresses the chain makes and accepts. */
  readonly network: NetworkParams;
  /** Fee of a wallet's transaction per output, in base units. Default 1000n. */
  readonly feePerOutput?: bigint;
  /** Fee of a wallet's transaction regardless of outputs, in base units. Default 1000n. */
  readonly feeBase?: bigint;
  /** Seed of every address, txid and block hash. Default `'cryptoassets-memory-chain'`. */
  readonly seed?: string;
  /**
   * The clock `sendMany` compares `notAfter` with, in milliseconds like `performance.now()`
   * (the default). A simulator passes its virtual time.
   */
  readonly now?: () => number;
  /**
   * Most transactions a `changesSince` answer may hold; larger answers throw `BackendError`
   * `answer_too_large`, like a node's answer over the backend's size cap. Default: no cap.
   */
  readonly answerCap?: number;
}

/** One output of an outside payment. */
export interface PaymentOutput {
  readonly address: string;
  readonly amount: bigint;
}

/** A read-only snapshot of a transaction as the chain (not a wallet) sees it. */
export interface ChainTransactionInfo {
  readonly txid: string;
  /** All outputs, including the outside payer's change. */
  readonly outputs: readonly { readonly address: string; readonly amount: bigint; readonly vout: number }[];
  /** Sending wallet, or null for the outside world. */
  readonly sender: string | null;
  readonly fee: bigint;
  readonly comment?: string;
  readonly confirmations: number;
  readonly blockHash?: string;
  readonly blockHeight?: number;
  readonly inMempool: boolean;
  /** The transaction that double-spent this one, if any. */
  readonly conflictedBy?: string;
  /** The transaction this one double-spent, for conflicts made by `doubleSpend`. */
  readonly replaces?: string;
}

/** Amount of the change output an outside payer adds to each payment (vout 0). */
const PAYER_CHANGE = 100_000n;

/** See the module comment. */
export class MemoryChain {
  /** The network of the chain's addresses. */
  readonly network: NetworkParams;
  private readonly state: ChainState;

  constructor(options: MemoryChainOptions) {
    const feeBase = options.feeBase ?? 1000n;
    const feePerOutput = options.feePerOutput ?? 1000n;
    if (typeof feeBase !== 'bigint' || typeof feePerOutput !== 'bigint' || feeBase < 0n || feePerOutput < 0n) {
      throw new RangeError('MemoryChain: feeBase and feePerOutput must be non-negative bigints');
    }
    if (feeBase + feePerOutput === 0n) {
      // CoinBackend promises a positive fee for every send.
      throw new RangeError('MemoryChain: feeBase + feePerOutput must be positive');
    }
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new TypeError('MemoryChain: now must be a function returning milliseconds');
    }
    this.network = options.network;
    this.state = new ChainState({
      network: options.network,
      feeBase,
      feePerOutput,
      seed: options.seed ?? 'cryptoassets-memory-chain',
      // Bound: performance.now throws when called with another `this`.
      now: options.now ?? (() => performance.now()),
      answerCap: checkAnswerCap(options.answerCap ?? null),
    });
  }

  /** Fee of every wallet transaction independent of its outputs. */
  get feeBase(): bigint {
    return this.state.feeBase;
  }

  /** Fee of every wallet transaction per output. */
  get feePerOutput(): bigint {
    return this.state.feePerOutput;
  }

  /** The fee `sendMany` charges for `outputs` outputs. */
  feeFor(outputs: number): bigint {
    return this.state.feeBase + this.state.feePerOutput * BigInt(outputs);
  }

  // --- wallets -----------------------------------------------------------------------------

  /** Add a wallet named `name` to the chain and return a backend for it. Names are unique. */
  createWallet(name: string): MemoryBackend {
    if (this.state.hasWallet(name)) {
      throw new Error(`memory chain already has a wallet ${JSON.stringify(name)}`);
    }
    this.state.addWallet(name);
    return new MemoryBackend(this.state, name);
  }

  /**
   * A new backend handle for an existing wallet, as after a restart: it sees everything the wallet
   * had, and is open even when earlier handles were closed.
   */
  openWallet(name: string): MemoryBackend {
    this.state.wallet(name);
    return new MemoryBackend(this.state, name);
  }

  /** The wallet an address belongs to and its label, or undefined for outside addresses. */
  addressOwner(address: string): { readonly wallet: string; readonly label: string } | undefined {
    const normalized = normalizeAddress(address, this.network);
    const record = normalized === null ? undefined : this.state.addressRecord(normalized);
    return record && { wallet: record.wallet, label: record.label };
  }

  /** A fresh valid address of the network that belongs to no wallet (somebody else's). */
  externalAddress(): string {
    return this.state.createExternalAddress();
  }

  // --- the outside world -------------------------------------------------------------------

  /** The outside world pays `amount` to `address` in a new mempool transaction. */
  pay(address: string, amount: bigint): string {
    return this.payMany([{ address, amount }]);
  }

  /**
   * The outside world pays all `outputs` in one new mempool transaction. Like a real payer it
   * adds its own change output first, so the requested outputs are vouts 1…n: code that assumes a
   * deposit is at vout 0 fails here as it would on a real chain.
   */
  payMany(outputs: readonly PaymentOutput[]): string {
    if (outputs.length === 0) throw new Error('payMany: no outputs');
    const checked = outputs.map((output, index) => {
      const address = normalizeAddress(output.address, this.network);
      if (address === null) {
        throw new Error(`payMany: output ${index} address ${JSON.stringify(output.address)} is not a valid ${this.network.name} address`);
      }
      if (typeof output.amount !== 'bigint' || output.amount <= 0n) {
        throw new Error(`payMany: output ${index} amount must be a positive bigint`);
      }
      return { address, amount: output.amount };
    });
    const change = { address: this.state.createExternalAddress(), amount: PAYER_CHANGE };
    return this.state.addTransaction({ outputs: [change, ...checked], sender: null, fee: 0n }).txid;
  }

  /**
   * Make `backend`'s wallet hold `amount` more, confirmed: pays a fresh address of the wallet
   * (label `'fund'`) and mines one block, which also confirms whatever else is in the mempool.
   * Bypasses injected failures. Returns the funding txid.
   */
  fund(backend: MemoryBackend, amount: bigint): string {
    const address = this.state.createAddress(backend.walletName, 'fund');
    const txid = this.pay(address, amount);
    this.mine(1);
    return txid;
  }

  // --- blocks ------------------------------------------------------------------------------

  /** Height of the best block; 0 for a chain with only its genesis block. */
  get height(): number {
    return this.state.height;
  }

  /** Hash of the best block. */
  get tipHash(): string {
    return this.state.tipHash;
  }

  /** The best block as a backend reports it (`chainTip()`), without going through a backend. */
  get tip(): ChainTip {
    return this.state.tip;
  }

  /** Txids waiting in the mempool, oldest first. */
  get mempool(): readonly string[] {
    return this.state.mempool;
  }

  /** Mine `blocks` blocks; the first takes the whole mempool. Returns the new block hashes. */
  mine(blocks = 1): string[] {
    if (!Number.isSafeInteger(blocks) || blocks < 0) throw new RangeError('mine: blocks must be a non-negative integer');
    const hashes: string[] = [];
    for (let i = 0; i < blocks; i++) {
      hashes.push(i === 0 ? this.state.mineMempool() : this.state.appendBlock([]));
    }
    return hashes;
  }

  /**
   * Mine `blocks` blocks that hold no transactions, as a miner that ignores the mempool: what
   * waits there keeps waiting. With `reorg`, this makes a reorganisation whose transactions are
   * not confirmed again at once. Returns the new block hashes.
   */
  mineEmpty(blocks = 1): string[] {
    if (!Number.isSafeInteger(blocks) || blocks < 0) throw new RangeError('mineEmpty: blocks must be a non-negative integer');
    const hashes: string[] = [];
    for (let i = 0; i < blocks; i++) hashes.push(this.state.appendBlock([]));
    return hashes;
  }

  /**
   * Disconnect the block `hash` and every block above it, like bitcoind's `invalidateblock`:
   * their transactions return to the mempool (0 confirmations) and the next `mine` confirms them
   * again in new blocks. Returns the txids sent back to the mempool.
   */
  invalidateBlock(hash: string): string[] {
    const block = this.state.block(hash);
    if (!block) throw new Error(`invalidateBlock: ${hash} is not a block of the active chain`);
    if (block.height === 0) throw new Error('invalidateBlock: the genesis block cannot be invalidated');
    return this.state.disconnectFrom(block.height);
  }

  /** Orphan the last `depth` blocks (see `invalidateBlock`). Returns the txids sent back to the mempool. */
  reorg(depth: number): string[] {
    if (!Number.isSafeInteger(depth) || depth < 1 || depth > this.height) {
      throw new RangeError(`reorg: depth must be between 1 and the height ${this.height}, got ${depth}`);
    }
    return this.state.disconnectFrom(this.height - depth + 1);
  }

  /**
   * Double-spend `txid`: a conflicting transaction paying an outside address replaces it. If
   * `txid` was mined the conflict takes its place in its block; if it was in the mempool the
   * conflict is mined alone in a new block (the height grows by one). The original then has
   * negative confirmations, -(depth of the conflict), as bitcoind reports, and no longer counts
   * in any balance; a double-spent send gives its sender the money back. Descendants are not
   * modelled (transactions have no inputs). Returns the conflicting txid.
   */
  doubleSpend(txid: string): string {
    const tx = this.state.transaction(txid.toLowerCase());
    if (!tx) throw new Error(`doubleSpend: unknown transaction ${txid}`);
    if (tx.conflictedBy !== null) throw new Error(`doubleSpend: ${txid} is already double-spent`);
    return this.state.replace(tx).txid;
  }

  /** The chain's view of a transaction (all outputs, mempool state), or undefined. */
  inspect(txid: string): ChainTransactionInfo | undefined {
    const tx = this.state.transaction(txid.toLowerCase());
    if (!tx) return undefined;
    const blockHeight = this.state.blockHeight(tx);
    return {
      txid: tx.txid,
      outputs: tx.outputs.map((output) => ({ ...output })),
      sender: tx.sender,
      fee: tx.fee,
      ...(tx.comment !== undefined ? { comment: tx.comment } : {}),
      confirmations: this.state.confirmations(tx),
      ...(tx.blockHash !== null && blockHeight !== undefined ? { blockHash: tx.blockHash, blockHeight } : {}),
      inMempool: this.state.mempool.includes(tx.txid),
      ...(tx.conflictedBy !== null ? { conflictedBy: tx.conflictedBy } : {}),
      ...(tx.replaces !== undefined ? { replaces: tx.replaces } : {}),
    };
  }

  // --- failures ----------------------------------------------------------------------------

  /**
   * Make the next call of `method` fail, on any wallet or only on `options.wallet`. Queued
   * failures fire in order, one per call. See `InjectedFailure` for what each kind does.
   */
  failNext(method: MemoryMethod, failure: InjectedFailure = 'down', options: { wallet?: string } = {}): void {
    this.state.faults.failNext(method, failure, options.wallet);
  }

  /** While true every wallet call fails as if the node were unreachable (retryable, no effect). */
  setDown(down: boolean): void {
    this.state.faults.setDown(down);
  }

  /** Injected failures that have not fired yet. */
  get pendingFailures(): number {
    return this.state.faults.pendingCount;
  }

  /**
   * Run `hook` around every call of every wallet's open backend (null removes it): awaited before
   * the call reaches the node, and again after the node's part is over (carried out, refused or
   * failed) but before the caller gets the answer. A hook that throws makes the call fail with
   * that error at that point: at `'before'` nothing was done; at `'after'` the call was carried
   * out (a `sendMany` was sent, its answer is lost). A hook that awaits a long promise models a
   * slow node or a paused process; `sendMany`'s deadline is checked after the `'before'` hook.
   * Each phase uses the hook set at that moment. Calls refused by a closed handle and malformed
   * `readTransactions` txids never reach the hook.
   */
  setCallHook(hook: MemoryCallHook | null): void {
    if (hook !== null && typeof hook !== 'function') throw new TypeError('setCallHook: hook must be a function or null');
    this.state.faults.callHook = hook;
  }

  /** Set or lift (null) the cap on `changesSince` answers; see `MemoryChainOptions.answerCap`. */
  setAnswerCap(cap: number | null): void {
    this.state.answerCap = checkAnswerCap(cap);
  }
}

function checkAnswerCap(cap: number | null): number | null {
  if (cap !== null && (!Number.isSafeInteger(cap) || cap < 0)) {
    throw new RangeError(`MemoryChain: answerCap must be a non-negative integer or null, got ${String(cap)}`);
  }
  return cap;
}
