/**
 * What ledger operations run against: one open transaction, one coin, and (for wallet operations)
 * one wallet. Every SQL look-up of a wallet operation is scoped by `walletId`.
 */
import type { CoinDefinition, NetworkParams } from '../domain/coins.js';
import type { SqlExecutor } from '../store/database.js';
import type { CoinTables } from '../store/migrations.js';

/** A configured coin: its rules (with configured threshold overrides), its network, its tables. */
export interface CoinContext {
  readonly coin: CoinDefinition;
  readonly network: NetworkParams;
  readonly tables: CoinTables;
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

export function accountIdOf(account: AccountRef): number {
  const id = typeof account === 'number' ? account : account?.id;
  if (!Number.isSafeInteger(id)) throw new TypeError('expected an account or an account id');
  return id;
}
