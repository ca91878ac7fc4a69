/**
 * Baseline access to SQLite: better-sqlite3 used directly, with none of the library's code,
 * configured like the library configures it (WAL, foreign keys on, busy_timeout 0, the same
 * `synchronous`, integers as bigint), statements prepared once and cached.
 */
import BetterSqlite3 from 'better-sqlite3';

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
