/**
 * The physical limit of one internal transfer: the minimal correct operation, written by hand
 * against the library's own tables, so that the rows it writes pass `verifyLedger`.
 *
 * Minimal and correct means: the debit is conditional (no overdraft, not frozen, right wallet),
 * the credit keeps the balance within 64 bits (not frozen, right wallet), one transaction row,
 * one journal row per side — and nothing else: no look-up by name, no read-back.
 *
 * PostgreSQL: a PL/pgSQL function called in one round trip, autocommit at READ COMMITTED (and,
 * for comparison, the same as one CTE statement, `transferStatement`). The function
 * updates the two accounts in id order, so concurrent transfers in opposite directions queue on
 * the first row instead of deadlocking; an exception (overdraft) undoes the whole call. The
 * batch variant runs the same function over arrays: 100 transfers in one round trip and one
 * transaction. SQLite: the four statements in one BEGIN IMMEDIATE transaction, prepared once.
 */
import type pg from 'pg';
import { INT64_MAX } from '../../src/domain/coins.js';
import type { SqliteStatements } from './raw-db.js';

/** What the transfer touches, for one coin's tables (e.g. `ltc`). */
function tables(coin: string) {
  return { account: `${coin}_account`, transaction: `${coin}_transaction`, entry: `${coin}_entry` };
}

/** The function `bench_transfer(wallet, from, to, amount)` and `bench_transfer_many(wallet, froms[], tos[], amounts[])`. */
function functionDefinitions(coin: string): string[] {
  const t = tables(coin);
  const debit = `UPDATE ${t.account} SET balance = balance - p_amount, updated_at = v_now
      WHERE id = p_from AND wallet_id = p_wallet AND frozen_at IS NULL AND balance >= p_amount;
    IF NOT FOUND THEN RAISE EXCEPTION 'transfer %: insufficient balance or no such account', p_from USING ERRCODE = 'P0001'; END IF;`;
  const credit = `UPDATE ${t.account} SET balance = balance + p_amount, updated_at = v_now
      WHERE id = p_to AND wallet_id = p_wallet AND frozen_at IS NULL AND balance <= ${INT64_MAX} - p_amount;
    IF NOT FOUND THEN RAISE EXCEPTION 'transfer %: receiving account refused', p_to USING ERRCODE = 'P0001'; END IF;`;
  return [
    `CREATE OR REPLACE FUNCTION bench_transfer(p_wallet bigint, p_from bigint, p_to bigint, p_amount bigint)
    RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
      v_now timestamptz := now();
      v_id bigint;
    BEGIN
      IF p_from = p_to OR p_amount <= 0 THEN RAISE EXCEPTION 'invalid transfer' USING ERRCODE = 'P0001'; END IF;
      -- Row locks in id order: the lower account first, whichever side it is.
      IF p_from < p_to THEN
        ${debit}
        ${credit}
      ELSE
        ${credit}
        ${debit}
      END IF;
      INSERT INTO ${t.transaction} (wallet_id, type, state, amount, sending_account_id, receiving_account_id, credited_at, created_at, updated_at)
        VALUES (p_wallet, 'internal', 'done', p_amount, p_from, p_to, v_now, v_now, v_now) RETURNING id INTO v_id;
      INSERT INTO ${t.entry} (account_id, transaction_id, kind, amount, created_at)
        VALUES (p_from, v_id, 'transfer_out', -p_amount, v_now), (p_to, v_id, 'transfer_in', p_amount, v_now);
      RETURN v_id;
    END $$`,
    `CREATE OR REPLACE FUNCTION bench_transfer_many(p_wallet bigint, p_from bigint[], p_to bigint[], p_amount bigint[])
    RETURNS integer LANGUAGE plpgsql AS $$
    BEGIN
      FOR i IN 1 .. coalesce(array_length(p_from, 1), 0) LOOP
        PERFORM bench_transfer(p_wallet, p_from[i], p_to[i], p_amount[i]);
      END LOOP;
      RETURN coalesce(array_length(p_from, 1), 0);
    END $$`,
  ];
}

/**
 * The same transfer as one statement of data-modifying CTEs, for engines without PL/pgSQL. A
 * refused debit writes nothing (every later part selects from it); a refused credit leaves the
 * transaction row without a receiver, which its CHECK rejects, so the whole statement fails.
 * PostgreSQL does not say in which order the CTEs lock their rows, so this is measured with one
 * worker only.
 */
function transferStatement(coin: string): string {
  const t = tables(coin);
  return `WITH debit AS (
      UPDATE ${t.account} SET balance = balance - $4::bigint, updated_at = now()
      WHERE id = $2 AND wallet_id = $1 AND frozen_at IS NULL AND balance >= $4::bigint RETURNING id),
    credit AS (
      UPDATE ${t.account} SET balance = balance + $4::bigint, updated_at = now()
      WHERE id = $3 AND wallet_id = $1 AND frozen_at IS NULL AND balance <= ${INT64_MAX} - $4::bigint
        AND EXISTS (SELECT 1 FROM debit) RETURNING id),
    tx AS (
      INSERT INTO ${t.transaction} (wallet_id, type, state, amount, sending_account_id, receiving_account_id, credited_at, created_at, updated_at)
      SELECT $1, 'internal', 'done', $4::bigint, debit.id, credit.id, now(), now(), now() FROM debit LEFT JOIN credit ON true
      RETURNING id, sending_account_id, receiving_account_id)
    INSERT INTO ${t.entry} (account_id, transaction_id, kind, amount, created_at)
      SELECT sending_account_id, id, 'transfer_out', -$4::bigint, now() FROM tx
      UNION ALL SELECT receiving_account_id, id, 'transfer_in', $4::bigint, now() FROM tx`;
}

/** One transfer's parameters. */
export interface TransferOrder {
  readonly from: number;
  readonly to: number;
  readonly amount: bigint;
}

/** The hand-written limit on PostgreSQL, bound to one wallet. */
export class PostgresLimit {
  private readonly statement: string;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly walletId: string,
    coin: string,
  ) {
    this.statement = transferStatement(coin);
  }

  /** Create the functions (benchmark database only) and find the wallet's id. */
  static async install(pool: pg.Pool, coin: string, walletName: string): Promise<PostgresLimit> {
    for (const sql of functionDefinitions(coin)) await pool.query(sql);
    const wallet = await pool.query<{ id: string }>(`SELECT id FROM ${coin}_wallet WHERE name = $1`, [walletName]);
    const id = wallet.rows[0]?.id;
    if (id === undefined) throw new Error(`no wallet ${walletName}`);
    return new PostgresLimit(pool, id, coin);
  }

  /** One transfer, one round trip. */
  async transfer(order: TransferOrder): Promise<void> {
    await this.pool.query('SELECT bench_transfer($1, $2, $3, $4)', [this.walletId, order.from, order.to, order.amount.toString()]);
  }

  /** One transfer as one CTE statement, one round trip (one worker only: see `transferStatement`). */
  async transferByStatement(order: TransferOrder): Promise<void> {
    const result = await this.pool.query(this.statement, [this.walletId, order.from, order.to, order.amount.toString()]);
    if (result.rowCount !== 2) throw new Error(`transfer ${order.from}: insufficient balance or no such account`);
  }

  /** Many transfers, all or nothing, one round trip. */
  async transferMany(orders: readonly TransferOrder[]): Promise<void> {
    await this.pool.query('SELECT bench_transfer_many($1, $2::bigint[], $3::bigint[], $4::bigint[])', [
      this.walletId,
      orders.map((o) => String(o.from)),
      orders.map((o) => String(o.to)),
      orders.map((o) => o.amount.toString()),
    ]);
  }
}

/** The hand-written limit on SQLite: four statements in one write transaction. */
export class SqliteLimit {
  private readonly sql;

  constructor(
    private readonly db: SqliteStatements,
    coin: string,
    private readonly walletId: bigint,
  ) {
    const t = tables(coin);
    this.sql = {
      debit: `UPDATE ${t.account} SET balance = balance - ?, updated_at = ?
        WHERE id = ? AND wallet_id = ? AND frozen_at IS NULL AND balance >= ?`,
      credit: `UPDATE ${t.account} SET balance = balance + ?, updated_at = ?
        WHERE id = ? AND wallet_id = ? AND frozen_at IS NULL AND balance <= ?`,
      insert: `INSERT INTO ${t.transaction} (wallet_id, type, state, amount, sending_account_id, receiving_account_id, credited_at, created_at, updated_at)
        VALUES (?, 'internal', 'done', ?, ?, ?, ?, ?, ?) RETURNING id`,
      entries: `INSERT INTO ${t.entry} (account_id, transaction_id, kind, amount, created_at)
        VALUES (?, ?, 'transfer_out', ?, ?), (?, ?, 'transfer_in', ?, ?)`,
    };
  }

  transfer({ from, to, amount }: TransferOrder): void {
    const s = this.sql;
    this.db.write(() => {
      const now = new Date().toISOString();
      if (this.db.run(s.debit, [amount, now, from, this.walletId, amount]) !== 1) throw new Error(`transfer ${from}: insufficient balance`);
      if (this.db.run(s.credit, [amount, now, to, this.walletId, INT64_MAX - amount]) !== 1) throw new Error(`transfer ${to}: refused`);
      const id = this.db.get(s.insert, [this.walletId, amount, from, to, now, now, now])!.id as bigint;
      this.db.run(s.entries, [from, id, -amount, now, to, id, amount, now]);
    });
  }
}
