/**
 * Turning database rows into records. Both engines return integers as bigint (SQLite with safe
 * integers, PostgreSQL through our int8 parser); timestamps come as Date (PostgreSQL) or ISO text
 * (SQLite).
 */
import type { SqlRow } from '../store/database.js';
import type {
  Account,
  AccountKind,
  Address,
  Entry,
  EntryKind,
  NetworkTransaction,
  NetworkTransactionState,
  Transaction,
  TransactionState,
  TransactionType,
  Wallet,
} from './records.js';

/** The current time as stored: ISO-8601 in UTC. */
export function nowText(): string {
  return new Date().toISOString();
}

export function toId(value: unknown): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id)) throw new Error(`not an id: ${String(value)}`);
  return id;
}

function toIdOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : toId(value);
}

export function toBigint(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  if (value === null || value === undefined) return 0n;
  throw new Error(`not an integer amount: ${String(value)}`);
}

function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === 'string') return new Date(value);
  throw new Error(`not a timestamp: ${String(value)}`);
}

function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

function toTextOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

export function walletFromRow(row: SqlRow): Wallet {
  return { id: toId(row.id), name: String(row.name), createdAt: toDate(row.created_at) };
}

export function accountFromRow(row: SqlRow): Account {
  return {
    id: toId(row.id),
    walletId: toId(row.wallet_id),
    name: String(row.name),
    kind: row.kind as AccountKind,
    balance: toBigint(row.balance),
    frozenAt: toDateOrNull(row.frozen_at),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

export function addressFromRow(row: SqlRow): Address {
  return {
    id: toId(row.id),
    address: String(row.address),
    walletId: toIdOrNull(row.wallet_id),
    accountId: toIdOrNull(row.account_id),
    label: toTextOrNull(row.label),
    archivedAt: toDateOrNull(row.archived_at),
    createdAt: toDate(row.created_at),
  };
}

/** Columns a transaction query must select (with `t` the transaction, `a` the address, `n` the network transaction). */
export const TRANSACTION_COLUMNS = 't.*, a.address AS address_text, n.txid AS txid';

export function transactionFromRow(row: SqlRow): Transaction {
  return {
    id: toId(row.id),
    walletId: toId(row.wallet_id),
    type: row.type as TransactionType,
    state: row.state as TransactionState,
    amount: toBigint(row.amount),
    sendingAccountId: toIdOrNull(row.sending_account_id),
    receivingAccountId: toIdOrNull(row.receiving_account_id),
    address: toTextOrNull(row.address_text),
    networkTransactionId: toIdOrNull(row.network_transaction_id),
    txid: toTextOrNull(row.txid),
    label: toTextOrNull(row.label),
    idempotencyKey: toTextOrNull(row.idempotency_key),
    creditedAt: toDateOrNull(row.credited_at),
    processedAt: toDateOrNull(row.processed_at),
    refusal: toTextOrNull(row.refusal),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

export function networkTransactionFromRow(row: SqlRow): NetworkTransaction {
  return {
    id: toId(row.id),
    type: row.transaction_type as 'deposit' | 'broadcast',
    txid: toTextOrNull(row.txid),
    walletId: toIdOrNull(row.wallet_id),
    state: row.state as NetworkTransactionState,
    confirmations: Number(row.confirmations),
    conflicted: row.state === 'conflicted' || Number(row.conflicted ?? 0) === 1,
    fee: row.fee === null || row.fee === undefined ? null : toBigint(row.fee),
    comment: toTextOrNull(row.comment),
    openedAt: toDateOrNull(row.opened_at),
    closedAt: toDateOrNull(row.closed_at),
    createdAt: toDate(row.created_at),
    leaseGeneration: row.lease_generation === null || row.lease_generation === undefined ? null : Number(row.lease_generation),
    openedAtMs: row.opened_at_ms === null || row.opened_at_ms === undefined ? null : Number(row.opened_at_ms),
  };
}

export function entryFromRow(row: SqlRow): Entry {
  return {
    id: toId(row.id),
    accountId: toId(row.account_id),
    transactionId: toId(row.transaction_id),
    kind: row.kind as EntryKind,
    amount: toBigint(row.amount),
    createdAt: toDate(row.created_at),
    label: toTextOrNull(row.label),
  };
}
