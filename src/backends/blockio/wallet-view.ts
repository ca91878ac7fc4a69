/**
 * The account as block.io's read API shows it, normalised to the backend interface.
 *
 * block.io has no wallet transaction call and no block API, so:
 * - A transaction is read with `get_raw_transaction` (its hex, confirmations, block hash and
 *   number) and decoded here: outputs to addresses of the account are `received`; when it spends
 *   outputs of the account it is our send, its `sent` outputs are every output except its change
 *   (to the account's `default` address, or back to an address it spends from: block.io returns
 *   change either way, see `isChangeOutput`), and its fee is inputs − outputs, the inputs' values
 *   read from their own raw transactions. Change is neither received nor sent: a customer whose
 *   deposit address our send spends from is never credited with its change.
 * - The chain tip is derived from the newest confirmed transaction of the account: height =
 *   its block number + its confirmations − 1. Its hash is not a block hash (the API offers none)
 *   but a digest of the network, the height and that transaction's block hash: it changes with
 *   every block and is the same for every reader. An account without a confirmed transaction
 *   reads height 0.
 */
import { Address, OutScript, Transaction } from '@scure/btc-signer';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import type { ChainTip, NetworkTransactionInfo, ReceivedOutput, SentOutput } from '../backend.js';
import { TXID_PATTERN } from '../backend.js';
import { parseAmount, type AmountRules } from '../../domain/amounts.js';
import { BackendError } from '../../domain/errors.js';
import { BlockioRefusal, type BlockioClient } from './client.js';
import type { SignerNetwork } from './network.js';
import { isChangeOutput } from './preparation.js';

/** A page entry of `get_transactions`. */
export interface ListedTx {
  readonly txid: string;
  readonly time: number;
  readonly confirmations: number;
}

interface RawAnswer {
  readonly txid?: unknown;
  readonly tx_hex?: unknown;
  readonly confirmations?: unknown;
  readonly blockhash?: unknown;
  readonly block_no?: unknown;
}

/** A decoded `get_raw_transaction`. */
interface RawTx {
  readonly txid: string;
  readonly confirmations: number;
  readonly blockHash?: string;
  readonly blockHeight?: number;
  readonly inputs: readonly { readonly txid: string; readonly vout: number }[];
  readonly outputs: readonly { readonly address: string | undefined; readonly amount: bigint }[];
}

/** Transactions with fewer confirmations are remembered in case they vanish (see `transaction`). */
const REMEMBER_BELOW = 100;

/** Foreign addresses remembered (see `WalletView.#foreign`), a few MB at most. */
const FOREIGN_REMEMBERED = 50_000;

/** The label of the address block.io returns change to. */
export const CHANGE_LABEL = 'default';

/** Reads of one account. */
export class WalletView {
  readonly #client: BlockioClient;
  readonly #network: SignerNetwork;
  readonly #networkName: string;
  readonly #rules: AmountRules;
  /** Address → label, of every address of the account seen so far. */
  readonly #labels = new Map<string, string>();
  /** Outputs of transactions our sends spent or will spend, by txid (they never change). */
  readonly #outputs = new Map<string, RawTx['outputs']>();
  /**
   * Addresses found not to be ours at the last reading of the address list. An address is ours
   * from its creation on, before any transaction can pay it, so once found foreign it stays so;
   * forgotten at a bound, which only costs a reading of the list.
   */
  readonly #foreign = new Set<string>();
  /** Transactions of the account read so far, to recognise one that later vanishes. */
  readonly #seen = new Map<string, NetworkTransactionInfo>();

  constructor(client: BlockioClient, network: SignerNetwork, networkName: string, rules: AmountRules) {
    this.#client = client;
    this.#network = network;
    this.#networkName = networkName;
    this.#rules = rules;
  }

  /** Remember an address of the account (one we just created). */
  remember(address: string, label: string): void {
    this.#labels.set(address, label);
  }

  isOurs(address: string): boolean {
    return this.#labels.has(address);
  }

  /** Whether `address` is where block.io returns change: the only output of ours a send may have unasked. */
  isChangeAddress(address: string): boolean {
    return this.#labels.get(address) === CHANGE_LABEL;
  }

  /** Read every address of the account (`get_my_addresses`, page by page). */
  async refreshAddresses(): Promise<void> {
    const read = new Set<string>();
    for (let page = 1; ; page++) {
      const data = await this.#client.call<{ network?: unknown; addresses?: unknown; has_more?: unknown }>('get_my_addresses', { page });
      this.checkNetwork(data.network, 'get_my_addresses');
      const list = Array.isArray(data.addresses) ? (data.addresses as { address?: unknown; label?: unknown }[]) : [];
      // Each page must bring addresses of its own, or the paging would go on for ever.
      if (page > 1 && list.length > 0 && list.every((entry) => typeof entry.address !== 'string' || read.has(entry.address)))
        throw garbage(`get_my_addresses page ${page} holds no address not on an earlier page`);
      for (const entry of list) {
        if (typeof entry.address !== 'string') continue;
        read.add(entry.address);
        this.#labels.set(entry.address, typeof entry.label === 'string' ? entry.label : '');
      }
      if (data.has_more !== true || list.length === 0) return;
    }
  }

  checkNetwork(network: unknown, method: string): void {
    if (network !== this.#networkName) {
      throw new BackendError(`block.io answered ${method} for network ${String(network)}, this coin is ${this.#networkName}`, {
        retryable: false,
        code: 'wrong_network',
      });
    }
  }

  amount(text: unknown, what: string): bigint {
    try {
      if (typeof text !== 'string') throw new Error('not text');
      return parseAmount(text, this.#rules, { allowZero: true });
    } catch {
      throw garbage(`${what} ${JSON.stringify(text)} is not an amount`);
    }
  }

  /** A page of `get_transactions` (newest first). */
  async listPage(type: 'received' | 'sent', beforeTx: string | undefined): Promise<ListedTx[]> {
    const data = await this.#client.call<{ network?: unknown; txs?: unknown }>('get_transactions', {
      type,
      ...(beforeTx === undefined ? {} : { before_tx: beforeTx }),
    });
    this.checkNetwork(data.network, 'get_transactions');
    if (!Array.isArray(data.txs)) throw garbage('get_transactions without txs');
    return (data.txs as { txid?: unknown; time?: unknown; confirmations?: unknown }[]).map((tx) => {
      if (typeof tx.txid !== 'string' || !TXID_PATTERN.test(tx.txid)) throw garbage('get_transactions: a txid is malformed');
      if (!Number.isSafeInteger(tx.confirmations) || !Number.isSafeInteger(tx.time))
        throw garbage(`get_transactions: ${tx.txid} without time or confirmations`);
      return { txid: tx.txid, time: tx.time as number, confirmations: tx.confirmations as number };
    });
  }

  /**
   * Page through `get_transactions` of `type`, newest first, until `enough` says a page is past
   * what is wanted (or the list ends).
   */
  async list(type: 'received' | 'sent', enough: (page: readonly ListedTx[]) => boolean = () => false): Promise<ListedTx[]> {
    const all: ListedTx[] = [];
    const read = new Set<string>();
    let before: string | undefined;
    for (;;) {
      const page = await this.listPage(type, before);
      // Pages before `before_tx` hold older transactions only, or the paging would go on for ever.
      if (page.some((tx) => read.has(tx.txid))) throw garbage(`get_transactions before ${before} repeats a transaction of an earlier page`);
      for (const tx of page) read.add(tx.txid);
      all.push(...page);
      if (page.length === 0 || enough(page)) return all;
      before = page[page.length - 1]!.txid;
    }
  }

  /** The tip as derived in the module comment. */
  async tip(): Promise<ChainTip> {
    for (const type of ['received', 'sent'] as const) {
      let before: string | undefined;
      for (;;) {
        const page = await this.listPage(type, before);
        const anchor = page.find((tx) => tx.confirmations > 0);
        if (anchor) {
          const raw = await this.#raw(anchor.txid);
          if (raw && raw.blockHeight !== undefined && raw.blockHash !== undefined && raw.confirmations > 0) {
            const height = raw.blockHeight + raw.confirmations - 1;
            return { height, hash: bytesToHex(sha256(utf8ToBytes(`block.io tip ${this.#networkName} ${height} ${raw.blockHash}`))) };
          }
        }
        if (page.length === 0 || anchor) break;
        before = page[page.length - 1]!.txid;
      }
    }
    return { height: 0, hash: bytesToHex(sha256(utf8ToBytes(`block.io tip ${this.#networkName} empty`))) };
  }

  /**
   * A transaction of the account, or undefined when block.io does not know it or it is not ours.
   * One that this process saw before and block.io no longer knows lost to a double spend (block.io
   * forgets such transactions): it is reported as the node reports a conflict, with negative
   * confirmations, so that the ledger reverses it. After a restart that memory is gone and the
   * transaction reads as unknown (the service logs tracked transactions the backend does not know).
   */
  async transaction(txid: string): Promise<NetworkTransactionInfo | undefined> {
    const raw = await this.#raw(txid);
    if (!raw) {
      const seen = this.#seen.get(txid);
      if (!seen) return undefined;
      const { blockHash: _hash, blockHeight: _height, ...rest } = seen;
      return { ...rest, confirmations: -1 };
    }
    const info = await this.#decode(raw);
    // Only shallow transactions can still vanish; forgetting deep ones bounds the memory.
    if (info && info.confirmations < REMEMBER_BELOW) this.#seen.set(txid, info);
    else this.#seen.delete(txid);
    return info;
  }

  async #decode(raw: RawTx): Promise<NetworkTransactionInfo | undefined> {
    const unknown = raw.outputs.flatMap((output) =>
      output.address !== undefined && !this.#labels.has(output.address) && !this.#foreign.has(output.address) ? [output.address] : [],
    );
    if (unknown.length > 0) {
      // An address created elsewhere (another process) since we last read the list?
      await this.refreshAddresses();
      if (this.#foreign.size + unknown.length > FOREIGN_REMEMBERED) this.#foreign.clear();
      for (const address of unknown) if (!this.#labels.has(address)) this.#foreign.add(address);
    }
    const spent = await this.#ourInputs(raw);
    const ourSend = spent !== undefined;
    // Change of our own send is neither received nor sent, as a node's wallet reports it.
    const isChange = (address: string | undefined): boolean =>
      spent !== undefined && address !== undefined && isChangeOutput(address, spent.addresses, (a) => this.isChangeAddress(a));
    const received: ReceivedOutput[] = [];
    const sent: SentOutput[] = [];
    raw.outputs.forEach((output, vout) => {
      if (output.address === undefined || isChange(output.address)) return;
      if (this.#labels.has(output.address)) received.push({ address: output.address, amount: output.amount, vout });
      if (ourSend) sent.push({ address: output.address, amount: output.amount, vout });
    });
    if (!ourSend && received.length === 0) return undefined;
    const fee = spent ? spent.sum - raw.outputs.reduce((sum, output) => sum + output.amount, 0n) : 0n;
    return {
      txid: raw.txid,
      confirmations: raw.confirmations,
      received,
      sent,
      fee,
      ...(raw.confirmations > 0 && raw.blockHash !== undefined ? { blockHash: raw.blockHash } : {}),
      ...(raw.confirmations > 0 && raw.blockHeight !== undefined ? { blockHeight: raw.blockHeight } : {}),
    };
  }

  /**
   * Output `vout` of transaction `txid`, read from its raw transaction (whose hash is checked to
   * be `txid`, so block.io cannot lie about it); undefined when block.io does not know it.
   */
  async previousOutput(txid: string, vout: number): Promise<RawTx['outputs'][number] | undefined> {
    let outputs = this.#outputs.get(txid);
    if (!outputs) {
      outputs = (await this.#raw(txid))?.outputs;
      if (!outputs) return undefined;
      // Only transactions paying us are worth remembering: our sends spend them again and again;
      // a payer's previous transactions would only fill the memory.
      if (outputs.some((output) => output.address !== undefined && this.#labels.has(output.address))) this.#outputs.set(txid, outputs);
    }
    return outputs[vout];
  }

  /**
   * The sum of the inputs and the addresses they spend from, when every input spends an output of
   * ours; undefined when none does.
   * The first input decides: a transaction spending outputs of the account is signed with its
   * user key, and neither block.io nor this backend signs one that also spends others' outputs,
   * so a payer's deposit costs one previous transaction, not one per input.
   */
  async #ourInputs(raw: RawTx): Promise<{ sum: bigint; addresses: ReadonlySet<string> } | undefined> {
    let sum = 0n;
    let ours = 0;
    const addresses = new Set<string>();
    for (const input of raw.inputs) {
      const output = await this.previousOutput(input.txid, input.vout);
      if (output?.address !== undefined && this.#labels.has(output.address)) {
        ours++;
        sum += output.amount;
        addresses.add(output.address);
      } else if (ours === 0) {
        return undefined;
      }
    }
    if (ours === 0) return undefined;
    if (ours !== raw.inputs.length)
      throw garbage(`${raw.txid} spends outputs of this account and of others; block.io never builds such a transaction`);
    return { sum, addresses };
  }

  async #raw(txid: string): Promise<RawTx | undefined> {
    let data: RawAnswer;
    try {
      data = await this.#client.call<RawAnswer>('get_raw_transaction', { txid });
    } catch (error) {
      if (error instanceof BlockioRefusal && /not found|no such|invalid|unknown/i.test(error.blockioMessage)) return undefined;
      throw error;
    }
    if (data.txid !== txid || typeof data.tx_hex !== 'string' || !Number.isSafeInteger(data.confirmations)) {
      throw garbage(`get_raw_transaction of ${txid} is not a transaction`);
    }
    let tx: Transaction;
    try {
      tx = Transaction.fromRaw(hexToBytes(data.tx_hex), { allowUnknownOutputs: true, allowUnknownInputs: true, disableScriptCheck: true });
    } catch {
      throw garbage(`get_raw_transaction of ${txid}: the hex does not decode`);
    }
    if (tx.id !== txid) throw garbage(`get_raw_transaction of ${txid} holds transaction ${tx.id}`);
    const outputs = Array.from({ length: tx.outputsLength }, (_, i) => {
      const output = tx.getOutput(i);
      let address: string | undefined;
      try {
        address = Address(this.#network).encode(OutScript.decode(output.script!));
      } catch {
        address = undefined;
      }
      return { address, amount: output.amount! };
    });
    const inputs = Array.from({ length: tx.inputsLength }, (_, i) => {
      const input = tx.getInput(i);
      return { txid: bytesToHex(input.txid!), vout: input.index! };
    });
    const confirmations = data.confirmations as number;
    return {
      txid,
      confirmations,
      ...(typeof data.blockhash === 'string' && TXID_PATTERN.test(data.blockhash) ? { blockHash: data.blockhash } : {}),
      ...(Number.isSafeInteger(data.block_no) ? { blockHeight: data.block_no as number } : {}),
      inputs,
      outputs,
    };
  }
}

/** An answer that does not say what the API documents. */
export function garbage(detail: string): BackendError {
  return new BackendError(`block.io answered something unreadable: ${detail}`, { retryable: true, code: 'garbage' });
}
