/**
 * Baseline database access: the drivers used directly (better-sqlite3, pg), with none of the
 * library's code. Configured like the library configures them (SQLite: WAL, foreign keys on,
 * busy_timeout 0, same `synchronous`, integers as bigint; PostgreSQL: every transaction
 * SERIALIZABLE), and for PostgreSQL the same conflict handling: re-run on SQLSTATE 40001
 * (serialization failure) and 40P01 (deadlock) after a "full jitter" pause drawn from
 * [0, min(250 ms, 2 ms · 2^(attempt-1))], at most 10 re-runs — the library's default policy.
 */
import BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';

export type Row = Record<string, unknown>;
export type Param = string | number | bigint | null;

/** Open a SQLite file the way the library does. */
export function openRawSqlite(path: string, synchronous: 'full' | 'normal'): BetterSqlite3.Database {
  const db = new BetterSqlite3(path);
  db.defaultSafeIntegers(true);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 0');
  db.pragma(`synchronous = ${synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
  return db;
}

/** Prepared statements by SQL text. */
export class SqliteStatements {
  private readonly cache = new Map<string, BetterSqlite3.Statement<unknown[], Row>>();
  constructor(readonly db: BetterSqlite3.Database) {}

  get(sql: string, params: readonly Param[]): Row | undefined {
    return this.statement(sql).get(...params);
  }

  all(sql: string, params: readonly Param[]): Row[] {
    return this.statement(sql).all(...params);
  }

  run(sql: string, params: readonly Param[]): number {
    return this.statement(sql).run(...params).changes;
  }

  /** BEGIN IMMEDIATE … COMMIT around `fn` (ROLLBACK if it throws). */
  write<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  /** A deferred read transaction around `fn`. */
  read<T>(fn: () => T): T {
    this.db.exec('BEGIN DEFERRED');
    try {
      return fn();
    } finally {
      if (this.db.inTransaction) this.db.exec('COMMIT');
    }
  }

  private statement(sql: string): BetterSqlite3.Statement<unknown[], Row> {
    let statement = this.cache.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.cache.set(sql, statement);
    }
    return statement;
  }
}

/** `?` placeholders as `$1, $2, …` (the baseline SQL has no `?` in literals). */
const numbered = new Map<string, string>();
export function dollarParams(sql: string): string {
  let text = numbered.get(sql);
  if (text === undefined) {
    let index = 0;
    text = sql.replace(/\?/g, () => `$${++index}`);
    numbered.set(sql, text);
  }
  return text;
}

/** One open PostgreSQL transaction of the baseline. */
export class PgTx {
  constructor(private readonly client: pg.PoolClient) {}

  async get(sql: string, params: readonly Param[]): Promise<Row | undefined> {
    return (await this.client.query(dollarParams(sql), params as unknown[])).rows[0] as Row | undefined;
  }

  async run(sql: string, params: readonly Param[]): Promise<number> {
    return (await this.client.query(dollarParams(sql), params as unknown[])).rowCount ?? 0;
  }
}

export const PG_RETRIES = 10;
const BACKOFF_BASE_MS = 2;
const BACKOFF_MAX_MS = 250;
const RETRY_CODES = new Set(['40001', '40P01']);

/** Counters of the baseline's PostgreSQL transactions. */
export class RawStats {
  committed = 0;
  retries = 0;
  gaveUp = 0;
}

/**
 * Run `fn` in a SERIALIZABLE transaction on a pooled connection, re-running it on 40001/40P01
 * with the library's back-off. Returns undefined when it gave up.
 */
export async function pgSerializable<T>(pool: pg.Pool, stats: RawStats, fn: (tx: PgTx) => Promise<T>): Promise<T | undefined> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
      const result = await fn(new PgTx(client));
      await client.query('COMMIT');
      stats.committed++;
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
      const code = (error as { code?: string }).code;
      if (code === undefined || !RETRY_CODES.has(code)) throw error;
    } finally {
      client.release(broken);
    }
    if (attempt > PG_RETRIES) {
      stats.gaveUp++;
      return undefined;
    }
    stats.retries++;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
    await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
  }
}
