/**
 * Versioned migrations. Each coin has its own set of tables (`btc_wallet`, `btc_account`, …) and
 * its own migration history in `cryptoassets_migration`, so a coin added to the configuration later
 * gets its tables on the next `initialize-database` without touching the others.
 *
 * Each migration runs in its own write transaction together with its history row; both engines
 * have transactional DDL, so a migration is applied entirely or not at all.
 */
import { COIN_CODE_PATTERN } from '../domain/coins.js';
import type { Database, SqlExecutor } from './database.js';
import { runManagedTransaction, RETRY_POLICY_DEFAULT } from './managed-transaction.js';
import { POSTGRES_COIN_MIGRATIONS, POSTGRES_GLOBAL_MIGRATIONS } from './postgres/schema.js';
import { SQLITE_COIN_MIGRATIONS, SQLITE_GLOBAL_MIGRATIONS } from './sqlite/schema.js';

/** Table names of one coin. */
export interface CoinTables {
  readonly wallet: string;
  readonly account: string;
  readonly address: string;
  readonly networkTransaction: string;
  readonly transaction: string;
  readonly entry: string;
  /** One row: the chain cursor and the newest tip any reading was applied at (schema 3). */
  readonly chainState: string;
}

/** Table names of a coin; the code is checked because it becomes part of SQL identifiers. */
export function coinTables(coinCode: string): CoinTables {
  if (!COIN_CODE_PATTERN.test(coinCode)) throw new Error(`unsafe coin code for table names: ${coinCode}`);
  return {
    wallet: `${coinCode}_wallet`,
    account: `${coinCode}_account`,
    address: `${coinCode}_address`,
    networkTransaction: `${coinCode}_network_transaction`,
    transaction: `${coinCode}_transaction`,
    entry: `${coinCode}_entry`,
    chainState: `${coinCode}_chain_state`,
  };
}

/** Names of a coin's PostgreSQL functions (schema 5): one transfer, a batch of transfers, a batch of withdrawals. */
export interface CoinFunctions {
  readonly transfer: string;
  readonly transferMany: string;
  readonly withdrawMany: string;
}

/** The functions of the coin whose tables these are. */
export function coinFunctions(tables: CoinTables): CoinFunctions {
  const coinCode = tables.wallet.slice(0, -'_wallet'.length);
  return { transfer: `${coinCode}_transfer`, transferMany: `${coinCode}_transfer_many`, withdrawMany: `${coinCode}_withdraw_many` };
}

/** One step of a coin's schema history. */
export interface CoinMigration {
  /** 1, 2, 3 … without gaps. */
  readonly version: number;
  readonly name: string;
  readonly statements: (tables: CoinTables) => string[];
  /**
   * SQLite only: the migration rebuilds tables that others reference (the only way SQLite can
   * change a CHECK constraint), so it runs with foreign-key enforcement off, checked with
   * `foreign_key_check` before it commits.
   */
  readonly rebuildsTables?: boolean;
}

/** What `migrate` did for one coin (or, with `coin` = GLOBAL_SCOPE, for the shared tables). */
export interface MigrationResult {
  readonly coin: string;
  readonly applied: readonly number[];
  readonly version: number;
}

const HISTORY_TABLE = 'cryptoassets_migration';

/** History scope of the tables shared by all coins; coin codes cannot take this shape. */
export const GLOBAL_SCOPE = '_global';

function historyTableSql(database: Database): string {
  const timestamp = database.engine === 'postgres' ? 'TIMESTAMPTZ' : 'TEXT';
  return `CREATE TABLE IF NOT EXISTS ${HISTORY_TABLE} (
    scope TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at ${timestamp} NOT NULL,
    PRIMARY KEY (scope, version)
  )`;
}

function migrationsFor(database: Database, scope: string): readonly CoinMigration[] {
  if (scope === GLOBAL_SCOPE) return database.engine === 'postgres' ? POSTGRES_GLOBAL_MIGRATIONS : SQLITE_GLOBAL_MIGRATIONS;
  return database.engine === 'postgres' ? POSTGRES_COIN_MIGRATIONS : SQLITE_COIN_MIGRATIONS;
}

/** Latest schema version this code knows for a scope (a coin code, or GLOBAL_SCOPE). */
export function latestSchemaVersion(database: Database, scope: string): number {
  return migrationsFor(database, scope).at(-1)?.version ?? 0;
}

/**
 * Bring the tables of each coin up to the latest version. Safe to run concurrently from several
 * processes: PostgreSQL serialises whole runs with a session-level advisory lock taken before any
 * of their transactions begins (see `Database.exclusive`), SQLite each migration with its write lock.
 */
export async function migrate(database: Database, coinCodes: readonly string[]): Promise<MigrationResult[]> {
  if (database.exclusive) return database.exclusive(HISTORY_TABLE, (locked) => migrateUnlocked(locked, coinCodes));
  return migrateUnlocked(database, coinCodes);
}

async function migrateUnlocked(database: Database, coinCodes: readonly string[]): Promise<MigrationResult[]> {
  await runManagedTransaction(database, (tx) => tx.run(historyTableSql(database)).then(() => undefined), {
    mode: 'write',
    policy: RETRY_POLICY_DEFAULT,
  });
  const results: MigrationResult[] = [];
  for (const coin of [GLOBAL_SCOPE, ...coinCodes]) {
    const tables = coinTables(coin === GLOBAL_SCOPE ? 'cryptoassets' : coin);
    const applied: number[] = [];
    for (const migration of migrationsFor(database, coin)) {
      const didApply = await runManagedTransaction(database, (tx) => applyOnce(database, tx, coin, tables, migration), {
        mode: migration.rebuildsTables ? 'schema' : 'write',
        policy: RETRY_POLICY_DEFAULT,
      });
      if (didApply) applied.push(migration.version);
    }
    results.push({ coin, applied, version: latestSchemaVersion(database, coin) });
  }
  return results;
}

/** The schema version of each coin as recorded in the database (0 when never migrated). */
export async function schemaVersions(database: Database, coinCodes: readonly string[]): Promise<Record<string, number>> {
  return database.transaction('read', async (tx) => {
    const versions: Record<string, number> = {};
    const exists = await historyTableExists(database, tx);
    for (const coin of [GLOBAL_SCOPE, ...coinCodes]) {
      const row = exists
        ? await tx.get<{ v: bigint | number | null }>(`SELECT MAX(version) AS v FROM ${HISTORY_TABLE} WHERE scope = ?`, [coin])
        : undefined;
      versions[coin] = Number(row?.v ?? 0);
    }
    return versions;
  });
}

async function historyTableExists(database: Database, tx: SqlExecutor): Promise<boolean> {
  const row =
    database.engine === 'postgres'
      ? await tx.get(`SELECT 1 AS ok FROM pg_tables WHERE tablename = ? AND schemaname = current_schema()`, [HISTORY_TABLE])
      : await tx.get(`SELECT 1 AS ok FROM sqlite_master WHERE type = 'table' AND name = ?`, [HISTORY_TABLE]);
  return row !== undefined;
}

async function applyOnce(
  database: Database,
  tx: SqlExecutor,
  coin: string,
  tables: CoinTables,
  migration: CoinMigration,
): Promise<boolean> {
  if (database.engine === 'postgres') {
    // Two processes migrating at once would both see "not applied" and race on CREATE TABLE.
    // `migrate` holds a session lock already; this one guards a Database without `exclusive`
    // (a wrapper), where it serialises the writes but, taken after the SERIALIZABLE snapshot, can
    // still let a second run fail on "already exists" rather than see the first one's tables.
    await tx.get(`SELECT pg_advisory_xact_lock(hashtext(?)) AS locked`, [`${HISTORY_TABLE}:${coin}`]);
  }
  const done = await tx.get(`SELECT 1 AS done FROM ${HISTORY_TABLE} WHERE scope = ? AND version = ?`, [coin, migration.version]);
  if (done) return false;
  for (const statement of migration.statements(tables)) await tx.run(statement);
  await tx.run(`INSERT INTO ${HISTORY_TABLE} (scope, version, name, applied_at) VALUES (?, ?, ?, ?)`, [
    coin,
    migration.version,
    migration.name,
    new Date().toISOString(),
  ]);
  return true;
}
