/**
 * A fake of block.io's API v2 over real HTTP on 127.0.0.1 (a random port), for one API key and
 * one network, as documented and as block.io's own client libraries read it:
 *
 * - `METHOD/` below `/api/v2/`, `api_key` in the query string (or body), GET or POST with a JSON
 *   or form body, every answer `{status, data}`; a failure `{status: 'fail', data: {error_message}}`.
 * - Its own keys: every address is a 2-of-2 witness multisig of the account's user key and a
 *   block.io key of that address, `WITNESS_V0` (native) or `P2WSH-over-P2SH` (wrapped, what
 *   block.io's Bitcoin accounts answer with) per `addressType` or `get_new_address`'s `address_type`; the user key's passphrase is stored encrypted with
 *   the PIN (AES-256-GCM, PBKDF2-SHA256), as block.io stores it, and only the PIN opens it.
 * - `prepare_transaction` builds a real unsigned transaction; `submit_transaction` checks the
 *   client's signature of every input against the transaction it prepared, adds its own,
 *   finalises it and records it under its real txid.
 *
 * - Notifications: `create_notification` (`type=account`, `url`; the URL is pinged first and the
 *   notification created only when the ping is answered 2xx), `delete_notification`,
 *   `list_notifications`; every change of a transaction of the account is delivered to each
 *   notification and sent on the WebSocket stream at `socketUrl` (see `notifier.ts`).
 *
 * Used by the tests and by `cryptoassets demo --backend blockio-fake`.
 *
 * Failure modes on demand (`faults`): fail answers, throttling, HTTP 500, a submit that is
 * recorded but never answered, and tampered preparations.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { p2ms, p2sh, p2wsh, SigHash, Transaction } from '@scure/btc-signer';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { formatAmount, parseAmount } from '../../domain/amounts.js';
import type { CoinDefinition, NetworkParams } from '../../domain/coins.js';
import { blockioNetworkName, signerNetwork, type SignerNetwork } from '../../backends/blockio/network.js';
import { encryptPassphrase, passphraseToPrivateKey, publicKeyHex, type UserKeyAlgorithm } from '../../backends/blockio/user-key.js';
import { FakeChain, foreignAddress, TX_OPTIONS, type FakeOutput } from './fake-chain.js';
import type { FakeTransaction } from './notification-data.js';
import { FakeNotifier } from './notifier.js';
import { FakeWebhookPoster } from './webhook-poster.js';
import { FakeBlockioSocketServer } from './websocket-server.js';

/** Ways the fake can corrupt a preparation, each one a kind of theft the client must catch. */
export type Tamper =
  | 'extra_output'
  | 'changed_amount'
  | 'foreign_change'
  | 'high_fee'
  // Change, or a `blockio-fee` output, to the account's newest deposit address (not `default`).
  | 'change_to_deposit'
  | 'fee_to_deposit'
  // Input 0's value stated 1 000 units below the truth (the signed amount, BIP143).
  | 'input_value_understated';

/** Options of `startFakeBlockio`. */
export interface FakeBlockioOptions {
  readonly coin: CoinDefinition;
  readonly network: NetworkParams;
  readonly apiKey: string;
  readonly pin: string;
  /** Network fee rate of prepared transactions, base units per virtual byte. Default 10. */
  readonly feePerVbyte?: bigint;
  /** block.io's own fee per prepared transaction, base units (an extra output). Default 0. */
  readonly blockioFee?: bigint;
  /** PBKDF2 iterations of the user key; block.io uses 500 000, tests want it quick. Default 2 048. */
  readonly pbkdf2Iterations?: number;
  /** Transactions per `get_transactions` page. Default 25, as block.io. */
  readonly pageSize?: number;
  /** Attempts per webhook delivery (block.io retries for about a day). Default 5. */
  readonly webhookMaxAttempts?: number;
  /** Pause between webhook attempts, ms. Default 10. */
  readonly webhookRetryDelayMs?: number;
  /** A transaction is announced until it has this many confirmations. Default 10. */
  readonly notifyUntilConfirmations?: number;
  /** WebSocket keep-alive period, ms; 0 sends none unless the test calls `sockets.ping()`. Default 0. */
  readonly socketPingEveryMs?: number;
  /** Type of the addresses `get_new_address` makes when none is asked for. Default `WITNESS_V0`. */
  readonly addressType?: FakeAddressType;
  /**
   * Where change goes: the account's `default` address, or back to the address of the
   * preparation's first input (what a recorded answer of block.io's shows). Default `default`.
   */
  readonly changeTo?: 'default' | 'spending_address';
}

/** The multisig address types the fake hands out. */
export type FakeAddressType = 'WITNESS_V0' | 'P2WSH-over-P2SH';

/** One address of the account. */
interface FakeAddress {
  readonly address: string;
  readonly label: string;
  readonly blockioKey: Uint8Array;
  readonly publicKeys: readonly string[];
  readonly witnessScript: Uint8Array;
  readonly type: FakeAddressType;
  /** The output script the address stands for. */
  readonly script: Uint8Array;
  /** The P2WSH program a wrapped address's scriptSig pushes. */
  readonly redeemScript?: Uint8Array;
}

interface Prepared {
  readonly tx: Transaction;
  readonly inputs: readonly { readonly address: FakeAddress; readonly amount: bigint; readonly txid: string; readonly vout: number }[];
  readonly outputs: readonly FakeOutput[];
}

/** Faults the test arms; each is consumed by the requests it affects. */
export interface FakeBlockioFaults {
  /** Answer the next request to `method` with `{status: 'fail'}` and this message. */
  failNext(method: string, message: string): void;
  /** Answer the next `count` requests (to `method`, or any) with HTTP `status` (419, 420, 429) and no envelope. */
  throttleNext(count: number, status?: number, method?: string): void;
  /** Answer the next request to `method` with HTTP 500 (after `skip` requests answered normally). */
  serverErrorNext(method: string, skip?: number): void;
  /** Record the next submitted transaction, then never answer (the client times out). */
  hangAfterNextSubmit(): void;
  /** Record (broadcast) the next submitted transaction, then answer `{status: 'fail'}` with `message`. */
  failAfterNextSubmit(message: string): void;
  /** Corrupt the next preparation this way. */
  tamperNext(kind: Tamper): void;
  /**
   * Answer the next `count` requests to `get_transactions` or `get_my_addresses` with their first
   * page again, whatever page was asked for (a broken or hostile paging; `get_my_addresses` then
   * says `has_more`).
   */
  repeatFirstPage(method: 'get_transactions' | 'get_my_addresses', count: number): void;
}

/** A running fake block.io. */
export interface FakeBlockio {
  /** Base URL, `http://127.0.0.1:<port>/api/v2/`. */
  readonly apiUrl: string;
  readonly chain: FakeChain;
  readonly faults: FakeBlockioFaults;
  /** Requests received, by method (to count submits). */
  readonly requests: Map<string, number>;
  /** Every request's raw URL and body, to check that secrets travel only where they must. */
  readonly log: string[];
  /** The notification stream, `ws://127.0.0.1:<port>/` (block.io's `wss://n.block.io/`). */
  readonly socketUrl: string;
  /** The WebSocket side (subscriptions, pings, dropped sockets). */
  readonly sockets: FakeBlockioSocketServer;
  /** The webhook side: notifications created, every POST made. */
  readonly webhooks: FakeWebhookPoster;
  /** What was announced, `settled()`, and the webhook faults (duplicates, reversed order). */
  readonly notifier: FakeNotifier;
  /** Somebody outside pays `amount` to `address`; returns the txid. */
  pay(address: string, amount: bigint): string;
  payMany(outputs: readonly FakeOutput[]): string;
  mine(blocks: number): void;
  externalAddress(): string;
  /** Pay the account's default address `amount` and confirm it. */
  fund(amount: bigint): void;
  close(): Promise<void>;
}

const TXS_PAGE = 25;

/** Start a fake block.io on a random loopback port. */
export async function startFakeBlockio(options: FakeBlockioOptions): Promise<FakeBlockio> {
  const network = signerNetwork(options.network);
  const networkName = blockioNetworkName(options.coin, options.network);
  const chain = new FakeChain(network);
  const rules = { decimals: options.coin.decimals, maxMoney: options.coin.maxMoney };
  const text = (amount: bigint): string => formatAmount(amount, rules);
  const feePerVbyte = options.feePerVbyte ?? 10n;
  const blockioFee = options.blockioFee ?? 0n;
  const pageSize = options.pageSize ?? TXS_PAGE;

  // The account's user key: a random passphrase, stored only encrypted with the PIN.
  const passphrase = bytesToHex(randomBytes(32));
  const userKey = passphraseToPrivateKey(passphrase);
  const userPublic = publicKeyHex(userKey);
  const algorithm: UserKeyAlgorithm = {
    pbkdf2_salt: bytesToHex(randomBytes(16)),
    pbkdf2_iterations: options.pbkdf2Iterations ?? 2048,
    pbkdf2_hash_function: 'SHA256',
    pbkdf2_phase1_key_length: 16,
    pbkdf2_phase2_key_length: 32,
    aes_iv: bytesToHex(randomBytes(12)),
    aes_cipher: 'AES-256-GCM',
    aes_auth_tag: null,
    aes_auth_data: '',
  };
  const sealed = encryptPassphrase(passphrase, options.pin, algorithm);
  const encryptedUserKey = {
    public_key: userPublic,
    encrypted_passphrase: sealed.encrypted,
    algorithm: { ...algorithm, aes_auth_tag: sealed.authTag },
  };

  const addresses: FakeAddress[] = [];
  const byAddress = new Map<string, FakeAddress>();
  const prepared = new Map<string, Prepared>();
  const blockioFeeAddress = foreignAddress(network);

  function newAddress(label: string, type: FakeAddressType = options.addressType ?? 'WITNESS_V0'): FakeAddress {
    const blockioKey = secp256k1.utils.randomSecretKey();
    const publicKeys = [userPublic, publicKeyHex(blockioKey)];
    const multisig = p2ms(2, publicKeys.map(hexToBytes));
    const native = p2wsh(multisig, network);
    const payment = type === 'WITNESS_V0' ? native : p2sh(native, network);
    const entry: FakeAddress = {
      address: payment.address!,
      label,
      blockioKey,
      publicKeys,
      witnessScript: multisig.script,
      type,
      script: payment.script,
      ...(type === 'WITNESS_V0' ? {} : { redeemScript: native.script }),
    };
    addresses.push(entry);
    byAddress.set(entry.address, entry);
    return entry;
  }
  // block.io gives every account a `default` address; change goes back to it.
  const defaultAddress = newAddress('default');

  const webhooks = new FakeWebhookPoster({
    ...(options.webhookMaxAttempts === undefined ? {} : { maxAttempts: options.webhookMaxAttempts }),
    ...(options.webhookRetryDelayMs === undefined ? {} : { retryDelayMs: options.webhookRetryDelayMs }),
  });
  const sockets = new FakeBlockioSocketServer({
    apiKey: options.apiKey,
    network: networkName,
    pingEveryMs: options.socketPingEveryMs ?? 0,
  });
  await sockets.start();
  const notifier = new FakeNotifier(webhooks, sockets, networkName, options.notifyUntilConfirmations);
  chain.onChange(() => notifier.observe(accountTransactions()));

  /** Every live transaction paying or spending the account, as a notification describes it. */
  function accountTransactions(): FakeTransaction[] {
    const ownedOutput = (txid: string, vout: number) => {
      const output = chain.get(txid)?.outputs[vout];
      return output && byAddress.has(output.address) ? output : undefined;
    };
    return chain.newestFirst().flatMap((tx) => {
      const received = tx.outputs.filter((output) => byAddress.has(output.address));
      const spent = tx.inputs.flatMap((input) => ownedOutput(input.txid, input.vout) ?? []);
      if (received.length === 0 && spent.length === 0) return [];
      const sum = (outputs: readonly FakeOutput[]) => outputs.reduce((total, output) => total + output.amount, 0n);
      return [
        {
          txid: tx.txid,
          network: networkName,
          ...(received[0] ? { address: received[0].address } : {}),
          amountReceived: text(sum(received)),
          amountSent: text(sum(spent)),
          confirmations: chain.confirmations(tx),
        },
      ];
    });
  }

  async function createNotification(args: Record<string, unknown>): Promise<object> {
    if (args.type !== 'account') refuse('This fake supports notifications of type account only.');
    const url = typeof args.url === 'string' ? args.url : '';
    if (!/^https?:\/\//.test(url)) refuse('Invalid URL.');
    let id = '';
    try {
      id = await webhooks.createNotification(url);
    } catch {
      refuse(`Unable to reach the URL: it must answer the ping with HTTP 2xx.`);
    }
    return { network: networkName, notification_id: id, type: 'account', enabled: true, url };
  }

  async function deleteNotification(args: Record<string, unknown>): Promise<object> {
    const id = String(args.notification_id ?? '');
    const found = webhooks.list().find((notification) => notification.id === id) ?? refuse('Notification not found.');
    await webhooks.deleteNotification(id);
    return { network: networkName, notification_id: id, type: found.type, enabled: false, url: found.url };
  }

  function listNotifications(): object {
    const list = webhooks.list().map((n) => ({ notification_id: n.id, type: n.type, enabled: true, url: n.url }));
    return { network: networkName, notifications: list, page: 1, has_more: false };
  }

  // Faults.
  const failures = new Map<string, string>();
  /** Methods to answer with HTTP 500, and how many requests to answer normally first. */
  const serverErrors = new Map<string, number>();
  let throttled = 0;
  let throttleStatus = 429;
  let throttleMethod: string | undefined;
  let hangSubmit = false;
  let failAfterSubmit: string | undefined;
  const repeats = new Map<string, number>();
  /** Whether this request to `method` gets the first page again (see `repeatFirstPage`). */
  const repeating = (method: string): boolean => {
    const left = repeats.get(method) ?? 0;
    if (left > 0) repeats.set(method, left - 1);
    return left > 0;
  };
  let tamper: Tamper | undefined;
  const faults: FakeBlockioFaults = {
    failNext: (method, message) => void failures.set(method, message),
    throttleNext: (count, status = 429, method) => {
      throttled = count;
      throttleStatus = status;
      throttleMethod = method;
    },
    serverErrorNext: (method, skip = 0) => void serverErrors.set(method, skip),
    hangAfterNextSubmit: () => {
      hangSubmit = true;
    },
    repeatFirstPage: (method, count) => void repeats.set(method, count),
    failAfterNextSubmit: (message) => {
      failAfterSubmit = message;
    },
    tamperNext: (kind) => {
      tamper = kind;
    },
  };

  class Refused extends Error {}
  const refuse = (message: string): never => {
    throw new Refused(message);
  };

  function balances(): { available: bigint; pending: bigint } {
    let available = 0n;
    let pending = 0n;
    for (const utxo of chain.unspent()) {
      if (!byAddress.has(utxo.output.address)) continue;
      // Change of our own unconfirmed sends is spendable at once, as block.io counts it.
      const own = chain.get(utxo.txid)!.inputs.some((input) => byAddress.has(chain.get(input.txid)?.outputs[input.vout]?.address ?? ''));
      if (utxo.confirmed || own) available += utxo.output.amount;
      else pending += utxo.output.amount;
    }
    return { available, pending };
  }

  function addressBalance(address: string): { available: bigint; pending: bigint } {
    let available = 0n;
    let pending = 0n;
    for (const utxo of chain.unspent()) {
      if (utxo.output.address !== address) continue;
      if (utxo.confirmed) available += utxo.output.amount;
      else pending += utxo.output.amount;
    }
    return { available, pending };
  }

  function listArgument(value: unknown): string[] {
    return typeof value === 'string' && value !== '' ? value.split(',').map((item) => item.trim()) : [];
  }

  function spendsOurs(tx: { inputs: readonly { txid: string; vout: number }[] }): boolean {
    return tx.inputs.some((input) => byAddress.has(chain.get(input.txid)?.outputs[input.vout]?.address ?? ''));
  }

  function transactions(args: Record<string, unknown>): object {
    const type = args.type;
    if (type !== 'received' && type !== 'sent') refuse('Type must be one of: sent, received.');
    const filter = new Set(listArgument(args.addresses));
    let list = chain
      .newestFirst()
      .filter((tx) => (type === 'sent' ? spendsOurs(tx) : tx.outputs.some((output) => byAddress.has(output.address))));
    if (filter.size > 0) list = list.filter((tx) => tx.outputs.some((output) => filter.has(output.address)));
    if (typeof args.before_tx === 'string' && args.before_tx !== '' && !repeating('get_transactions')) {
      const position = list.findIndex((tx) => tx.txid === args.before_tx);
      if (position < 0) refuse('Transaction ID for before_tx is invalid.');
      list = list.slice(position + 1);
    }
    return {
      network: networkName,
      txs: list.slice(0, pageSize).map((tx) => {
        const common = { txid: tx.txid, from_green_address: false, time: tx.time, confirmations: chain.confirmations(tx), confidence: 1 };
        if (type === 'received') {
          return {
            ...common,
            amounts_received: tx.outputs
              .filter((o) => byAddress.has(o.address))
              .map((o) => ({ recipient: o.address, amount: text(o.amount) })),
            senders: [],
          };
        }
        const sent = tx.outputs.filter((o) => !(byAddress.get(o.address)?.label === 'default'));
        return {
          ...common,
          total_amount_sent: text(sent.reduce((sum, o) => sum + o.amount, 0n)),
          amounts_sent: sent.map((o) => ({ recipient: o.address, amount: text(o.amount) })),
          senders: [defaultAddress.address],
        };
      }),
    };
  }

  /** Virtual size of a transaction of 2-of-2 P2WSH inputs and `outputs` outputs, rounded up. */
  function vsize(inputs: number, outputs: number): bigint {
    return BigInt(11 + 105 * inputs + 43 * outputs);
  }

  function requestedOutputs(args: Record<string, unknown>): FakeOutput[] {
    const amounts = listArgument(args.amounts ?? args.amount);
    const destinations = listArgument(args.to_addresses ?? args.to_address);
    if (amounts.length === 0 || amounts.length !== destinations.length) refuse('Must specify the same number of amounts and to_addresses.');
    if (destinations.length > 2500) refuse('Cannot withdraw to more than 2500 destination addresses at once.');
    return destinations.map((address, i) => {
      let amount = 0n;
      try {
        amount = parseAmount(amounts[i]!, rules);
      } catch {
        refuse(`Invalid amount: ${amounts[i]}.`);
      }
      try {
        new Transaction(TX_OPTIONS).addOutputAddress(address, 1n, network);
      } catch {
        refuse(`Invalid address: ${address}.`);
      }
      return { address, amount };
    });
  }

  function prepare(args: Record<string, unknown>): object {
    const wanted = requestedOutputs(args);
    const total = wanted.reduce((sum, o) => sum + o.amount, 0n);
    const spendable = chain
      .unspent()
      .filter((utxo) => byAddress.has(utxo.output.address))
      .filter((utxo) => utxo.confirmed || spendsOurs(chain.get(utxo.txid)!));
    const chosen: typeof spendable = [];
    let inputSum = 0n;
    let fee = 0n;
    for (const utxo of spendable) {
      chosen.push(utxo);
      inputSum += utxo.output.amount;
      fee = vsize(chosen.length, wanted.length + 2) * feePerVbyte;
      if (inputSum >= total + fee + blockioFee) break;
    }
    if (inputSum < total + fee + blockioFee) {
      refuse(
        `Cannot withdraw funds without Network Fee of ${text(fee)}. Maximum withdrawable balance is ${text(inputSum - fee - blockioFee > 0n ? inputSum - fee - blockioFee : 0n)}.`,
      );
    }
    const outputs: { category: string; output: FakeOutput }[] = wanted.map((output) => ({ category: 'user-specified', output }));
    let change = inputSum - total - fee - blockioFee;
    let changeAddress = options.changeTo === 'spending_address' ? chosen[0]!.output.address : defaultAddress.address;
    // Tampering: what a compromised or buggy service could hand a client that signs blindly.
    const kind = tamper;
    tamper = undefined;
    if (kind === 'extra_output')
      outputs.push({ category: 'user-specified', output: { address: foreignAddress(network), amount: 10_000n } });
    if (kind === 'extra_output') change -= 10_000n;
    if (kind === 'changed_amount')
      outputs[0] = { category: 'user-specified', output: { ...outputs[0]!.output, amount: outputs[0]!.output.amount + 1n } };
    if (kind === 'changed_amount') change -= 1n;
    if (kind === 'foreign_change') changeAddress = foreignAddress(network);
    if (kind === 'high_fee') change = change / 2n;
    const newestDeposit = addresses[addresses.length - 1]!.address;
    if (kind === 'change_to_deposit') changeAddress = newestDeposit;
    if (kind === 'fee_to_deposit') outputs.push({ category: 'blockio-fee', output: { address: newestDeposit, amount: 1_000n } });
    if (kind === 'fee_to_deposit') change -= 1_000n;
    if (blockioFee > 0n) outputs.push({ category: 'blockio-fee', output: { address: blockioFeeAddress, amount: blockioFee } });
    if (change > 0n) outputs.push({ category: 'change', output: { address: changeAddress, amount: change } });

    const tx = new Transaction({ ...TX_OPTIONS, version: 1, lockTime: 0 });
    const inputs = chosen.map((utxo) => {
      const address = byAddress.get(utxo.output.address)!;
      tx.addInput({
        txid: utxo.txid,
        index: utxo.vout,
        sequence: 0xffffffff,
        witnessUtxo: { script: address.script, amount: utxo.output.amount },
        witnessScript: address.witnessScript,
        ...(address.redeemScript === undefined ? {} : { redeemScript: address.redeemScript }),
      });
      return { address, amount: utxo.output.amount, txid: utxo.txid, vout: utxo.vout };
    });
    for (const { output } of outputs) tx.addOutputAddress(output.address, output.amount, network);
    const unsignedTxid = tx.id;
    prepared.set(unsignedTxid, { tx, inputs, outputs: outputs.map((o) => o.output) });
    const usedAddresses = [...new Set(inputs.map((input) => input.address))];
    return {
      network: networkName,
      tx_type: 'basic',
      inputs: inputs.map((input, i) => ({
        input_index: i,
        previous_txid: input.txid,
        previous_output_index: input.vout,
        input_value: text(kind === 'input_value_understated' && i === 0 ? input.amount - 1_000n : input.amount),
        spending_address: input.address.address,
      })),
      outputs: outputs.map((o, i) => ({
        output_index: i,
        output_category: o.category,
        output_value: text(o.output.amount),
        receiving_address: o.output.address,
      })),
      input_address_data: usedAddresses.map((address) => ({
        required_signatures: 2,
        public_keys: address.publicKeys,
        address: address.address,
        address_type: address.type,
      })),
      user_key: encryptedUserKey,
      expected_unsigned_txid: unsignedTxid,
    };
  }

  function submit(args: Record<string, unknown>): object {
    const data = typeof args.transaction_data === 'string' ? (JSON.parse(args.transaction_data) as unknown) : args.transaction_data;
    const body = (data ?? {}) as { tx_type?: unknown; tx_hex?: unknown; signatures?: unknown };
    if (typeof body.tx_hex !== 'string') refuse('Missing transaction_data.');
    let unsigned: Transaction;
    try {
      unsigned = Transaction.fromRaw(hexToBytes(body.tx_hex as string), TX_OPTIONS);
    } catch {
      return refuse('Invalid tx_hex.');
    }
    const job = prepared.get(unsigned.id);
    if (!job) return refuse('This transaction was not prepared by Block.io, or has expired.');
    if (chain.get(unsigned.id)) return refuse('Transaction already submitted.');
    const signatures = Array.isArray(body.signatures)
      ? (body.signatures as { input_index?: unknown; public_key?: unknown; signature?: unknown }[])
      : [];
    const tx = job.tx;
    job.inputs.forEach((input, index) => {
      const theirs = signatures.find((s) => s.input_index === index && s.public_key === userPublic);
      if (!theirs || typeof theirs.signature !== 'string') refuse(`Missing signature for input ${index}.`);
      const sighash = tx.preimageWitnessV0(index, input.address.witnessScript, SigHash.ALL, input.amount);
      let valid: boolean;
      try {
        valid = secp256k1.verify(hexToBytes(theirs!.signature as string), sighash, hexToBytes(userPublic), {
          prehash: false,
          format: 'der',
        });
      } catch {
        valid = false;
      }
      if (!valid) refuse(`Invalid signature for input ${index}.`);
      const ours = secp256k1.sign(sighash, input.address.blockioKey, { prehash: false, format: 'der' });
      tx.updateInput(index, {
        partialSig: [
          [hexToBytes(userPublic), concat(hexToBytes(theirs!.signature as string), SigHash.ALL)],
          [hexToBytes(input.address.publicKeys[1]!), concat(ours, SigHash.ALL)],
        ],
      });
    });
    tx.finalize();
    const recorded = chain.add(
      tx.id,
      tx.hex,
      job.inputs.map((input) => ({ txid: input.txid, vout: input.vout })),
      job.outputs,
    );
    prepared.delete(unsigned.id);
    return { network: networkName, txid: recorded.txid };
  }

  function rawTransaction(args: Record<string, unknown>): object {
    const txid = String(args.txid ?? '');
    const tx = chain.get(txid) ?? refuse('Transaction not found.');
    const confirmations = chain.confirmations(tx);
    return {
      network: networkName,
      txid: tx.txid,
      blockhash: tx.blockHeight === undefined ? null : chain.blockHash(tx.blockHeight),
      block_no: tx.blockHeight ?? null,
      confirmations,
      time: tx.time,
      tx_hex: tx.hex,
    };
  }

  const methods: Record<string, (args: Record<string, unknown>) => object | Promise<object>> = {
    get_balance: () => {
      const { available, pending } = balances();
      return { network: networkName, available_balance: text(available), pending_received_balance: text(pending) };
    },
    get_new_address: (args) => {
      const label = typeof args.label === 'string' && args.label !== '' ? args.label : `auto-${addresses.length}`;
      if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(label))
        refuse('Label must be alphanumeric (dashes, underscores, periods and @ allowed), at most 64 characters.');
      if (addresses.some((a) => a.label === label)) refuse(`Label already exists on your account: ${label}.`);
      const type = args.address_type ?? options.addressType ?? 'WITNESS_V0';
      if (type !== 'WITNESS_V0' && type !== 'P2WSH-over-P2SH') refuse(`Address type ${String(type)} is not supported.`);
      const entry = newAddress(label, type as FakeAddressType);
      return { network: networkName, user_id: addresses.length - 1, address: entry.address, label: entry.label };
    },
    get_my_addresses: (args) => {
      const repeat = repeating('get_my_addresses');
      const page = repeat ? 1 : Math.max(1, Number(args.page ?? 1));
      return {
        network: networkName,
        addresses: addresses.slice((page - 1) * 2500, page * 2500).map((a, i) => {
          const balance = addressBalance(a.address);
          return {
            user_id: i,
            address: a.address,
            label: a.label,
            available_balance: text(balance.available),
            pending_received_balance: text(balance.pending),
          };
        }),
        page,
        has_more: repeat || addresses.length > page * 2500,
      };
    },
    get_address_balance: (args) => {
      const wanted = new Set([...listArgument(args.addresses), ...listArgument(args.labels)]);
      const chosen = addresses.filter((a) => wanted.has(a.address) || wanted.has(a.label));
      if (chosen.length === 0) refuse('Must specify valid addresses or labels.');
      const list = chosen.map((a) => ({ address: a.address, label: a.label, ...addressBalance(a.address) }));
      return {
        network: networkName,
        available_balance: text(list.reduce((sum, a) => sum + a.available, 0n)),
        pending_received_balance: text(list.reduce((sum, a) => sum + a.pending, 0n)),
        balances: list.map((a) => ({
          address: a.address,
          label: a.label,
          available_balance: text(a.available),
          pending_received_balance: text(a.pending),
        })),
      };
    },
    get_transactions: transactions,
    get_network_fee_estimate: (args) => {
      const count = requestedOutputs(args).length;
      return { network: networkName, estimated_network_fee: text(vsize(1, count + 1) * feePerVbyte) };
    },
    prepare_transaction: prepare,
    submit_transaction: submit,
    get_raw_transaction: rawTransaction,
    create_notification: createNotification,
    delete_notification: deleteNotification,
    list_notifications: listNotifications,
  };

  const requests = new Map<string, number>();
  const log: string[] = [];
  const hanging = new Set<ServerResponse>();

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const match = /^\/api\/v2\/([a-z_]+)\/?$/.exec(url.pathname);
    const raw = await readBody(request);
    log.push(`${request.method} ${request.url} ${raw}`);
    const args = parseArgs(raw, request.headers['content-type']);
    const method = match?.[1] ?? '';
    requests.set(method, (requests.get(method) ?? 0) + 1);
    const reply = (status: number, body: object | string): void => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (throttled > 0 && (throttleMethod === undefined || throttleMethod === method)) {
      throttled--;
      reply(throttleStatus, 'Too Many Requests');
      return;
    }
    const apiKey = url.searchParams.get('api_key') ?? args.api_key;
    if (apiKey !== options.apiKey) {
      reply(403, { status: 'fail', data: { error_message: 'API Key invalid or you have not enabled API access for this machine.' } });
      return;
    }
    const handler = methods[method];
    if (!handler) {
      reply(404, { status: 'fail', data: { error_message: 'Method not found.' } });
      return;
    }
    const skip = serverErrors.get(method);
    if (skip !== undefined && skip > 0) serverErrors.set(method, skip - 1);
    else if (serverErrors.delete(method)) {
      reply(500, 'Internal Server Error');
      return;
    }
    const failure = failures.get(method);
    if (failure !== undefined) {
      failures.delete(method);
      reply(200, { status: 'fail', data: { error_message: failure } });
      return;
    }
    try {
      const data = await handler(args);
      if (method === 'submit_transaction' && hangSubmit) {
        hangSubmit = false;
        hanging.add(response);
        return;
      }
      if (method === 'submit_transaction' && failAfterSubmit !== undefined) {
        reply(200, { status: 'fail', data: { error_message: failAfterSubmit } });
        failAfterSubmit = undefined;
        return;
      }
      reply(200, { status: 'success', data });
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      reply(200, { status: 'fail', data: { error_message: error.message } });
    }
  }

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      response.writeHead(500);
      response.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    apiUrl: `http://127.0.0.1:${port}/api/v2/`,
    chain,
    faults,
    requests,
    log,
    socketUrl: sockets.url,
    sockets,
    webhooks,
    notifier,
    pay: (address, amount) => chain.pay([{ address, amount }]),
    payMany: (outputs) => chain.pay(outputs),
    mine: (blocks) => chain.mine(blocks),
    externalAddress: () => foreignAddress(network),
    fund: (amount) => {
      chain.pay([{ address: defaultAddress.address, amount }]);
      chain.mine(1);
    },
    close: async () => {
      await sockets.stop();
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function concat(a: Uint8Array, byte: number): Uint8Array {
  const result = new Uint8Array(a.length + 1);
  result.set(a);
  result[a.length] = byte;
  return result;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseArgs(raw: string, contentType: string | undefined): Record<string, unknown> {
  if (raw === '') return {};
  if (contentType?.includes('application/json')) return JSON.parse(raw) as Record<string, unknown>;
  return Object.fromEntries(new URLSearchParams(raw));
}

export type { SignerNetwork };
