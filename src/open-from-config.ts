/**
 * Open the application object from a parsed configuration: the database it names, each coin with
 * its backend, and the retry count it sets.
 */
import { CryptoAssets, type CoinSetup } from './app.js';
import { createBackend } from './backends/factory.js';
import type { Config } from './config/types.js';
import type { LedgerLog } from './ledger/coin-ledger.js';
import type { DatabaseOptions } from './store/open.js';

export interface OpenFromConfigOptions {
  /** Create or upgrade tables on open (default false). */
  readonly migrate?: boolean;
  readonly log?: LedgerLog;
  /** Check the schema version on open (default true). */
  readonly checkSchema?: boolean;
  /** Create the coins' backends (default true); database-only commands skip them. */
  readonly backends?: boolean;
}

/** The database options of a configuration. */
export function databaseOptions(config: Config): DatabaseOptions {
  const database = config.database;
  return database.kind === 'sqlite'
    ? { kind: 'sqlite', path: database.path, synchronous: database.synchronous }
    : { kind: 'postgres', url: database.url, poolSize: database.poolSize, connectTimeoutMs: database.connectTimeoutMs };
}

/** Open the ledger described by `config`, with a backend for every coin. */
export async function openFromConfig(config: Config, options: OpenFromConfigOptions = {}): Promise<CryptoAssets> {
  const coins: CoinSetup[] = [];
  for (const [code, coin] of Object.entries(config.coins)) {
    const backend = options.backends === false ? undefined : await createBackend(code, coin);
    coins.push({ coin: coin.coin, network: coin.network, backend });
  }
  return CryptoAssets.open({
    database: databaseOptions(config),
    coins,
    retry: { retries: config.database.transactionRetries },
    migrate: options.migrate,
    checkSchema: options.checkSchema,
    log: options.log,
  });
}
