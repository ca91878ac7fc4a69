/**
 * cryptoassets: cryptocurrency accounting for Node.js.
 *
 * Start with `openFromConfig(await loadConfigFile(path))` or `CryptoAssets.open({...})`, then
 * `app.coin('btc').transaction(async (book) => …)`. See docs/api.md.
 */
export { CryptoAssets, type CoinSetup, type CryptoAssetsOptions, type LedgerTransaction, type VerifyLedgerOptions } from './app.js';
export { openFromConfig, databaseOptions, type OpenFromConfigOptions } from './open-from-config.js';
export * from './config/index.js';

export * from './domain/errors.js';
export * from './domain/coins.js';
export { checkAmount, formatAmount, parseAmount, toBaseUnits, type AmountOptions, type AmountRules } from './domain/amounts.js';
export { assertValidAddress, encodeAddress, validateAddress, type AddressCheck, type AddressKind } from './domain/address.js';
export { checkName, NAME_LENGTH_MAX } from './domain/names.js';

export type * from './ledger/records.js';
export { CoinLedger, type BroadcastOutcome, type LedgerLog, type ScanResult, type SentBroadcast } from './ledger/coin-ledger.js';
export type { AppliedTransactions, SyncOptions, SyncResult } from './ledger/chain-sync.js';
export type { ReadingRegister } from './ledger/readings.js';
export type { NetworkUpdate, ReadingApplied } from './ledger/tracking.js';
export { CoinBook } from './ledger/coin-book.js';
export { WalletBook, type SendOptions, type TransferRequest, type WithdrawalRequest } from './ledger/wallet-book.js';
export { BATCH_SIZE_MAX } from './ledger/batch-moves.js';
export type { JournalEntry, TransactionFilter, TransactionPage } from './ledger/queries.js';
export { InvalidDeposit, type DepositChange, type DepositReport, type DepositUpdate } from './ledger/deposits.js';
export type { AccountKey, AccountRef, CoinContext, WriteFence } from './ledger/context.js';
export type { BalanceImport } from './ledger/balance-import.js';
export type { CoinCheck, LedgerCheck, WalletCheck } from './ledger/verify.js';
export {
  auditCoin,
  compareWithNode,
  type AuditableCoin,
  type CheckedNodeAudit,
  type NodeAudit,
  type NodeAuditItem,
  type NodeAuditItemKind,
  type NodeAuditOptions,
  type UncheckedNodeAudit,
} from './ledger/node-audit.js';
export type { BroadcastInDoubt, NodeBookFigures } from './ledger/node-figures.js';
export { NETWORK_FEE_ACCOUNT_NAME } from './ledger/accounts.js';
export { BROADCAST_OUTPUTS_MAX, type OpenBroadcastOptions, type OpenedBroadcast } from './ledger/broadcasts.js';

export type * from './backends/backend.js';
export { ANSWER_TOO_LARGE, DEADLINE_PASSED, OUTCOME_UNKNOWN, REFUSAL_CODES, TXID_PATTERN } from './backends/backend.js';
export { MemoryBackend, MemoryChain, type MemoryChainOptions } from './backends/memory/index.js';
export { BitcoindBackend, type BitcoindBackendOptions } from './backends/bitcoind/index.js';
export { createBackend, memoryChainOf } from './backends/factory.js';

export type { Database, EngineName, SqlExecutor, SqlValue, TransactionMode } from './store/database.js';
export { openDatabase, type DatabaseOptions } from './store/open.js';
export { RETRY_POLICY_DEFAULT, TransactionStats, type RetryPolicy } from './store/managed-transaction.js';
export { coinTables, migrate, type CoinTables, type MigrationResult } from './store/migrations.js';

export type * from './events/types.js';
export { EventsApi } from './events/events-api.js';
export { EventDispatcher, type DispatcherOptions, type HandlerStatus } from './events/dispatcher.js';
export type { DeadLetter } from './events/event-store.js';
export * from './events/handlers/index.js';
export * from './events/receiver/index.js';
export {
  HelperService,
  type AuditStatus,
  type CoinStatus,
  type HelperServiceOptions,
  type ServiceStatus,
  type WalletStatus,
} from './service/helper-service.js';
export { StatusServer } from './service/status-server.js';
