/**
 * SQLite through better-sqlite3. One connection per process; several processes may share the file.
 *
 * - Every INTEGER comes back as bigint (`defaultSafeIntegers`), so amounts above 2^53 stay exact.
 * - `busy_timeout` is 0: a non-zero timeout would block the whole event loop while waiting for
 *   another process's lock. Instead a write transaction waits for the write lock here, asking
 *   again after short asynchronous pauses, for up to `lockWaitMs`. Counting those waits as
 *   conflicts of the managed transaction (as before) let a process that lost the lock eleven
 *   times in a row — about one second under four busy processes — give up with
 *   CannotResolveDatabaseConflict, although nothing had conflicted: the lock was merely taken.
 * - better-sqlite3 is synchronous but our transaction callbacks are async, so transactions of this
 *   process are queued: only one is open on the connection at a time.
 */
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { INT64_MAX, INT64_MIN } from '../../domain/coins.js';
import { BalanceOutOfRange, DatabaseUnavailable } from '../../domain/errors.js';
import type { Database, SqlExecutor, SqlRow, SqlValue, TransactionMode } from '../database.js';

/** Options of the SQLite engine. */
export interface SqliteOptions {
  /** File path, or `:memory:`. */
  readonly path: string;
  /**
   * `full` makes every commit durable across power loss; `normal` is faster in WAL mode but may
   * lose the last commits on power loss (never corrupts).
   */
  readonly synchronous?: 'full' | 'normal';
  /**
   * The clock behind the SQL function `cryptoassets_now_ms()` (the database's clock of the
   * service lease, see store/clock.ts): milliseconds since 1970. Default `Date.now`; a
   * simulation gives its own.
   */
  readonly clock?: () => number;
  /**
   * How long a write transaction waits for another process's write lock before SQLITE_BUSY
   * reaches the managed transaction. Default 10 000 ms.
   */
  readonly lockWaitMs?: number;
}

/** Default of `SqliteOptions.lockWaitMs`. */
export const LOCK_WAIT_DEFAULT_MS = 10_000;

/** Longest pause between two attempts at the write lock: short, so a freed lock is taken soon. */
const LOCK_POLL_MAX_MS = 4;

/** Result codes that mean "another connection holds the lock or moved the snapshot: try again". */
const CONFLICT_CODES = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_RECOVERY', 'SQLITE_LOCKED']);

type Statement = BetterSqlite3.Statement<unknown[], SqlRow>;

export class SqliteDatabase implements Database {
  readonly engine = 'sqlite' as const;
  private readonly connection: BetterSqlite3.Database;
  private readonly statements = new Map<string, Statement>();
  /** Tail of the queue of this process's transactions. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly lockWaitMs: number;
  /** Times a write transaction found the write lock taken and waited (for tests and metrics). */
  lockWaits = 0;

  /**
   * @throws DatabaseUnavailable naming the file when it cannot be opened: its folder does not
   *   exist (it is not created, nor is the file), it is not a SQLite database, permissions.
   */
  constructor(options: SqliteOptions) {
    this.connection = openFile(options.path);
    try {
      this.connection.defaultSafeIntegers(true);
      if (options.path !== ':memory:') this.connection.pragma('journal_mode = WAL');
      this.connection.pragma('foreign_keys = ON');
      this.connection.pragma('busy_timeout = 0');
      this.connection.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    } catch (error) {
      // E.g. SQLITE_NOTADB: the file exists but is something else; the first pragma reads it.
      this.connection.close();
      throw cannotOpen(options.path, error);
    }
    this.lockWaitMs = options.lockWaitMs ?? LOCK_WAIT_DEFAULT_MS;
    const clock = options.clock ?? Date.now;
    this.connection.function('cryptoassets_now_ms', { deterministic: false, safeIntegers: true }, () => BigInt(Math.floor(clock())));
  }

  transaction<T>(mode: TransactionMode, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.runTransaction(mode, fn));
    // The queue must go on whether this transaction succeeds or not.
    this.queue = run.catch(() => undefined);
    return run;
  }

  isConflict(error: unknown): boolean {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' && CONFLICT_CODES.has(code);
  }

  async version(): Promise<string> {
    const row = this.connection.prepare('SELECT sqlite_version() AS v').get() as { v: string };
    return `SQLite ${row.v}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    this.connection.close();
  }

  private async runTransaction<T>(mode: TransactionMode, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('the database is closed');
    // The pragma is a no-op inside a transaction, so it is switched before BEGIN and back after.
    if (mode === 'schema') this.connection.pragma('foreign_keys = OFF');
    try {
      if (mode === 'read') this.connection.exec('BEGIN DEFERRED');
      else await this.beginImmediate();
      const executor = new SqliteExecutor(this, mode);
      try {
        const result = await fn(executor);
        executor.finish();
        if (mode === 'schema') this.checkForeignKeys();
        this.connection.exec('COMMIT');
        return result;
      } catch (error) {
        executor.finish();
        // A failed COMMIT (SQLITE_BUSY) leaves the transaction open; a failed statement may not.
        if (this.connection.inTransaction) this.connection.exec('ROLLBACK');
        throw error;
      }
    } finally {
      if (mode === 'schema') this.connection.pragma('foreign_keys = ON');
    }
  }

  /**
   * BEGIN IMMEDIATE, waiting while another process holds the write lock. Nothing has run yet, so
   * waiting is safe; the pauses are asynchronous, so this process's event loop keeps serving.
   * @throws the last SQLITE_BUSY when the lock stayed taken for `lockWaitMs`.
   */
  private async beginImmediate(): Promise<void> {
    const started = performance.now();
    for (let attempt = 0; ; attempt++) {
      try {
        this.connection.exec('BEGIN IMMEDIATE');
        return;
      } catch (error) {
        if (!isBusy(error) || performance.now() - started >= this.lockWaitMs) throw error;
        if (attempt === 0) this.lockWaits++;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(LOCK_POLL_MAX_MS, 2 ** attempt)));
      }
    }
  }

  /** A rebuilt table must leave every reference intact, or the migration does not commit. */
  private checkForeignKeys(): void {
    const broken = this.connection.pragma('foreign_key_check') as unknown[];
    if (broken.length > 0) throw new Error(`a migration left ${broken.length} broken foreign keys; rolled back`);
    // Statements prepared against the old tables must not outlive them.
    this.statements.clear();
  }

  /** @internal */
  statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.connection.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_RECOVERY';
}

/** Open (creating it if missing) a database file whose folder exists. */
function openFile(path: string): BetterSqlite3.Database {
  if (path !== ':memory:' && path !== '') {
    const folder = dirname(resolve(path));
    const kind = statSync(folder, { throwIfNoEntry: false });
    if (!kind) throw new DatabaseUnavailable(`cannot open SQLite file ${path}: the folder ${folder} does not exist`);
    if (!kind.isDirectory()) throw new DatabaseUnavailable(`cannot open SQLite file ${path}: ${folder} is not a folder`);
  }
  try {
    return new BetterSqlite3(path);
  } catch (error) {
    throw cannotOpen(path, error);
  }
}

function cannotOpen(path: string, error: unknown): DatabaseUnavailable {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const reason = code === 'SQLITE_CANTOPEN' ? `${message} (does this user have permission to create and write it?)` : message;
  return new DatabaseUnavailable(`cannot open SQLite file ${path}: ${reason.replace(/\s*[\r\n]+\s*/g, ' ')}`, { cause: error });
}

/** Executes statements of one open SQLite transaction; refuses use after the transaction ended. */
class SqliteExecutor implements SqlExecutor {
  private open = true;

  constructor(
    private readonly database: SqliteDatabase,
    private readonly mode: TransactionMode,
  ) {}

  finish(): void {
    this.open = false;
  }

  async all<T extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.execute(sql, params, (statement) => {
      if (!statement.reader) {
        statement.run(...params);
        return [];
      }
      return statement.all(...params) as T[];
    });
  }

  async get<T extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.execute(sql, params, (statement) =>
      statement.reader ? statement.all(...params).length : statement.run(...params).changes,
    );
  }

  private execute<R>(sql: string, params: readonly SqlValue[], fn: (statement: Statement) => R): R {
    const statement = this.prepare(sql);
    try {
      return fn(statement);
    } catch (error) {
      throw isInt64Overflow(error, params) ? new BalanceOutOfRange({ cause: error }) : error;
    }
  }

  private prepare(sql: string): Statement {
    if (!this.open) throw new Error('a transaction executor was used after its transaction ended');
    const statement = this.database.statement(sql);
    if (this.mode === 'read' && !statement.readonly) {
      throw new Error('a read-only transaction attempted to write');
    }
    return statement;
  }
}

/**
 * The two ways SQLite reports a value beyond 64 bits: SUM() fails with "integer overflow", and
 * better-sqlite3 refuses to bind a bigint beyond 64 bits with a RangeError. (Plain arithmetic that
 * overflows silently becomes a REAL instead; the ledger's range conditions keep that from happening.)
 */
function isInt64Overflow(error: unknown, params: readonly SqlValue[]): boolean {
  if (error instanceof BetterSqlite3.SqliteError) return error.message === 'integer overflow';
  return error instanceof RangeError && params.some((param) => typeof param === 'bigint' && (param > INT64_MAX || param < INT64_MIN));
}
