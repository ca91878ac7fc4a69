/**
 * PostgreSQL through a pg Pool. Every transaction runs at SERIALIZABLE isolation, so any
 * interleaving of concurrent transactions behaves like some serial order; the price is that
 * PostgreSQL aborts one side of a conflict (SQLSTATE 40001), which the managed transaction retries.
 */
import { userInfo } from 'node:os';
import pg from 'pg';
import { BalanceOutOfRange, CryptoAssetsError, DatabaseUnavailable } from '../../domain/errors.js';
import { redactUrlPassword } from '../../domain/urls.js';
import type { Database, SqlExecutor, SqlRow, SqlValue, TransactionMode } from '../database.js';

/** Options of the PostgreSQL engine. */
export interface PostgresOptions {
  /** `postgresql://user@host:port/database` */
  readonly url: string;
  /** Connections in the pool. */
  readonly poolSize?: number;
  /**
   * Time limit of opening one connection, start-up handshake included. Default 10 000 ms. Without
   * it, a server that accepts but never answers (not PostgreSQL, or hung) blocks forever.
   */
  readonly connectTimeoutMs?: number;
  /** Called when an idle pooled connection fails (the pool replaces it). */
  readonly onIdleError?: (error: Error) => void;
}

/**
 * SQLSTATEs that re-running the whole transaction may resolve:
 * 40001 serialization failure, 40P01 deadlock, and 23505 unique violation — under SERIALIZABLE a
 * concurrent insert of the same key that our own earlier read did not see surfaces as 23505; every
 * insert of ours checks for the key first, so the re-run finds the row and answers accordingly.
 */
const CONFLICT_CODES = new Set(['40001', '40P01', '23505']);

/**
 * SQLSTATE 22003 numeric_value_out_of_range: a result or parameter beyond its column type, e.g.
 * "bigint out of range" or "value … is out of range for type bigint". Amounts, balances and their
 * sums are the only values of the ledger that get that large, so it becomes the typed
 * BalanceOutOfRange rather than escaping as a raw driver error; the cause keeps the engine's words.
 */
const OUT_OF_RANGE_CODE = '22003';

const OID_INT8 = 20;
const OID_INT8_ARRAY = 1016;
const OID_NUMERIC = 1700;

/** int8 and integral numerics (e.g. SUM of bigint) become bigint instead of strings or floats. */
function typeParsers(): pg.CustomTypesConfig {
  const parseBigint = (text: string): bigint => BigInt(text);
  const parseNumeric = (text: string): bigint | string => (/^-?\d+$/.test(text) ? BigInt(text) : text);
  const parseBigintArray = (text: string): bigint[] =>
    text === '{}'
      ? []
      : text
          .slice(1, -1)
          .split(',')
          .map((item) => BigInt(item));
  return {
    getTypeParser: ((oid: number, format?: string) => {
      if (oid === OID_INT8) return parseBigint;
      if (oid === OID_NUMERIC) return parseNumeric;
      if (oid === OID_INT8_ARRAY) return parseBigintArray;
      return pg.types.getTypeParser(oid, format as 'text');
    }) as pg.CustomTypesConfig['getTypeParser'],
  };
}

/** Rewrite `?` placeholders as `$1, $2, …`. Our SQL never has `?` inside literals. */
export function numberPlaceholders(sql: string): string {
  let index = 0;
  return sql.replace(/\?/g, () => `$${++index}`);
}

/**
 * Like libpq, fall back to the operating-system user when neither the URL nor PGUSER names one;
 * pg itself would use $USER, which services and CI runners often do not set. (pg lets the URL
 * override a separate `user` option, so the user goes into the URL.)
 */
export function withDefaultUser(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (parsed.username || process.env.PGUSER || process.env.USER) return url;
  parsed.username = userInfo().username;
  return parsed.toString();
}

/** Default time limit of opening one connection. */
export const CONNECT_TIMEOUT_DEFAULT_MS = 10_000;

/**
 * How each mode begins: SERIALIZABLE unless the caller serialises itself (`committed`, the event
 * sequencer: several statements under an advisory lock). `autocommit` below is the other way out
 * of SERIALIZABLE, for one statement and no BEGIN at all; why they stay two: store/database.ts.
 */
const BEGIN: Record<TransactionMode, string> = {
  write: 'BEGIN ISOLATION LEVEL SERIALIZABLE',
  schema: 'BEGIN ISOLATION LEVEL SERIALIZABLE',
  read: 'BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY',
  committed: 'BEGIN ISOLATION LEVEL READ COMMITTED',
};

export class PostgresDatabase implements Database {
  readonly engine = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly sqlCache = new Map<string, string>();
  /** The URL as configured, for messages (its password is redacted before it is shown). */
  private readonly url: string;
  private readonly connectTimeoutMs: number;
  private closed = false;

  constructor(options: PostgresOptions) {
    this.url = options.url;
    this.connectTimeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_DEFAULT_MS;
    const connectionTimeoutMillis = this.connectTimeoutMs;
    this.pool = new pg.Pool({
      connectionString: withDefaultUser(options.url),
      max: options.poolSize ?? 10,
      types: typeParsers(),
      // The limit goes to each connection's start-up only: given to the pool, it would also
      // limit how long a transaction may wait for a free pooled connection under load.
      Client: class extends pg.Client {
        constructor(config?: pg.ClientConfig) {
          super({ ...config, connectionTimeoutMillis });
        }
      },
    });
    // Without a listener, an idle connection dropped by the server would crash the process.
    this.pool.on('error', (error) => options.onIdleError?.(error));
  }

  async transaction<T>(mode: TransactionMode, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      return await this.runTransaction(client, mode, fn, (error) => (broken = error));
    } finally {
      client.release(broken);
    }
  }

  /** One statement, no BEGIN: the ledger functions' one round trip (not a `committed` transaction, see database.ts). */
  async autocommit<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.connect();
    const executor = new PostgresExecutor(client, (sql) => this.translate(sql));
    let broken: Error | undefined;
    try {
      return await fn(executor);
    } catch (error) {
      // The server's refusal of a statement (it has a severity) or the ledger's own typed error
      // leaves the connection usable; any other failure (reset, timeout) may not, so the pool
      // discards that connection.
      if (error instanceof Error && !('severity' in error) && !(error instanceof CryptoAssetsError)) broken = error;
      throw error;
    } finally {
      executor.finish();
      client.release(broken);
    }
  }

  isConflict(error: unknown): boolean {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' && CONFLICT_CODES.has(code);
  }

  async version(): Promise<string> {
    const client = await this.connect();
    try {
      const result = await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
      return `PostgreSQL ${result.rows[0]?.v ?? '?'}`;
    } finally {
      client.release();
    }
  }

  /**
   * Run `fn` holding a session-level advisory lock named `name` (per schema: the lock key includes
   * `current_schema()`), on one dedicated connection: every transaction of the database `fn` is
   * given runs on that connection. The lock is taken before any of those transactions starts, so
   * each of them sees everything committed by whoever held the lock before (a transaction-level
   * lock taken inside a SERIALIZABLE transaction comes after its snapshot, and does not).
   * Ending the connection releases the lock even if the unlock fails.
   */
  async exclusive<T>(name: string, fn: (database: Database) => Promise<T>): Promise<T> {
    const client = await this.connect();
    let broken: Error | undefined;
    const key = `hashtext(coalesce(current_schema(), '') || ':' || $1::text)`;
    try {
      await client.query(`SELECT pg_advisory_lock(${key}) AS locked`, [name]);
      try {
        return await fn(new PinnedPostgresDatabase(this, client, (error) => (broken = error)));
      } finally {
        await client.query(`SELECT pg_advisory_unlock(${key}) AS unlocked`, [name]).catch((error: unknown) => {
          broken = error as Error;
        });
      }
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool.end();
  }

  /** @internal One transaction on `client`; `discard` is told when the connection is unusable afterwards. */
  async runTransaction<T>(
    client: pg.PoolClient,
    mode: TransactionMode,
    fn: (tx: SqlExecutor) => Promise<T>,
    discard: (error: Error) => void,
  ): Promise<T> {
    const executor = new PostgresExecutor(client, (sql) => this.translate(sql));
    try {
      await client.query(BEGIN[mode]);
      const result = await fn(executor);
      executor.finish();
      const committed = await client.query('COMMIT');
      // PostgreSQL answers COMMIT of a transaction aborted by an error with ROLLBACK, not with an
      // error: a callback that caught that error (taking it for a refusal) would otherwise be told
      // its work was committed. Its first error is raised instead, so a serialization failure is
      // re-run as if the callback had let it through.
      if (committed.command === 'ROLLBACK') {
        const cause = executor.firstError;
        throw cause instanceof Error
          ? cause
          : new Error('the transaction was rolled back by the database at COMMIT; nothing of it was written');
      }
      return result;
    } catch (error) {
      executor.finish();
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection itself is unusable: have the pool discard it.
        discard(rollbackError as Error);
      }
      throw error;
    }
  }

  /** A pooled connection. @throws DatabaseUnavailable naming the database when none can be opened. */
  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      if (this.closed) throw error;
      throw new DatabaseUnavailable(
        `cannot connect to PostgreSQL at ${redactUrlPassword(this.url)}: ${describeConnectError(error, this.connectTimeoutMs, this.url)}`,
        { cause: error },
      );
    }
  }

  private translate(sql: string): string {
    let translated = this.sqlCache.get(sql);
    if (translated === undefined) {
      translated = numberPlaceholders(sql);
      this.sqlCache.set(sql, translated);
    }
    return translated;
  }
}

/** The database as seen while `exclusive` holds its lock: transactions one at a time on its connection. */
class PinnedPostgresDatabase implements Database {
  readonly engine = 'postgres' as const;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly owner: PostgresDatabase,
    private readonly client: pg.PoolClient,
    private readonly discard: (error: Error) => void,
  ) {}

  transaction<T>(mode: TransactionMode, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.owner.runTransaction(this.client, mode, fn, this.discard));
    this.queue = run.catch(() => undefined);
    return run;
  }

  isConflict(error: unknown): boolean {
    return this.owner.isConflict(error);
  }

  version(): Promise<string> {
    return this.owner.version();
  }

  /** The connection belongs to `exclusive`, which releases it. */
  async close(): Promise<void> {}
}

/**
 * Why a connection could not be opened, in words an operator can act on. `url`'s password is
 * removed from anything a driver or server said, in case it quoted it.
 */
function describeConnectError(error: unknown, timeoutMs: number, url: string): string {
  const inner = error instanceof AggregateError && error.errors.length > 0 ? (error.errors[0] as unknown) : error;
  const code = (inner as { code?: unknown } | null)?.code;
  const message = inner instanceof Error ? inner.message : String(inner);
  let reason: string;
  if (message === 'timeout expired' || /connection timeout/i.test(message)) {
    reason = `no answer within ${timeoutMs / 1000} s (is a PostgreSQL server listening there? database.connect_timeout sets the limit)`;
  } else if (code === 'ECONNREFUSED') {
    reason = 'connection refused (is the server running, and is that its port?)';
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    reason = 'unknown host name';
  } else if (/^Connection terminated/.test(message) || code === 'ECONNRESET' || code === 'EPIPE') {
    reason = 'the server closed the connection during start-up (is it a PostgreSQL server?)';
  } else {
    reason = typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
  }
  let password = '';
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    // Not a URL the driver could use either; nothing to remove.
  }
  const text = reason.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  // (A password of one or two characters is no secret worth mangling every message for.)
  return password.length >= 3 ? text.split(password).join('***') : text;
}

/** Executes statements of one open PostgreSQL transaction; refuses use after it ended. */
class PostgresExecutor implements SqlExecutor {
  private open = true;
  /** The first statement error of this transaction, whether or not its caller caught it. */
  firstError: unknown;
  /** A transaction is one connection: statements run one after another even if issued together. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly client: pg.PoolClient,
    private readonly translate: (sql: string) => string,
  ) {}

  finish(): void {
    this.open = false;
  }

  async all<T extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    const result = await this.query(sql, params);
    return result.rows as T[];
  }

  async get<T extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    const result = await this.query(sql, params);
    return result.rowCount ?? 0;
  }

  private query(sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult> {
    if (!this.open) throw new Error('a transaction executor was used after its transaction ended');
    const result = this.tail
      .then(() => this.client.query(this.translate(sql), params as unknown[]))
      .catch((error: unknown) => {
        const raised = (error as { code?: unknown } | null)?.code === OUT_OF_RANGE_CODE ? new BalanceOutOfRange({ cause: error }) : error;
        this.firstError ??= raised;
        throw raised;
      });
    this.tail = result.catch(() => undefined);
    return result;
  }
}
