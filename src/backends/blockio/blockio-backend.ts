/**
 * `CoinBackend` on block.io's API v2, for users who do not run a node.
 *
 * Withdrawals are prepared by block.io and signed here: `prepare_transaction` (one request per
 * batch) → the preparation is checked against the request (see `preparation.ts`) → the user key
 * is decrypted with the PIN and signs each input → `submit_transaction` (one request, never
 * repeated). The inputs are witness inputs, so the txid is known before the submit; when the
 * submit's answer is lost, that txid is looked up instead of submitting again.
 *
 * Readings: block.io has no `listsinceblock` and no block API; see `wallet-view.ts` for the tip
 * and the transactions, and `changesSince` for the paging rule. Reorganisations are visible
 * only as confirmations falling back (`removed` is always empty).
 */
import { performance } from 'node:perf_hooks';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type {
  ChainChanges,
  ChainTip,
  CoinBackend,
  NetworkTransactionInfo,
  ReceivedPage,
  SendOptions,
  SendOutputRequest,
  SendResult,
  TransactionsReading,
} from '../backend.js';
import { DEADLINE_PASSED, OUTCOME_UNKNOWN, TXID_PATTERN } from '../backend.js';
import { validateAddress } from '../../domain/address.js';
import { checkAmount, formatAmount, type AmountRules } from '../../domain/amounts.js';
import type { CoinDefinition, NetworkParams } from '../../domain/coins.js';
import { BackendError, InvalidTxid, NotFound } from '../../domain/errors.js';
import type { BlockioBackendConfig } from '../../config/types.js';
import { BlockioClient, BlockioRefusal, type BlockioRetryPolicy } from './client.js';
import { blockioNetworkName, signerNetwork, type SignerNetwork } from './network.js';
import { blockioNotificationApi, type BlockioNotificationApi } from './notification-api.js';
import { checkInputValues, checkPreparation, signPreparation, type Preparation } from './preparation.js';
import { decryptUserKey } from './user-key.js';
import { CHANGE_LABEL, garbage, WalletView, type ListedTx } from './wallet-view.js';

/** Options of `new BlockioBackend`. */
export interface BlockioBackendOptions {
  readonly config: BlockioBackendConfig;
  readonly coin: CoinDefinition;
  readonly network: NetworkParams;
  /** Throttling back-off (tests shorten it). */
  readonly retry?: BlockioRetryPolicy;
}

/**
 * Confirmations beyond a reading's window that `changesSince` still reads before it stops
 * paging. `get_transactions` lists by first sight, not by block: a transaction seen before
 * another may be confirmed after it, by a few blocks at most in practice.
 */
export const LISTING_OVERLAP = 6;

/** Readings retried before giving up on a tip that keeps moving. */
const TIP_ATTEMPTS = 3;

/** block.io's documented limit of destinations per withdrawal. */
const MAX_DESTINATIONS = 2500;

export class BlockioBackend implements CoinBackend {
  readonly kind = 'blockio';
  readonly #client: BlockioClient;
  readonly #view: WalletView;
  readonly #config: BlockioBackendConfig;
  readonly #coin: CoinDefinition;
  readonly #network: NetworkParams;
  readonly #signer: SignerNetwork;
  readonly #networkName: string;
  readonly #rules: AmountRules;
  /**
   * Our sends by `sendMany` comment, known before each submit (this process only): the txid, and
   * the fee `sendMany` books (network fee + block.io's fee), which a raw transaction cannot tell.
   */
  readonly #sentByComment = new Map<string, { readonly txid: string; readonly fee: bigint }>();
  #addressesRead = false;
  #sendQueue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: BlockioBackendOptions) {
    this.#config = options.config;
    this.#coin = options.coin;
    this.#network = options.network;
    this.#signer = signerNetwork(options.network);
    this.#networkName = blockioNetworkName(options.coin, options.network);
    this.#rules = { decimals: options.coin.decimals, maxMoney: options.coin.maxMoney };
    this.#client = new BlockioClient({
      apiUrl: options.config.apiUrl,
      apiKey: options.config.apiKey,
      ...(options.config.pin === undefined ? {} : { secrets: [options.config.pin] }),
      timeoutMs: options.config.timeoutMs,
      ...(options.retry === undefined ? {} : { retry: options.retry }),
    });
    this.#view = new WalletView(this.#client, this.#signer, this.#networkName, this.#rules);
  }

  /**
   * block.io's notification API for this account's key: how `walletnotify: blockio-webhook` with
   * `manage: true` creates its notification at start and deletes it at stop.
   */
  notificationApi(): BlockioNotificationApi {
    return blockioNotificationApi(this.#client, this.#view);
  }

  /**
   * A new address of the account with `label`. block.io's labels are unique per account and
   * limited to letters, digits and `_-.@`; a label outside that (or `default`, block.io's own
   * address) is replaced by a digest of it.
   * When block.io already has the label (our earlier call succeeded but its answer was lost),
   * that address is returned: the same label is the same request.
   */
  async createAddress(label: string): Promise<string> {
    this.#ensureOpen();
    // `default` is block.io's own address, where change goes: never hand it out for deposits.
    const usable = /^[A-Za-z0-9_.@-]{1,64}$/.test(label) && label.toLowerCase() !== CHANGE_LABEL;
    const blockioLabel = usable ? label : `x-${bytesToHex(sha256(utf8ToBytes(label))).slice(0, 32)}`;
    let address: unknown;
    try {
      const data = await this.#client.call<{ network?: unknown; address?: unknown }>('get_new_address', { label: blockioLabel });
      this.#view.checkNetwork(data.network, 'get_new_address');
      address = data.address;
    } catch (error) {
      if (!(error instanceof BlockioRefusal && /already exists/i.test(error.blockioMessage))) throw error;
      const data = await this.#client.call<{ balances?: { address?: unknown; label?: unknown }[] }>('get_address_balance', {
        labels: blockioLabel,
      });
      address = data.balances?.find((entry) => entry.label === blockioLabel)?.address;
    }
    if (typeof address !== 'string' || !validateAddress(address, this.#network).ok)
      throw garbage(`get_new_address gave ${JSON.stringify(address)}`);
    this.#view.remember(address, blockioLabel);
    return address;
  }

  async sendMany(outputs: readonly SendOutputRequest[], options: SendOptions): Promise<SendResult> {
    this.#ensureOpen();
    const notAfter = options?.notAfter;
    if (notAfter !== undefined && typeof notAfter !== 'number') throw new TypeError('sendMany: notAfter must be a performance.now() time');
    this.#checkOutputs(outputs);
    const run = this.#sendQueue.then(() => this.#sendNow(outputs, options.comment, notAfter));
    this.#sendQueue = run.catch(() => undefined);
    return run;
  }

  async #sendNow(outputs: readonly SendOutputRequest[], comment: string, notAfter: number | undefined): Promise<SendResult> {
    const pin = this.#config.pin;
    if (pin === undefined) {
      throw new BackendError('block.io withdrawals need the secret PIN (backend.pin: ${VAR}); none is configured', {
        retryable: true,
        code: 'wrong_pin',
      });
    }
    if (notAfter !== undefined && performance.now() > notAfter) throw deadlinePassed();
    const preparation = await this.#client.call<Preparation>('prepare_transaction', {
      to_addresses: outputs.map((output) => output.address).join(','),
      amounts: outputs.map((output) => formatAmount(output.amount, this.#rules)).join(','),
      priority: 'low',
    });
    if (!this.#addressesRead) await this.#readAddresses();
    // Change and block.io's fee are checked against our addresses: read them again when one is
    // unknown, so that a deposit address created by another process is recognised as ours.
    const unasked = preparation.outputs?.filter((o) => o.output_category !== 'user-specified') ?? [];
    if (unasked.some((o) => !this.#view.isOurs(o.receiving_address))) await this.#view.refreshAddresses();
    const checked = checkPreparation(preparation, {
      requested: outputs,
      network: this.#signer,
      networkName: this.#networkName,
      rules: this.#rules,
      isOurs: (address) => this.#view.isOurs(address),
      isChangeAddress: (address) => this.#view.isChangeAddress(address),
      maxFee: this.#config.maxFee,
    });
    const previous = [];
    for (const input of preparation.inputs)
      previous.push(await this.#view.previousOutput(input.previous_txid, input.previous_output_index));
    checkInputValues(checked, preparation, previous);
    const userKey = decryptUserKey(preparation.user_key, pin);
    const submission = signPreparation(checked, userKey, preparation.user_key.public_key);
    userKey.fill(0);
    const fee = checked.networkFee + checked.blockioFee;
    this.#sentByComment.set(comment, { txid: checked.txid, fee });
    let answer: { network?: unknown; txid?: unknown };
    try {
      answer = await this.#client.call('submit_transaction', { transaction_data: submission }, { idempotent: false, notAfter });
    } catch (error) {
      if (error instanceof BackendError && error.code === OUTCOME_UNKNOWN) return this.#reconcile(checked.txid, fee, error);
      if (error instanceof BlockioRefusal) return this.#checkRefusedSubmit(checked.txid, fee, comment, error);
      this.#sentByComment.delete(comment);
      throw error;
    }
    if (answer.txid !== checked.txid) {
      throw new BackendError(`block.io submitted ${String(answer.txid)}, the signed transaction is ${checked.txid}`, {
        retryable: false,
        code: OUTCOME_UNKNOWN,
      });
    }
    return { txid: checked.txid, fee };
  }

  /**
   * A submit block.io refused. The refusal is believed (nothing sent, the batch may go again) only
   * when block.io does not have the transaction: a service error after relaying it, or a forged
   * answer, would otherwise make the ledger send the batch twice.
   */
  async #checkRefusedSubmit(txid: string, fee: bigint, comment: string, refusal: BlockioRefusal): Promise<SendResult> {
    let found: NetworkTransactionInfo | undefined;
    try {
      found = await this.#view.transaction(txid);
    } catch (error) {
      throw new BackendError(`${refusal.message}; whether block.io has ${txid} anyway could not be read, so it is not submitted again`, {
        retryable: false,
        code: OUTCOME_UNKNOWN,
        cause: error,
      });
    }
    if (found) return { txid, fee };
    this.#sentByComment.delete(comment);
    throw refusal;
  }

  /** A submit whose answer was lost: block.io has the transaction, or the outcome stays unknown. */
  async #reconcile(txid: string, fee: bigint, cause: BackendError): Promise<SendResult> {
    const found = await this.#view.transaction(txid).catch(() => undefined);
    if (found) return { txid, fee };
    throw new BackendError(`${cause.message}; ${txid} is not known to block.io yet, so it is not submitted again`, {
      retryable: false,
      code: OUTCOME_UNKNOWN,
      cause,
    });
  }

  async getTransaction(txid: string): Promise<NetworkTransactionInfo> {
    this.#ensureOpen();
    checkTxid(txid);
    await this.#readAddressesOnce();
    const info = await this.#view.transaction(txid);
    if (!info) throw new NotFound('transaction', txid);
    return info;
  }

  async readTransactions(txids: readonly string[]): Promise<TransactionsReading> {
    this.#ensureOpen();
    for (const txid of txids) checkTxid(txid);
    await this.#readAddressesOnce();
    return this.#atTip(async () => {
      const transactions: NetworkTransactionInfo[] = [];
      const unknown: string[] = [];
      for (const txid of txids) {
        const info = await this.#view.transaction(txid);
        if (info) transactions.push(info);
        else unknown.push(txid);
      }
      return { transactions, unknown };
    });
  }

  /**
   * Pages of received transactions, oldest first. block.io lists newest first with `before_tx`
   * paging, so each page reads the whole received list and the cursor is the txid of the last
   * transaction returned: transactions arriving meanwhile are newer and come after it.
   */
  async listReceived(next: string | null, pageSize: number): Promise<ReceivedPage> {
    this.#ensureOpen();
    if (next !== null && !TXID_PATTERN.test(next))
      throw new BackendError('listReceived: malformed cursor', { retryable: false, code: 'invalid_cursor' });
    await this.#readAddressesOnce();
    const reading = await this.#atTip(async () => {
      const oldestFirst = (await this.#view.list('received')).reverse();
      const start = next === null ? 0 : oldestFirst.findIndex((tx) => tx.txid === next) + 1;
      if (start === 0 && next !== null)
        throw new BackendError(`listReceived: cursor ${next} is not in the list`, { retryable: false, code: 'invalid_cursor' });
      const chosen = oldestFirst.slice(start, start + pageSize);
      const transactions = await this.#infos(chosen);
      const more = start + pageSize < oldestFirst.length;
      return { transactions, next: more ? chosen[chosen.length - 1]!.txid : null };
    });
    return reading;
  }

  async getBalance(minConfirmations: number): Promise<bigint> {
    this.#ensureOpen();
    const data = await this.#client.call<{ network?: unknown; available_balance?: unknown; pending_received_balance?: unknown }>(
      'get_balance',
    );
    this.#view.checkNetwork(data.network, 'get_balance');
    const available = this.#view.amount(data.available_balance, 'available_balance');
    const pending = this.#view.amount(data.pending_received_balance, 'pending_received_balance');
    // block.io counts only two states: confirmed (plus our own change) and pending receipts.
    return minConfirmations <= 0 ? available + pending : available;
  }

  async chainTip(): Promise<ChainTip> {
    this.#ensureOpen();
    return this.#view.tip();
  }

  /**
   * What may have changed since `cursor`: both lists (received and sent), newest first, page by
   * page, keeping each transaction with at most `window` confirmations (window = blocks since
   * the cursor + `depth`; everything when the cursor is null), and stopping once a whole page is
   * beyond `window + LISTING_OVERLAP`.
   */
  async changesSince(cursor: ChainTip | null, depth: number): Promise<ChainChanges> {
    this.#ensureOpen();
    await this.#readAddressesOnce();
    return this.#atTip(async (tip) => {
      const window = cursor === null ? Infinity : Math.max(0, tip.height - cursor.height) + depth;
      const beyond = (page: readonly ListedTx[]): boolean => page.every((tx) => tx.confirmations > window + LISTING_OVERLAP);
      const listed = [...(await this.#view.list('received', beyond)), ...(await this.#view.list('sent', beyond))];
      const seen = new Set<string>();
      const chosen = listed.filter((tx) => tx.confirmations <= window && !seen.has(tx.txid) && seen.add(tx.txid));
      return { transactions: await this.#infos(chosen), removed: [] };
    });
  }

  async findByComment(comment: string): Promise<NetworkTransactionInfo | undefined> {
    this.#ensureOpen();
    const sent = this.#sentByComment.get(comment);
    if (sent === undefined) return undefined;
    await this.#readAddressesOnce();
    const info = await this.#view.transaction(sent.txid);
    // The reconciler books this fee: the same as `sendMany` would have, block.io's fee included.
    return info && { ...info, fee: sent.fee };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#sendQueue;
  }

  async #infos(listed: readonly ListedTx[]): Promise<NetworkTransactionInfo[]> {
    const result: NetworkTransactionInfo[] = [];
    for (const tx of listed) {
      const info = await this.#view.transaction(tx.txid);
      if (info) result.push(info);
    }
    return result;
  }

  /** Run `read` between two tip readings, again while they differ. */
  async #atTip<T extends object>(read: (tip: ChainTip) => Promise<T>): Promise<T & { tip: ChainTip }> {
    for (let attempt = 1; attempt <= TIP_ATTEMPTS; attempt++) {
      const before = await this.#view.tip();
      const result = await read(before);
      const after = await this.#view.tip();
      if (before.hash === after.hash && before.height === after.height) return { ...result, tip: before };
    }
    throw new BackendError(`block.io: the chain moved during each of ${TIP_ATTEMPTS} readings; try again`, {
      retryable: true,
      code: 'tip_moving',
    });
  }

  async #readAddressesOnce(): Promise<void> {
    if (!this.#addressesRead) await this.#readAddresses();
  }

  async #readAddresses(): Promise<void> {
    await this.#view.refreshAddresses();
    this.#addressesRead = true;
  }

  #checkOutputs(outputs: readonly SendOutputRequest[]): void {
    if (!Array.isArray(outputs) || outputs.length === 0) {
      throw new BackendError('sendMany needs at least one output', { retryable: false, code: 'invalid_request' });
    }
    if (outputs.length > MAX_DESTINATIONS) {
      throw new BackendError(`block.io takes at most ${MAX_DESTINATIONS} destinations per withdrawal`, {
        retryable: true,
        code: 'invalid_request',
      });
    }
    const seen = new Set<string>();
    for (const output of outputs) {
      checkAmount(output.amount, this.#rules);
      if (!validateAddress(output.address, this.#network).ok) {
        throw new BackendError(`not an address of ${this.#coin.code} ${this.#network.name}: ${output.address}`, {
          retryable: true,
          code: 'invalid_request',
        });
      }
      // block.io pays each address once per transaction; the ledger merges duplicates before.
      if (seen.has(output.address))
        throw new BackendError(`address ${output.address} twice in one batch`, { retryable: true, code: 'invalid_request' });
      seen.add(output.address);
    }
  }

  #ensureOpen(): void {
    if (this.#closed) throw new BackendError('the block.io backend is closed', { retryable: false, code: 'backend_closed' });
  }
}

function checkTxid(txid: string): void {
  if (typeof txid !== 'string' || !TXID_PATTERN.test(txid)) throw new InvalidTxid(String(txid));
}

function deadlinePassed(): BackendError {
  return new BackendError('block.io withdrawal not sent: its deadline had passed', { retryable: true, code: DEADLINE_PASSED });
}
