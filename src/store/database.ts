/**
 * The store's view of a database engine: statements with `?` placeholders, run inside one
 * transaction at a time. Everything engine-specific lives in `sqlite/` and `postgres/`; the ledger
 * only sees these interfaces.
 *
 * We use a thin executor rather than a query builder because the ledger's SQL is small, must be
 * identical on both engines (so the benchmark baseline can issue the very same statements), and
 * per-coin table names do not fit a builder's static schema types.
 */

/**
 * A value bound to a placeholder. Amounts are bigint; timestamps are ISO-8601 UTC text. Arrays
 * (PostgreSQL only: the arguments of the ledger functions) become array literals.
 */
export type SqlValue = string | number | bigint | null | readonly (string | number | bigint | boolean | null)[];

/** A row as the engine returns it: integers as bigint, text as string, timestamps as Date or text. */
export type SqlRow = Record<string, unknown>;

/** Runs statements inside one open transaction. */
export interface SqlExecutor {
  /** Rows of a query (or of a statement with RETURNING). */
  all<T extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** The first row, or undefined. */
  get<T extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** A statement without rows; returns how many rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

/**
 * Write transactions take the write lock up front; read-only ones never write. `schema` is a
 * write transaction for a migration that rebuilds tables: on SQLite it runs with foreign-key
 * enforcement off and checks every foreign key before it commits (elsewhere it is `write`).
 * `committed` is a write transaction at READ COMMITTED on PostgreSQL (each statement sees what
 * is committed when it starts, and no predicate locks make other transactions abort), for
 * writers that keep their own invariant with a lock they take first; on SQLite it is `write`.
 * It is not `Database.autocommit`, and cannot replace it nor be replaced by it: `committed` is a
 * real transaction (BEGIN … COMMIT, several statements atomic, a transaction-level advisory lock
 * held to the end, and a fenced database runs the lease check in it), used by the event
 * sequencer; `autocommit` sends one self-contained statement with no BEGIN (one round trip instead
 * of three, and no fence can share it), used by the ledger functions. See docs/architecture.md.
 */
export type TransactionMode = 'write' | 'read' | 'schema' | 'committed';

/** Names of the engines we support. */
export type EngineName = 'sqlite' | 'postgres';

/** One connection (SQLite) or pool (PostgreSQL) to the ledger's database. */
export interface Database {
  readonly engine: EngineName;

  /**
   * Run `fn` in one transaction: SERIALIZABLE on PostgreSQL, BEGIN IMMEDIATE (write) or a
   * deferred read transaction on SQLite. Commits when `fn` resolves, rolls back when it throws.
   * Exactly one attempt; see `runManagedTransaction` for retries.
   */
  transaction<T>(mode: TransactionMode, fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;

  /** True when `error` is a conflict that re-running the whole transaction may resolve. */
  isConflict(error: unknown): boolean;

  /**
   * Run `fn` holding an exclusive lock named `name` across processes, with a view of this database
   * whose transactions all see what earlier holders of the lock committed. PostgreSQL only (a
   * session-level advisory lock on a dedicated connection); SQLite's write lock already serialises
   * writers, so it has none.
   */
  exclusive?<T>(name: string, fn: (database: Database) => Promise<T>): Promise<T>;

  /**
   * Run `fn` on a connection outside any explicit transaction: each statement it issues commits
   * on its own, at the engine's default isolation (READ COMMITTED on PostgreSQL). For callers
   * that need exactly one statement — one server-side function call that keeps its invariants
   * with row locks. PostgreSQL only. Not a `TransactionMode`: it has no transaction for the lease
   * fence to run in (a fenced database has no `autocommit`, so fenced writers take a managed
   * transaction instead), and it would cost the BEGIN and COMMIT round trips the ledger functions
   * exist to save; `committed` is the mode for several statements below SERIALIZABLE.
   */
  autocommit?<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;

  /** Human-readable engine version, for status pages and benchmarks. */
  version(): Promise<string>;

  /** Close connections; pending transactions finish first. */
  close(): Promise<void>;
}
