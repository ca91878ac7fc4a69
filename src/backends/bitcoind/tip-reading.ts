/**
 * Readings at one tip. bitcoind cannot return a block hash and wallet answers atomically, so the
 * calls of a reading go in one JSON-RPC batch between two readings of the best block:
 * `[getbestblockhash, getblockcount, …calls, getbestblockhash, getblockcount]`. The node runs a
 * batch's calls one after another; when the tip is the same before and after, every call in
 * between ran at that tip. That includes the wallet's view: wallet calls first wait until the
 * wallet has processed the chain up to the tip of the moment (`BlockUntilSyncedToCurrentChain`),
 * so their confirmation counts are the tip's. When the tip moved, the batch is read again.
 */
import type { ChainTip } from '../backend.js';
import { TXID_PATTERN } from '../backend.js';
import { BackendError } from '../../domain/errors.js';
import { garbage, integer } from './normalise.js';
import type { RpcRequest, RpcResult, RpcTransport } from './rpc-client.js';
import { unwrap } from './transactions.js';

const READ = { idempotent: true } as const;

/** Batches read before giving up on a tip that keeps moving. */
export const TIP_ATTEMPTS = 3;

/** The answers of a reading and the tip they were read at. */
export interface AtTip {
  readonly tip: ChainTip;
  /** The answers to the reading's calls, in order (the tip calls left out). */
  readonly answers: readonly RpcResult[];
}

/** What `readAtTip` may check beyond equal tips before and after. */
export interface AtTipOptions {
  /**
   * False when the answers contradict the tip (e.g. a `listsinceblock` whose `lastblock` is
   * another block): the batch then counts as one read while the tip moved.
   */
  readonly agrees?: (reading: AtTip) => boolean;
}

/**
 * Run `requests` in one batch sandwiched between tip readings; see the module comment.
 * @throws BackendError `tip_moving` (retryable) when the tip moved during each of
 *   `TIP_ATTEMPTS` batches; the error of a tip call, or of the batch as a whole.
 */
export async function readAtTip(rpc: RpcTransport, requests: readonly RpcRequest[], options: AtTipOptions = {}): Promise<AtTip> {
  const tipCalls: RpcRequest[] = [
    { method: 'getbestblockhash', params: [] },
    { method: 'getblockcount', params: [] },
  ];
  const seen: string[] = [];
  for (let attempt = 1; attempt <= TIP_ATTEMPTS; attempt++) {
    const results = await rpc.batch([...tipCalls, ...requests, ...tipCalls], READ);
    const before = readTip(rpc.endpoint, results[0]!, results[1]!);
    const after = readTip(rpc.endpoint, results[results.length - 2]!, results[results.length - 1]!);
    const reading = { tip: before, answers: results.slice(2, results.length - 2) };
    if (before.hash === after.hash && before.height === after.height && (options.agrees?.(reading) ?? true)) return reading;
    seen.push(`${before.height}/${after.height}`);
  }
  throw new BackendError(
    `bitcoind at ${rpc.endpoint}: the best block changed during each of ${TIP_ATTEMPTS} readings (heights ${seen.join(', ')}); try again`,
    { retryable: true, code: 'tip_moving' },
  );
}

/** A tip from the answers to `getbestblockhash` and `getblockcount`. */
function readTip(endpoint: string, hashAnswer: RpcResult, countAnswer: RpcResult): ChainTip {
  const hash = unwrap(hashAnswer);
  if (typeof hash !== 'string' || !TXID_PATTERN.test(hash)) throw garbage({ method: 'getbestblockhash', endpoint }, 'not a block hash');
  const height = integer(unwrap(countAnswer), 'block count', { method: 'getblockcount', endpoint });
  if (height < 0) throw garbage({ method: 'getblockcount', endpoint }, 'negative block count');
  return { hash, height };
}
