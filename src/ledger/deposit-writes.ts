/**
 * The statements of deposit recording, each over a whole batch of deposits (one node reading):
 * see `recordDeposits` in deposits.ts for the rules they serve. Every function here costs one
 * statement per `ROWS_PER_STATEMENT` rows, the same SQL on SQLite and PostgreSQL.
 */
import type { CoinScope } from './context.js';
import { inParts, listOf } from './multi-row.js';
import type { Transaction } from './records.js';
import { toId, transactionFromRow } from './rows.js';

/** A receiving address of ours with what a deposit to it needs (and its event shows). */
export interface OurAddress {
  readonly id: number;
  readonly address: string;
  readonly walletId: number;
  readonly walletName: string;
  readonly accountId: number;
  readonly accountName: string;
}

/** Receiving addresses (assigned to an account) among `addresses`, by address text. */
export async function findOurAddresses(scope: CoinScope, addresses: readonly string[]): Promise<Map<string, OurAddress>> {
  const t = scope.context.tables;
  const found = new Map<string, OurAddress>();
  for (const part of inParts(addresses)) {
    const rows = await scope.tx.all<{
      id: unknown;
      address: string;
      wallet_id: unknown;
      wallet_name: string;
      account_id: unknown;
      account_name: string;
    }>(
      `SELECT a.id, a.address, a.wallet_id, w.name AS wallet_name, a.account_id, acc.name AS account_name
       FROM ${t.address} a JOIN ${t.account} acc ON acc.id = a.account_id JOIN ${t.wallet} w ON w.id = a.wallet_id
       WHERE a.address IN (${listOf(part.length)})`,
      part,
    );
    for (const row of rows) {
      found.set(row.address, {
        id: toId(row.id),
        address: row.address,
        walletId: toId(row.wallet_id),
        walletName: row.wallet_name,
        accountId: toId(row.account_id),
        accountName: row.account_name,
      });
    }
  }
  return found;
}

/** What the network says about one deposit transaction (confirmations already made positive). */
export interface NetworkFacts {
  readonly txid: string;
  readonly confirmations: number;
  readonly conflicted: boolean;
  readonly readingSeq: number | undefined;
}

/** A deposit's network transaction after the upsert. */
export interface NetworkRow {
  readonly id: number;
  /** Written by this upsert (new). */
  readonly inserted: boolean;
  /** Confirmations or state differ from what was stored (always for a new row). */
  readonly changed: boolean;
  /** The report comes from an older reading than the one that last changed the row: nothing written. */
  readonly stale: boolean;
}

/**
 * Insert the deposit network transactions not stored yet and update those whose confirmations
 * or state changed, unless the report is from an older reading (see readings.ts). Txids must be
 * distinct. Returns a row per txid.
 */
export async function upsertNetworkTransactions(scope: CoinScope, reports: readonly NetworkFacts[]): Promise<Map<string, NetworkRow>> {
  const table = scope.context.tables.networkTransaction;
  const result = new Map<string, NetworkRow>();
  const stored = new Map<string, { id: unknown; confirmations: unknown; state: string; reading_seq: unknown }>();
  for (const part of inParts(reports)) {
    const rows = await scope.tx.all<{ id: unknown; txid: string; confirmations: unknown; state: string; reading_seq: unknown }>(
      `SELECT id, txid, confirmations, state, reading_seq FROM ${table}
       WHERE transaction_type = 'deposit' AND txid IN (${listOf(part.length)})`,
      part.map((report) => report.txid),
    );
    for (const row of rows) stored.set(row.txid, row);
  }
  const now = new Date().toISOString();
  const fresh: NetworkFacts[] = [];
  const moved: { id: number; confirmations: number; state: string; readingSeq: number }[] = [];
  for (const report of reports) {
    const state = report.conflicted ? 'conflicted' : 'seen';
    const existing = stored.get(report.txid);
    if (!existing) {
      fresh.push(report);
      continue;
    }
    const id = toId(existing.id);
    const storedSeq = Number(existing.reading_seq);
    if (report.readingSeq !== undefined && report.readingSeq < storedSeq) {
      result.set(report.txid, { id, inserted: false, changed: false, stale: true });
      continue;
    }
    const changed = Number(existing.confirmations) !== report.confirmations || existing.state !== state;
    if (changed) moved.push({ id, confirmations: report.confirmations, state, readingSeq: Math.max(storedSeq, report.readingSeq ?? 0) });
    result.set(report.txid, { id, inserted: false, changed, stale: false });
  }
  for (const part of inParts(moved)) {
    // VALUES columns are column1…column4 on both engines; the casts give PostgreSQL their types.
    await scope.tx.run(
      `UPDATE ${table} SET confirmations = v.column2, state = v.column3, reading_seq = v.column4, updated_at = ?
       FROM (VALUES ${part.map(() => '(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT))').join(', ')}) AS v
       WHERE ${table}.id = v.column1`,
      [now, ...part.flatMap((row) => [row.id, row.confirmations, row.state, row.readingSeq])],
    );
  }
  for (const part of inParts(fresh)) {
    const rows = await scope.tx.all<{ id: unknown; txid: string }>(
      `INSERT INTO ${table} (transaction_type, txid, state, confirmations, reading_seq, created_at, updated_at)
       VALUES ${part.map(() => "('deposit', ?, ?, ?, ?, ?, ?)").join(', ')} RETURNING id, txid`,
      part.flatMap((report) => [
        report.txid,
        report.conflicted ? 'conflicted' : 'seen',
        report.confirmations,
        report.readingSeq ?? 0,
        now,
        now,
      ]),
    );
    for (const row of rows) result.set(row.txid, { id: toId(row.id), inserted: true, changed: true, stale: false });
  }
  return result;
}

/** A stored deposit with what its event needs beside the row. */
export interface ExistingDeposit extends Transaction {
  readonly accountId: number;
  readonly accountName: string;
  readonly walletName: string;
  /** Reversal entries written for it so far. */
  readonly reversals: number;
}

/** Key of a deposit: one per network transaction and receiving address. */
export function depositKey(networkTransactionId: number, addressId: number): string {
  return `${networkTransactionId}:${addressId}`;
}

/** Stored deposits of these network transactions, by `depositKey`. */
export async function findExistingDeposits(
  scope: CoinScope,
  networkTransactionIds: readonly number[],
): Promise<Map<string, ExistingDeposit>> {
  const t = scope.context.tables;
  const found = new Map<string, ExistingDeposit>();
  for (const part of inParts(networkTransactionIds)) {
    const rows = await scope.tx.all(
      `SELECT t.*, NULL AS address_text, NULL AS txid, acc.name AS account_name, w.name AS wallet_name,
              (SELECT COUNT(*) FROM ${t.entry} e WHERE e.transaction_id = t.id AND e.kind = 'deposit_reversal') AS reversals
       FROM ${t.transaction} t JOIN ${t.account} acc ON acc.id = t.receiving_account_id JOIN ${t.wallet} w ON w.id = t.wallet_id
       WHERE t.type = 'deposit' AND t.network_transaction_id IN (${listOf(part.length)})`,
      part,
    );
    for (const row of rows) {
      const record = transactionFromRow(row);
      found.set(depositKey(record.networkTransactionId!, toId(row.address_id)), {
        ...record,
        accountId: record.receivingAccountId!,
        accountName: String(row.account_name),
        walletName: String(row.wallet_name),
        reversals: Number(row.reversals),
      });
    }
  }
  return found;
}

/** A deposit row to insert. */
export interface NewDeposit {
  readonly output: { readonly id: number; readonly walletId: number; readonly accountId: number; readonly amount: bigint };
  readonly networkTransactionId: number;
  readonly state: 'incoming' | 'credited';
  readonly creditedAt: string | null;
  readonly now: string;
}

/** Insert new deposit rows (already in their final state); returns their ids by `depositKey`. */
export async function insertDeposits(scope: CoinScope, deposits: readonly NewDeposit[]): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const part of inParts(deposits)) {
    const rows = await scope.tx.all<{ id: unknown; network_transaction_id: unknown; address_id: unknown }>(
      `INSERT INTO ${scope.context.tables.transaction}
         (wallet_id, type, state, amount, receiving_account_id, address_id, network_transaction_id, credited_at, created_at, updated_at)
       VALUES ${part.map(() => "(?, 'deposit', ?, ?, ?, ?, ?, ?, ?, ?)").join(', ')} RETURNING id, network_transaction_id, address_id`,
      part.flatMap((deposit) => [
        deposit.output.walletId,
        deposit.state,
        deposit.output.amount,
        deposit.output.accountId,
        deposit.output.id,
        deposit.networkTransactionId,
        deposit.creditedAt,
        deposit.now,
        deposit.now,
      ]),
    );
    for (const row of rows) ids.set(depositKey(toId(row.network_transaction_id), toId(row.address_id)), toId(row.id));
  }
  return ids;
}

/**
 * Move stored deposits to `state` (credited: `credited_at` now; incoming: cleared), each only
 * from the other state: a row that moved meanwhile is an error, not a second credit.
 */
export async function setDepositStates(
  scope: CoinScope,
  ids: readonly number[],
  state: 'incoming' | 'credited',
  now: string,
): Promise<void> {
  const credit = state === 'credited';
  for (const part of inParts(ids)) {
    const moved = await scope.tx.all<{ id: unknown }>(
      `UPDATE ${scope.context.tables.transaction} SET state = ?, credited_at = ${credit ? '?' : 'NULL'}, updated_at = ?
       WHERE type = 'deposit' AND state = ? AND id IN (${listOf(part.length)}) RETURNING id`,
      [state, ...(credit ? [now] : []), now, credit ? 'incoming' : 'credited', ...part],
    );
    if (moved.length !== part.length) {
      const done = new Set(moved.map((row) => toId(row.id)));
      throw new Error(`deposit ${part.find((id) => !done.has(id))} changed state under us`);
    }
  }
}
