/**
 * PostgreSQL through a pg Pool. Every transaction runs at SERIALIZABLE isolation, so any
 * interleaving of concurrent transactions behaves like some serial order; the price is that
 * PostgreSQL aborts one side of a conflict (SQLSTATE 40001), which the managed transaction retries.
 */
import { userInfo } from 'node:os';
import pg from 'pg';
import { BalanceOutOfRange } from '../../domain/errors.js';
import type { Database, SqlExecutor, SqlRow, SqlValue, TransactionMode } from '../database.js';

/** Options of the PostgreSQL engine. */
export interface PostgresOptions {
  /** `postgresql://user@host:port/database` */
  readonly url: string;
  /** Connections in the pool. */
  readonly poolSize?: number;
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
    text === '{}' ? [] : text.slice(1, -1).split(',').map((item) => BigInt(item));
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

export class PostgresDatabase implements Database {
  readonly engine = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly sqlCache = new Map<string, string>();

  constructor(options: PostgresOptions) {
    this.pool = new pg.Pool({
      connectionString: withDefaultUser(options.url),
      max: options.poolSize ?? 10,
      types: typeParsers(),
    });
    // Without a listener, an idle connection dropped by the server would crash the process.
    this.pool.on('error', (error) => options.onIdleError?.(error));
  }

  async transaction<T>(mode: TransactionMode, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const executor = new PostgresExecutor(client, (sql) => this.translate(sql));
    let broken: Error | undefined;
    try {
      await client.query(
        mode !== 'read' ? 'BEGIN ISOLATION LEVEL SERIALIZABLE' : 'BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY',
      );
      const result = await fn(executor);
      executor.finish();
      await client.query('COMMIT');
      return result;
    } catch (error) {
      executor.finish();
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection itself is unusable: have the pool discard it.
        broken = rollbackError as Error;
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  isConflict(error: unknown): boolean {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' && CONFLICT_CODES.has(code);
  }

  async version(): Promise<string> {
    const result = await this.pool.query<{ v: string }>('SHOW server_version');
    return `PostgreSQL ${result.rows[0]?.v ?? '?'}`;
  }

  async close(): Promise<void> {
    await this.pool.end();
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

/** Executes statements of one open PostgreSQL transaction; refuses use after it ended. */
class PostgresExecutor implements SqlExecutor {
  private open = true;
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
        throw (error as { code?: unknown } | null)?.code === OUT_OF_RANGE_CODE ? new BalanceOutOfRange({ cause: error }) : error;
      });
    this.tail = result.catch(() => undefined);
    return result;
  }
}
