/**
 * Reading wallet transactions through RPC, with the look-ups that the plain answers need:
 * - nodes without `blockheight` in wallet answers (Dogecoin Core 1.14) get the height from
 *   `getblockheader`;
 * - a received transaction that lost to a double spend is reported by `gettransaction` with
 *   negative confirmations but WITHOUT its receive lines (the node hides receives below depth 0).
 *   Its outputs to our addresses are recovered from the raw transaction (`decoderawtransaction`,
 *   then `getaddressinfo`, or `validateaddress` on old nodes, for ownership; change outputs are
 *   left out), so the ledger still sees which deposit to reverse.
 */
import type { NetworkTransactionInfo } from '../backend.js';
import type { AmountRules } from '../../domain/amounts.js';
import type { NetworkParams } from '../../domain/coins.js';
import { NotFound } from '../../domain/errors.js';
import {
  amount,
  garbage,
  groupEntries,
  integer,
  readWalletTransaction,
  toNetworkTransaction,
  type ReadContext,
  type TransactionHeader,
  type WalletEntry,
  type WalletTransaction,
} from './normalise.js';
import type { RpcRequest, RpcResult, RpcTransport } from './rpc-client.js';
import { RpcError } from './rpc-errors.js';

const READ = { idempotent: true } as const;

/** Reads transactions of one wallet; see the module comment. */
export class TransactionReader {
  private readonly rpc: RpcTransport;
  private readonly rules: AmountRules;
  private readonly network: NetworkParams;

  constructor(rpc: RpcTransport, rules: AmountRules, network: NetworkParams) {
    this.rpc = rpc;
    this.rules = rules;
    this.network = network;
  }

  /**
   * The wallet's view of each txid (lowercase, validated by the caller), in the same order.
   * @throws NotFound when the wallet does not know one of them.
   */
  async describe(txids: readonly string[]): Promise<NetworkTransactionInfo[]> {
    if (txids.length === 0) return [];
    const answers = await this.rpc.batch(lookups(txids), READ);
    const { transactions, unknown } = await this.fromAnswers(txids, answers);
    if (unknown.length > 0) throw new NotFound('transaction', unknown[0]!);
    return transactions;
  }

  /**
   * The wallet's view of each txid from `gettransaction` answers to `lookups(txids)`, read
   * elsewhere (in a batch that also reads the tip). The follow-up look-ups this may make (block
   * heights, ownership of outputs) ask about things that do not change with the tip.
   * @returns the known transactions in the order of `txids`, and the txids the wallet does not know.
   */
  async fromAnswers(
    txids: readonly string[],
    answers: readonly RpcResult[],
  ): Promise<{ transactions: NetworkTransactionInfo[]; unknown: string[] }> {
    const context = this.context('gettransaction');
    const unknown: string[] = [];
    const transactions: WalletTransaction[] = [];
    answers.forEach((answer, index) => {
      const txid = txids[index]!;
      if (!answer.ok) {
        // -5 "Invalid or non-wallet transaction id": valid syntax, but not this wallet's.
        if (answer.error instanceof RpcError && answer.error.rpcCode === -5) {
          unknown.push(txid);
          return;
        }
        throw answer.error;
      }
      const tx = readWalletTransaction(answer.result, this.rules, context);
      if (tx.txid !== txid) throw garbage(context, `asked for ${txid}, got ${tx.txid}`);
      transactions.push(tx);
    });
    return { transactions: await this.normalise(transactions), unknown };
  }

  /** `NetworkTransactionInfo`s of `gettransaction` answers, with the look-ups they need. */
  private async normalise(transactions: readonly WalletTransaction[]): Promise<NetworkTransactionInfo[]> {
    const heights = await this.blockHeights(transactions);
    return Promise.all(
      transactions.map(async (tx) => {
        let entries: readonly WalletEntry[] = tx.details;
        if (tx.confirmations < 0 && tx.hex !== undefined) {
          entries = [...tx.details.filter((entry) => entry.category !== 'receive'), ...(await this.ownOutputs(tx.hex))];
        }
        return toNetworkTransaction(withHeight(tx, heights), entries, this.network);
      }),
    );
  }

  /** Transactions from list entries (`listsinceblock`), grouped by txid in order of appearance. */
  async fromEntries(entries: readonly (WalletEntry & { readonly txid: string })[]): Promise<NetworkTransactionInfo[]> {
    const groups = groupEntries(entries);
    const heights = await this.blockHeights(groups.map((group) => group.header));
    return groups.map((group) => toNetworkTransaction(withHeight(group.header, heights), group.entries, this.network));
  }

  /** Heights of the blocks that headers name without a height, by block hash. */
  private async blockHeights(headers: readonly TransactionHeader[]): Promise<Map<string, number>> {
    const missing = [
      ...new Set(
        headers
          .filter((header) => header.blockHash !== undefined && header.blockHeight === undefined && header.confirmations > 0)
          .map((header) => header.blockHash!),
      ),
    ];
    const heights = new Map<string, number>();
    if (missing.length === 0) return heights;
    const answers = await this.rpc.batch(
      missing.map((hash) => ({ method: 'getblockheader', params: [hash, true] })),
      READ,
    );
    const context = this.context('getblockheader');
    answers.forEach((answer, index) => {
      const header = unwrap(answer) as { height?: unknown } | null;
      heights.set(missing[index]!, integer(header?.height, 'height', context));
    });
    return heights;
  }

  /** Outputs of a raw transaction that pay this wallet's (non-change) addresses, as receive entries. */
  private async ownOutputs(hex: string): Promise<WalletEntry[]> {
    const context = this.context('decoderawtransaction');
    const decoded = (await this.rpc.call('decoderawtransaction', [hex], READ)) as { vout?: unknown } | null;
    if (!decoded || !Array.isArray(decoded.vout)) throw garbage(context, 'no vout array');
    const outputs = decoded.vout.map((raw: unknown) => {
      const output = raw as { n?: unknown; value?: unknown; scriptPubKey?: { address?: unknown; addresses?: unknown } };
      const script = output?.scriptPubKey;
      const addresses = typeof script?.address === 'string' ? [script.address] : Array.isArray(script?.addresses) ? script.addresses : [];
      return {
        vout: integer(output?.n, 'n', context),
        amount: amount(output?.value, 'value', this.rules, context),
        address: addresses.length === 1 && typeof addresses[0] === 'string' ? addresses[0] : undefined,
      };
    });
    const candidates = outputs.filter((output): output is typeof output & { address: string } => output.address !== undefined);
    if (candidates.length === 0) return [];
    const ask = (method: string): Promise<RpcResult[]> =>
      this.rpc.batch(
        candidates.map((output) => ({ method, params: [output.address] })),
        READ,
      );
    let infos = await ask('getaddressinfo');
    // Nodes older than Bitcoin Core 0.17 (Dogecoin Core 1.14) report ownership in validateaddress.
    if (infos.some((info) => !info.ok && info.error instanceof RpcError && info.error.rpcCode === -32601)) {
      infos = await ask('validateaddress');
    }
    const entries: WalletEntry[] = [];
    candidates.forEach((output, index) => {
      const info = unwrap(infos[index]!) as { ismine?: unknown; iswatchonly?: unknown; ischange?: unknown } | null;
      const ours = info?.ismine === true || info?.iswatchonly === true;
      if (ours && info?.ischange !== true) {
        entries.push({ category: 'receive', address: output.address, amount: output.amount, vout: output.vout });
      }
    });
    return entries;
  }

  private context(method: string): ReadContext {
    return { method, endpoint: this.rpc.endpoint };
  }
}

function withHeight(header: TransactionHeader, heights: ReadonlyMap<string, number>): TransactionHeader {
  if (header.blockHeight !== undefined || header.blockHash === undefined) return header;
  const blockHeight = heights.get(header.blockHash);
  return blockHeight === undefined ? header : { ...header, blockHeight };
}

/** The `gettransaction` requests whose answers `TransactionReader.fromAnswers` reads. */
export function lookups(txids: readonly string[]): RpcRequest[] {
  return txids.map((txid) => ({ method: 'gettransaction', params: [txid, true] }));
}

/** The result of a batch item, or its error thrown. */
export function unwrap(answer: RpcResult): unknown {
  if (!answer.ok) throw answer.error;
  return answer.result;
}
