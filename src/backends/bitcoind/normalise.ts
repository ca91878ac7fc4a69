/**
 * Reading bitcoind's wallet answers (`gettransaction`, `listtransactions`, `listsinceblock`) into
 * the library's `NetworkTransactionInfo`. Pure functions: no RPC here. Anything that does not have
 * the expected shape is a `garbage` `BackendError`, because acting on a half-understood answer
 * about money is worse than stopping.
 *
 * Amounts are `JsonNumber`s in coins and become bigint base units by string arithmetic.
 *
 * Categories of wallet entries, and what becomes of them:
 * - `receive`: an output paying one of our addresses → `received`.
 * - `send`: an output we paid (negative amount) → `sent`, with the amount made positive.
 * - `generate`, `immature`, `orphan`: coinbase outputs of blocks mined into this wallet. Never
 *   reported as received: they are not deposits, they are unspendable for 100 blocks (the ledger
 *   would credit them after 3) and they change category as they mature. They do count in
 *   `getBalance` once mature, as the node counts them.
 */
import type { NetworkTransactionInfo, ReceivedOutput, SentOutput } from '../backend.js';
import { TXID_PATTERN } from '../backend.js';
import { validateAddress } from '../../domain/address.js';
import { parseAmount, type AmountRules } from '../../domain/amounts.js';
import type { NetworkParams } from '../../domain/coins.js';
import { BackendError } from '../../domain/errors.js';
import { JsonNumber } from './lossless-json.js';

/** One line of a wallet answer: a `details` item, or an entry of `listtransactions`/`listsinceblock`. */
export interface WalletEntry {
  /** Present on `listtransactions`/`listsinceblock` entries; absent on `details` items. */
  readonly txid?: string;
  readonly category: string;
  /** Absent for outputs without an address (e.g. `OP_RETURN`). */
  readonly address?: string;
  /** Signed base units, as the node reports them (negative for sends). */
  readonly amount: bigint;
  readonly vout: number;
  /** Signed base units (negative); on send lines only, the transaction's whole fee repeated. */
  readonly fee?: bigint;
  readonly comment?: string;
  readonly confirmations?: number;
  readonly blockHash?: string;
  readonly blockHeight?: number;
}

/** The transaction-level fields of an answer, shared by all its entries. */
export interface TransactionHeader {
  readonly txid: string;
  readonly confirmations: number;
  /** Signed base units (negative) when the wallet paid the fee; absent otherwise. */
  readonly fee?: bigint;
  readonly comment?: string;
  readonly blockHash?: string;
  readonly blockHeight?: number;
}

/** A `gettransaction` answer. */
export interface WalletTransaction extends TransactionHeader {
  readonly details: readonly WalletEntry[];
  /** The raw transaction, hex encoded. */
  readonly hex?: string;
}

/** Context for error messages: which call produced the answer. */
export interface ReadContext {
  readonly method: string;
  readonly endpoint: string;
}

/** A `garbage` error naming the call and the field that is wrong. */
export function garbage(context: ReadContext, detail: string): BackendError {
  return new BackendError(`bitcoind ${context.method} at ${context.endpoint}: unusable answer: ${detail}`, {
    retryable: false,
    code: 'garbage',
  });
}

/** Read a `gettransaction` answer. */
export function readWalletTransaction(raw: unknown, rules: AmountRules, context: ReadContext): WalletTransaction {
  const record = asRecord(raw, 'transaction', context);
  const header = readHeader(record, rules, context);
  const details = record.details;
  if (!Array.isArray(details)) throw garbage(context, `details of ${header.txid} is not an array`);
  const hex = optionalString(record.hex, 'hex', context);
  return {
    ...header,
    details: details.map((detail) => readEntry(detail, rules, context, false)),
    ...(hex !== undefined ? { hex } : {}),
  };
}

/** Read one `listtransactions` or `listsinceblock` entry (which carries its own txid). */
export function readListEntry(raw: unknown, rules: AmountRules, context: ReadContext): WalletEntry & { readonly txid: string } {
  const entry = readEntry(raw, rules, context, true);
  return entry as WalletEntry & { readonly txid: string };
}

/**
 * The library's view of a transaction from its header and entries. The fee is the header's,
 * counted once: the node repeats it on every send line, and adding those up was a defect of the
 * original library.
 */
export function toNetworkTransaction(
  header: TransactionHeader,
  entries: readonly WalletEntry[],
  network: NetworkParams,
): NetworkTransactionInfo {
  const received: ReceivedOutput[] = [];
  const sent: SentOutput[] = [];
  for (const entry of entries) {
    if (entry.category === 'receive' && entry.amount > 0n && entry.address !== undefined) {
      received.push({ address: canonicalAddress(entry.address, network), amount: entry.amount, vout: entry.vout });
    } else if (entry.category === 'send') {
      // No address means a script that is not an address (OP_RETURN, bare multisig): still money
      // that left the wallet, so it is listed, with an empty address.
      const address = entry.address === undefined ? '' : canonicalAddress(entry.address, network);
      sent.push({ address, amount: -entry.amount, vout: entry.vout });
    }
  }
  const fee = header.fee === undefined ? 0n : header.fee < 0n ? -header.fee : header.fee;
  return {
    txid: header.txid,
    confirmations: header.confirmations,
    received,
    sent,
    fee,
    ...(header.comment !== undefined && header.comment !== '' ? { comment: header.comment } : {}),
    ...(header.blockHash !== undefined && header.confirmations > 0 ? { blockHash: header.blockHash } : {}),
    ...(header.blockHeight !== undefined && header.confirmations > 0 ? { blockHeight: header.blockHeight } : {}),
  };
}

/**
 * Group list entries by txid, in order of first appearance, into transaction headers and entries.
 * The fee comes from the first send line (list entries have no transaction-level fee).
 */
export function groupEntries(
  entries: readonly (WalletEntry & { readonly txid: string })[],
): { header: TransactionHeader; entries: WalletEntry[] }[] {
  const groups = new Map<string, { header: TransactionHeader; entries: WalletEntry[] }>();
  for (const entry of entries) {
    let group = groups.get(entry.txid);
    if (!group) {
      group = {
        header: {
          txid: entry.txid,
          confirmations: entry.confirmations ?? 0,
          ...(entry.comment !== undefined ? { comment: entry.comment } : {}),
          ...(entry.blockHash !== undefined ? { blockHash: entry.blockHash } : {}),
          ...(entry.blockHeight !== undefined ? { blockHeight: entry.blockHeight } : {}),
        },
        entries: [],
      };
      groups.set(entry.txid, group);
    }
    if (entry.category === 'send' && entry.fee !== undefined && group.header.fee === undefined) {
      group.header = { ...group.header, fee: entry.fee };
    }
    group.entries.push(entry);
  }
  return [...groups.values()];
}

/** bech32 in lowercase, base58 as given; an address the library cannot parse is kept as reported. */
function canonicalAddress(address: string, network: NetworkParams): string {
  const check = validateAddress(address, network);
  return check.ok ? check.address : address;
}

function readHeader(record: Record<string, unknown>, rules: AmountRules, context: ReadContext): TransactionHeader {
  const txid = record.txid;
  if (typeof txid !== 'string' || !TXID_PATTERN.test(txid)) throw garbage(context, 'txid is missing or malformed');
  const confirmations = integer(record.confirmations, 'confirmations', context);
  const fee = record.fee === undefined ? undefined : amount(record.fee, 'fee', rules, context);
  const comment = optionalString(record.comment, 'comment', context);
  const blockHash = optionalString(record.blockhash, 'blockhash', context);
  if (blockHash !== undefined && !TXID_PATTERN.test(blockHash)) throw garbage(context, `blockhash of ${txid} is malformed`);
  const blockHeight = record.blockheight === undefined ? undefined : integer(record.blockheight, 'blockheight', context);
  return {
    txid,
    confirmations,
    ...(fee !== undefined ? { fee } : {}),
    ...(comment !== undefined ? { comment } : {}),
    ...(blockHash !== undefined ? { blockHash } : {}),
    ...(blockHeight !== undefined ? { blockHeight } : {}),
  };
}

function readEntry(raw: unknown, rules: AmountRules, context: ReadContext, withHeader: boolean): WalletEntry {
  const record = asRecord(raw, 'entry', context);
  const category = record.category;
  if (typeof category !== 'string') throw garbage(context, 'entry without a category');
  const address = optionalString(record.address, 'address', context);
  const fee = record.fee === undefined ? undefined : amount(record.fee, 'fee', rules, context);
  const entry: WalletEntry = {
    category,
    ...(address !== undefined ? { address } : {}),
    amount: amount(record.amount, 'amount', rules, context),
    vout: integer(record.vout, 'vout', context),
    ...(fee !== undefined ? { fee } : {}),
  };
  if (!withHeader) return entry;
  return { ...entry, ...readHeader(record, rules, context) };
}

function asRecord(raw: unknown, what: string, context: ReadContext): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw garbage(context, `${what} is not an object`);
  return raw as Record<string, unknown>;
}

/** A JSON integer field as a number. */
export function integer(value: unknown, field: string, context: ReadContext): number {
  const result = value instanceof JsonNumber ? value.toInteger() : undefined;
  if (result === undefined) throw garbage(context, `${field} is not an integer`);
  return result;
}

/** A JSON number field in coins as signed base units. */
export function amount(value: unknown, field: string, rules: AmountRules, context: ReadContext): bigint {
  if (!(value instanceof JsonNumber)) throw garbage(context, `${field} is not a number`);
  try {
    return parseAmount(value.toDecimalText(), rules, { allowZero: true, allowNegative: true });
  } catch (error) {
    throw garbage(context, `${field} ${value.text} is not an amount of this coin (${(error as Error).message})`);
  }
}

function optionalString(value: unknown, field: string, context: ReadContext): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw garbage(context, `${field} is not a string`);
  return value;
}
