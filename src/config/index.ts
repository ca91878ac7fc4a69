/**
 * Configuration: load a YAML file or validate an object into a typed, defaulted Config.
 * See docs/configuration.md for every key.
 */
export type {
  BackendConfig,
  BitcoindAddressType,
  BitcoindAuth,
  BitcoindBackendConfig,
  BlockioBackendConfig,
  BlockioWebhookConfig,
  BlockioWebSocketConfig,
  CoinConfig,
  Config,
  DatabaseConfig,
  EventHandlerConfig,
  HttpWalletNotifyConfig,
  InProcessHandlerConfig,
  LogLevel,
  MemoryBackendConfig,
  PipeWalletNotifyConfig,
  PostgresDatabaseConfig,
  RedisWalletNotifyConfig,
  ScriptHandlerConfig,
  ServiceConfig,
  SqliteDatabaseConfig,
  SqliteSynchronous,
  StatusServerConfig,
  WalletNotifyConfig,
  WebhookHandlerConfig,
} from './types.js';
export type { Env } from './interpolate.js';
export { DEFAULTS } from './defaults.js';
export { loadConfigFile, parseConfig, type ParseConfigOptions } from './load.js';
export { redactConfig, REDACTED } from './redact.js';
