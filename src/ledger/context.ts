/**
 * What ledger operations run against: one open transaction, one coin, and (for wallet operations)
 * one wallet. Every SQL look-up of a wallet operation is scoped by `walletId`.
 */
import type { CoinDefinition, NetworkParams } from '../domain/coins.js';
import type { EngineName, SqlExecutor } from '../store/database.js';
import type { CoinTables } from '../store/migrations.js';

/** A configured coin: its rules (with configured threshold overrides), its network, its tables. */
export interface CoinContext {
  readonly coin: CoinDefinition;
  readonly network: NetworkParams;
  readonly tables: CoinTables;
  /** The database engine, for the few statements that differ (the database's clock). */
  readonly engine: EngineName;
}

/**
 * How the helper service makes its writes conditional on holding its lease: `check` runs first
 * in every write transaction of a fenced ledger and throws `LeaseLost` unless `generation` still
 * holds an unexpired lease; `sendDeadline` is the `performance.now()` time after which no send
 * may start, because the lease might have expired by the time it reached the node.
 */
export interface WriteFence {
  readonly generation: number;
  check(tx: SqlExecutor): Promise<void>;
  /** The deadline, on the clock of `now`. */
  sendDeadline(): number;
  /** The monotonic clock the deadline is on (`performance.now`, or a simulation's). */
  now(): number;
}

/** One coin inside one open transaction. */
export interface CoinScope {
  readonly tx: SqlExecutor;
  readonly context: CoinContext;
}

/** One wallet of one coin inside one open transaction. */
export interface WalletScope extends CoinScope {
  readonly walletId: number;
}

/** An account given by record or by id. */
export type AccountRef = number | { readonly id: number };

/** An account given by record, by id or by name (names are unique per wallet). */
export type AccountKey = AccountRef | string;

/** The id of an account given by record or id. Names are resolved by `resolveAccountId` (accounts.ts). */
export function accountIdOf(account: AccountRef): number {
  const id = typeof account === 'number' ? account : account?.id;
  if (!Number.isSafeInteger(id)) throw new TypeError('expected an account, an account id or an account name');
  return id;
}
