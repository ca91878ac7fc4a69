/**
 * `changesSince` on bitcoind, built on `listsinceblock`, whose cost follows the changes rather
 * than the wallet's size. `listsinceblock B` lists every wallet transaction shallower than B
 * (|confirmations| < tip + 1 − height of B: the blocks after B, the mempool, recent conflicts).
 * Given a block that left the best chain it answers from the fork point instead, and lists the
 * wallet's transactions of the disconnected blocks between the fork and B in `removed`.
 *
 * The block to list from:
 * - no cursor: the genesis block (`''`), i.e. the whole history;
 * - a cursor on the best chain: the best-chain block at min(cursor height, tip − depth), so
 *   that both what came after the cursor and the last `depth` blocks are listed;
 * - a cursor off the best chain: the cursor itself, which yields `removed`. Its fork point is
 *   below the cursor; when that may be shallower than tip − depth, a second `listsinceblock` from
 *   the block at tip − depth goes in the same batch to cover the depth window;
 * - a cursor the node does not know at all: the whole history (no fork point can be found).
 *
 * The listing runs between tip readings (`readAtTip`) and its `lastblock` must be that tip:
 * `lastblock` is the wallet's own last block, so this also proves the wallet's view is the tip's.
 */
import type { ChainChanges, ChainTip } from '../backend.js';
import { TXID_PATTERN } from '../backend.js';
import type { AmountRules } from '../../domain/amounts.js';
import { BackendError } from '../../domain/errors.js';
import { garbage, integer, readListEntry, type ReadContext, type WalletEntry } from './normalise.js';
import type { RpcRequest, RpcResult, RpcTransport } from './rpc-client.js';
import { RpcError } from './rpc-errors.js';
import { readAtTip } from './tip-reading.js';
import { type TransactionReader, unwrap } from './transactions.js';

const READ = { idempotent: true } as const;

/** A `listsinceblock` answer, its entries read but not yet grouped into transactions. */
export interface SinceBlockAnswer {
  readonly entries: readonly (WalletEntry & { readonly txid: string })[];
  /** Txids of `removed`, each once. */
  readonly removed: readonly string[];
  readonly lastBlock: string;
}

/** The `listsinceblock` request from `from` (`''`: the genesis block), watch-only included. */
export function sinceBlockRequest(from: string): RpcRequest {
  // include_removed is left at its default (true) so that nodes without that argument work too.
  return { method: 'listsinceblock', params: [from, 1, true] };
}

/** Read a `listsinceblock` answer. */
export function readSinceBlock(raw: unknown, rules: AmountRules, endpoint: string): SinceBlockAnswer {
  const context: ReadContext = { method: 'listsinceblock', endpoint };
  const answer = raw as { transactions?: unknown; removed?: unknown; lastblock?: unknown } | null;
  if (!answer || !Array.isArray(answer.transactions)) throw garbage(context, 'transactions is not an array');
  const lastBlock = answer.lastblock;
  if (typeof lastBlock !== 'string' || !TXID_PATTERN.test(lastBlock)) throw garbage(context, 'lastblock is missing');
  const entries = answer.transactions.map((entry) => readListEntry(entry, rules, context));
  const removed = Array.isArray(answer.removed) ? answer.removed.map((entry) => readListEntry(entry, rules, context).txid) : [];
  return { entries, removed: [...new Set(removed)], lastBlock };
}

/** Reads `changesSince` readings of one wallet; see the module comment. */
export class ChangeReader {
  private readonly rpc: RpcTransport;
  private readonly reader: TransactionReader;
  private readonly rules: AmountRules;

  constructor(rpc: RpcTransport, reader: TransactionReader, rules: AmountRules) {
    this.rpc = rpc;
    this.reader = reader;
    this.rules = rules;
  }

  /** See `CoinBackend.changesSince` and the module comment. */
  async changesSince(cursor: ChainTip | null, depth: number): Promise<ChainChanges> {
    checkArguments(cursor, depth);
    let froms = await this.startingBlocks(cursor, depth);
    let reading = await this.list(froms);
    const first = reading.answers[0]!;
    if (cursor !== null && froms[0] === cursor.hash && !first.ok && isRpcError(first.error, -5)) {
      // The node does not know the cursor's block (another node, a resynchronised one): nothing
      // tells where the chains parted, so everything is read again.
      froms = [''];
      reading = await this.list(froms);
    }
    const answers = reading.answers.map((answer) => readSinceBlock(unwrap(answer), this.rules, this.rpc.endpoint));
    return {
      tip: reading.tip,
      transactions: await this.reader.fromEntries(merge(answers)),
      removed: answers[0]!.removed,
    };
  }

  /** The blocks to list from; see the module comment. */
  private async startingBlocks(cursor: ChainTip | null, depth: number): Promise<string[]> {
    if (cursor === null) return [''];
    const [countAnswer, hashAnswer] = await this.rpc.batch(
      [
        { method: 'getblockcount', params: [] },
        { method: 'getblockhash', params: [cursor.height] },
      ],
      READ,
    );
    const count = integer(unwrap(countAnswer!), 'block count', { method: 'getblockcount', endpoint: this.rpc.endpoint });
    // -8 "Block height out of range": the best chain is now shorter than the cursor's height.
    if (!hashAnswer!.ok && !isRpcError(hashAnswer!.error, -8)) throw hashAnswer!.error;
    const onBestChain = hashAnswer!.ok && hashAnswer!.result === cursor.hash;
    const windowStart = count - depth;
    if (onBestChain) {
      const height = Math.min(cursor.height, windowStart);
      if (height < 0) return [''];
      return [height === cursor.height ? cursor.hash : await this.blockHash(height)];
    }
    // The fork point lies below the cursor, so listing from the cursor covers the window when
    // the block under the cursor is at or below its start.
    if (cursor.height - 1 <= windowStart) return [cursor.hash];
    return [cursor.hash, windowStart < 0 ? '' : await this.blockHash(windowStart)];
  }

  /** `listsinceblock` from each of `froms`, in one batch at one tip that is every `lastblock`. */
  private list(froms: readonly string[]): Promise<{ tip: ChainTip; answers: readonly RpcResult[] }> {
    return readAtTip(this.rpc, froms.map(sinceBlockRequest), {
      agrees: ({ tip, answers }) =>
        answers.every((answer) => !answer.ok || (answer.result as { lastblock?: unknown } | null)?.lastblock === tip.hash),
    });
  }

  /** Hash of the best-chain block at `height`. */
  private async blockHash(height: number): Promise<string> {
    let hash: unknown;
    try {
      hash = await this.rpc.call('getblockhash', [height], READ);
    } catch (error) {
      if (isRpcError(error, -8)) {
        // Out of range: the chain became shorter since it was counted.
        throw new BackendError(
          `bitcoind getblockhash at ${this.rpc.endpoint}: the best chain shrank below ${height} meanwhile; try again`,
          {
            retryable: true,
            code: 'tip_moving',
            cause: error,
          },
        );
      }
      throw error;
    }
    if (typeof hash !== 'string' || !TXID_PATTERN.test(hash))
      throw garbage({ method: 'getblockhash', endpoint: this.rpc.endpoint }, 'not a block hash');
    return hash;
  }
}

function checkArguments(cursor: ChainTip | null, depth: number): void {
  if (!Number.isSafeInteger(depth) || depth < 0) {
    throw new RangeError(`changesSince: depth must be a non-negative integer, got ${String(depth)}`);
  }
  if (cursor === null) return;
  if (typeof cursor !== 'object' || typeof cursor.hash !== 'string' || !TXID_PATTERN.test(cursor.hash)) {
    throw new RangeError('changesSince: the cursor hash must be 64 lowercase hexadecimal characters');
  }
  if (!Number.isSafeInteger(cursor.height) || cursor.height < 0) {
    throw new RangeError(`changesSince: the cursor height must be a non-negative integer, got ${String(cursor.height)}`);
  }
}

/**
 * The entries of several listings at one tip, each transaction's entries taken from one listing
 * only (the last that has it): grouping the same entries twice would double its outputs.
 */
function merge(answers: readonly SinceBlockAnswer[]): (WalletEntry & { readonly txid: string })[] {
  const merged: (WalletEntry & { readonly txid: string })[] = [];
  const taken = new Set<string>();
  for (let index = answers.length - 1; index >= 0; index--) {
    const listed = new Set<string>();
    for (const entry of answers[index]!.entries) {
      if (taken.has(entry.txid)) continue;
      listed.add(entry.txid);
      merged.push(entry);
    }
    for (const txid of listed) taken.add(txid);
  }
  return merged;
}

function isRpcError(error: unknown, rpcCode: number): boolean {
  return error instanceof RpcError && error.rpcCode === rpcCode;
}
