/**
 * The application object: one database, the configured coins with their backends, and managed
 * transactions over them. Create one per process and share it.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { CoinBackend } from './backends/backend.js';
import { checkCoinDefinition, type CoinDefinition, type NetworkParams } from './domain/coins.js';
import { InvalidState, UnknownCoin } from './domain/errors.js';
import { EventsApi } from './events/events-api.js';
import { CoinBook } from './ledger/coin-book.js';
import { CoinLedger, type LedgerLog } from './ledger/coin-ledger.js';
import type { CoinContext } from './ledger/context.js';
import { auditCoin, noBackendAudit, type NodeAuditOptions } from './ledger/node-audit.js';
import type { CoinCheck, LedgerCheck } from './ledger/verify.js';
import type { Database, SqlExecutor, TransactionMode } from './store/database.js';
import { RETRY_POLICY_DEFAULT, type RetryPolicy, runManagedTransaction, TransactionStats } from './store/managed-transaction.js';
import { coinTables, GLOBAL_SCOPE, latestSchemaVersion, migrate, type MigrationResult, schemaVersions } from './store/migrations.js';
import { type DatabaseOptions, openDatabase } from './store/open.js';

/** One coin as the application runs it. */
export interface CoinSetup {
  /** Rules of the coin (threshold and tracking limit as configured). */
  readonly coin: CoinDefinition;
  /** The network this installation runs on. */
  readonly network: NetworkParams;
  /** Talks to the coin's network; optional for pure ledger work. */
  readonly backend?: CoinBackend;
}

/** Options of `CryptoAssets.open`. */
export interface CryptoAssetsOptions {
  readonly database: DatabaseOptions | Database;
  readonly coins: readonly CoinSetup[];
  /** Conflict retries of managed transactions; default 10 re-runs with jittered back-off. */
  readonly retry?: Partial<RetryPolicy>;
  /** Create or upgrade the tables on open (default false: an outdated database is an error). */
  readonly migrate?: boolean;
  /** Check the schema version on open (default true); `initialize-database` opens without. */
  readonly checkSchema?: boolean;
  /** Where the ledger logs broadcasts and conflicts; silent by default. */
  readonly log?: LedgerLog;
}

/** Options of `verifyLedger`. */
export interface VerifyLedgerOptions extends NodeAuditOptions {
  /**
   * Also audit each coin's node wallet against the books (see `auditCoin`): the node must hold at
   * least what the books expect, every other difference explained. Default false: the books only.
   */
  readonly node?: boolean;
}

/** Everything inside one managed transaction. */
export interface LedgerTransaction {
  /** The ledger of one configured coin inside this transaction. @throws UnknownCoin */
  coin(code: string): CoinBook;
}

const SILENT: LedgerLog = { info() {}, warn() {}, error() {} };

export class CryptoAssets {
  /** Counters of managed transactions: commits, conflict re-runs, give-ups. */
  readonly stats = new TransactionStats();
  readonly database: Database;
  /** The txupdate events of the outbox: read them after an id, manage dead letters. */
  readonly events: EventsApi;
  private readonly contexts = new Map<string, CoinContext>();
  private readonly ledgers = new Map<string, CoinLedger>();
  /** Codes of the coins opened with a backend: the ones the balance audit can compare. */
  private readonly coinsWithBackend = new Set<string>();
  private readonly policy: RetryPolicy;
  private readonly log: LedgerLog;

  private constructor(database: Database, options: CryptoAssetsOptions) {
    this.database = database;
    this.events = new EventsApi(database);
    this.policy = { ...RETRY_POLICY_DEFAULT, ...options.retry };
    this.log = options.log ?? SILENT;
    const host = {
      transaction: <T>(fn: (book: CoinBook) => Promise<T>, mode: TransactionMode, retry: boolean, coin: string) =>
        this.run((tx) => fn(tx.coin(coin)), mode, retry),
      log: this.log,
      ...(database.autocommit ? { autocommit: <T>(fn: (tx: SqlExecutor) => Promise<T>) => this.runAutocommit(fn) } : {}),
    };
    for (const setup of options.coins) {
      const context: CoinContext = {
        coin: setup.coin,
        network: setup.network,
        tables: coinTables(setup.coin.code),
        engine: database.engine,
      };
      this.contexts.set(setup.coin.code, context);
      this.ledgers.set(setup.coin.code, new CoinLedger(host, context, setup.backend));
      if (setup.backend) this.coinsWithBackend.add(setup.coin.code);
    }
  }

  /**
   * Open the database and check that its tables are at the schema version this code expects.
   * @throws InvalidState when the database needs `initialize-database` (unless `migrate: true`).
   * @throws ConfigError for a coin the ledger cannot store (e.g. a maxMoney beyond a 64-bit
   *   balance), before anything is opened.
   */
  static async open(options: CryptoAssetsOptions): Promise<CryptoAssets> {
    options.coins.forEach((setup, index) => checkCoinDefinition(setup.coin, `coins[${index}].coin`));
    refuseMissingSqliteFile(options);
    const database = 'transaction' in options.database ? options.database : openDatabase(options.database);
    const app = new CryptoAssets(database, options);
    try {
      if (options.migrate) await app.initializeDatabase();
      else if (options.checkSchema !== false) await app.checkSchema();
    } catch (error) {
      await database.close();
      throw error;
    }
    return app;
  }

  /** Create or upgrade every configured coin's tables. Safe to run repeatedly and concurrently. */
  initializeDatabase(): Promise<MigrationResult[]> {
    return migrate(this.database, [...this.contexts.keys()]);
  }

  /** Codes of the configured coins. */
  get coinCodes(): string[] {
    return [...this.contexts.keys()];
  }

  /** The ledger of one configured coin. @throws UnknownCoin */
  coin(code: string): CoinLedger {
    const ledger = this.ledgers.get(code);
    if (!ledger) throw new UnknownCoin(code);
    return ledger;
  }

  /**
   * Run `fn` in one managed SERIALIZABLE transaction (BEGIN IMMEDIATE on SQLite) spanning any of
   * the coins. On a conflict the transaction is rolled back and `fn` runs again, so `fn` must not
   * make network calls or other outside effects. Gives up with CannotResolveDatabaseConflict.
   */
  transaction<T>(fn: (tx: LedgerTransaction) => Promise<T>): Promise<T> {
    return this.run(fn, 'write', true);
  }

  /** Like `transaction`, but runs `fn` exactly once: a conflict is an error for the caller. */
  transactionOnce<T>(fn: (tx: LedgerTransaction) => Promise<T>): Promise<T> {
    return this.run(fn, 'write', false);
  }

  /** A read-only transaction; writing inside it is an error. */
  readTransaction<T>(fn: (tx: LedgerTransaction) => Promise<T>): Promise<T> {
    return this.run(fn, 'read', true);
  }

  /**
   * The ledger check over every coin and wallet (see `verifyCoin`): balances equal their
   * journals, transactions posted what they should, accounts sum to deposits − withdrawals − fees
   * + imports, every broadcast fee is booked; each wallet's expected node balance is reported.
   *
   * With `{ node: true }`, each coin's node wallet is also audited against the books (see
   * `auditCoin`; one node wallet backs all ledger wallets of a coin): the result's `coins[i].node`
   * holds the ledger figures, the node balance, the difference and its explanation. `ok` is then
   * true only when the books hold and every coin's node holds at least what the books expect; a
   * node that cannot be read makes it false (reported `unreachable`, never skipped). A coin opened
   * without a backend is reported `no_backend` and does not affect `ok`.
   */
  async verifyLedger(options: VerifyLedgerOptions = {}): Promise<LedgerCheck> {
    const books = await this.readTransaction(async (tx) => {
      const checks = [];
      for (const code of this.contexts.keys()) checks.push(await tx.coin(code).verify());
      return checks;
    });
    const coins: CoinCheck[] = [];
    for (const check of books) {
      if (!options.node) coins.push(check);
      else if (!this.coinsWithBackend.has(check.coin)) coins.push({ ...check, node: noBackendAudit(check.coin) });
      else coins.push({ ...check, node: await auditCoin(this.coin(check.coin), options) });
    }
    const bookProblems = coins.flatMap((coin) =>
      coin.wallets.flatMap((wallet) => wallet.problems.map((problem) => `${coin.coin}/${wallet.wallet}: ${problem}`)),
    );
    const nodeProblems = coins.flatMap((coin) => coin.node?.problems ?? []);
    const booksOk = bookProblems.length === 0;
    return {
      ok: booksOk && coins.every((coin) => coin.node?.ok ?? true),
      booksOk,
      nodeAudited: options.node === true,
      coins,
      problems: [...bookProblems, ...nodeProblems],
    };
  }

  /** Close backends and the database. */
  async close(): Promise<void> {
    for (const ledger of this.ledgers.values()) {
      try {
        await ledger.backend.close();
      } catch {
        // A coin without backend, or one already closed: nothing to release.
      }
    }
    await this.database.close();
  }

  private run<T>(fn: (tx: LedgerTransaction) => Promise<T>, mode: TransactionMode, retry: boolean): Promise<T> {
    const policy = retry ? this.policy : { ...this.policy, retries: 0 };
    return runManagedTransaction(
      this.database,
      (executor) => {
        const books = new Map<string, CoinBook>();
        return fn({
          coin: (code) => {
            let book = books.get(code);
            if (!book) {
              const context = this.contexts.get(code);
              if (!context) throw new UnknownCoin(code);
              book = new CoinBook(executor, context);
              books.set(code, book);
            }
            return book;
          },
        });
      },
      {
        mode,
        policy,
        stats: this.stats,
        onConflict: (attempt, error) =>
          this.log.warn({ attempt, err: (error as { code?: string }).code }, 'database conflict; re-running the transaction'),
      },
    );
  }

  /** One statement outside an explicit transaction, re-run on conflicts like a managed transaction. */
  private runAutocommit<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const database = this.database;
    const statements: Database = {
      engine: database.engine,
      transaction: (_mode, run) => database.autocommit!(run),
      isConflict: (error) => database.isConflict(error),
      version: () => database.version(),
      close: async () => undefined,
    };
    return runManagedTransaction(statements, fn, {
      mode: 'write',
      policy: this.policy,
      stats: this.stats,
      onConflict: (attempt, error) =>
        this.log.warn({ attempt, err: (error as { code?: string }).code }, 'database conflict; re-running the statement'),
    });
  }

  private async checkSchema(): Promise<void> {
    const versions = await schemaVersions(this.database, this.coinCodes);
    for (const [coin, version] of Object.entries(versions)) {
      const expected = latestSchemaVersion(this.database, coin);
      if (version < expected) {
        throw new InvalidState(
          `the database has no up-to-date tables for ${coin === GLOBAL_SCOPE ? 'the service' : `coin ${coin}`} (schema ${version}, need ${expected}): run \`cryptoassets initialize-database\``,
        );
      }
      if (version > expected) {
        throw new InvalidState(
          `the tables of coin ${coin} are at schema ${version}, newer than this version of cryptoassets knows (${expected})`,
        );
      }
    }
  }
}

/**
 * Opening a SQLite file creates it; when the schema is checked (not migrated), a missing file can
 * only end in "run initialize-database", so say that before opening and leave nothing behind.
 * A missing folder is left to the store, which reports it as such (DatabaseUnavailable).
 * @throws InvalidState
 */
function refuseMissingSqliteFile(options: CryptoAssetsOptions): void {
  const database = options.database;
  if ('transaction' in database || database.kind !== 'sqlite' || database.path === ':memory:') return;
  if (options.migrate || options.checkSchema === false) return;
  if (existsSync(database.path) || !existsSync(dirname(resolve(database.path)))) return;
  throw new InvalidState(
    `the database has no tables yet (the SQLite file ${database.path} does not exist): run \`cryptoassets initialize-database\``,
  );
}
