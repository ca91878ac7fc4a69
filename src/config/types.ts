/**
 * The typed, validated configuration. Keys are camelCase here and snake_case in YAML; every
 * default is already applied, so consumers never repeat a default or re-check a range.
 */
import type { CoinDefinition, NetworkParams } from '../domain/coins.js';

/** The whole configuration after validation. */
export interface Config {
  readonly database: DatabaseConfig;
  /** Configured coins by code (`btc`, `ltc`, or a custom code). Never empty. */
  readonly coins: Readonly<Record<string, CoinConfig>>;
  /** Event handlers by name; empty when the `events` section is absent. */
  readonly events: Readonly<Record<string, EventHandlerConfig>>;
  readonly statusServer: StatusServerConfig;
  readonly service: ServiceConfig;
}

/** Log levels, as pino names them. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** SQLite's `PRAGMA synchronous` settings that keep the database consistent after a crash. */
export type SqliteSynchronous = 'full' | 'normal';

/** Where the ledger lives. */
export type DatabaseConfig = SqliteDatabaseConfig | PostgresDatabaseConfig;

/** A SQLite database file, or an in-memory database. */
export interface SqliteDatabaseConfig {
  readonly kind: 'sqlite';
  /** File path (absolute when the configuration came from a file), or `:memory:`. */
  readonly path: string;
  readonly synchronous: SqliteSynchronous;
  /** How many times a transaction that hit a conflict is run again before giving up. */
  readonly transactionRetries: number;
}

/** A PostgreSQL database. */
export interface PostgresDatabaseConfig {
  readonly kind: 'postgres';
  /** Connection URL exactly as configured (`postgres://` or `postgresql://`); may hold a password. */
  readonly url: string;
  /** Size of the connection pool. */
  readonly poolSize: number;
  /**
   * How long opening one connection may take, start-up handshake included, before it fails with
   * DatabaseUnavailable: a server that accepts connections but never answers (not PostgreSQL, or
   * hung) would otherwise hold every command forever.
   */
  readonly connectTimeoutMs: number;
  /** How many times a transaction that hit a conflict is run again before giving up. */
  readonly transactionRetries: number;
}

/** One configured coin, bound to the network it runs on. */
export interface CoinConfig {
  /** Built-in or custom definition, with the configured confirmation threshold and tracking limit. */
  readonly coin: CoinDefinition;
  /** The network selected by `network`, one of `coin.networks`. */
  readonly network: NetworkParams;
  readonly backend: BackendConfig;
  /** How the node tells us about new wallet transactions; absent when only polling is used. */
  readonly walletnotify?: WalletNotifyConfig;
}

/** The node or service that holds the coin's keys and talks to the network. */
export type BackendConfig = MemoryBackendConfig | BitcoindBackendConfig | BlockioBackendConfig;

/** A simulated chain in memory, for tests and demos. */
export interface MemoryBackendConfig {
  readonly type: 'memory';
  /** Fee charged per transaction output, in base units. */
  readonly feePerOutput: bigint;
  /** Blocks mined before the backend is handed out. */
  readonly initialBlocks: number;
}

/** Address types that bitcoind's `getnewaddress` accepts. */
export type BitcoindAddressType = 'legacy' | 'p2sh-segwit' | 'bech32';

/** How to authenticate to bitcoind's JSON-RPC: exactly one of these is configured. */
export type BitcoindAuth =
  | { readonly kind: 'password'; readonly username: string; readonly password: string }
  | { readonly kind: 'cookie'; readonly cookieFile: string };

/** A bitcoind-compatible node (Bitcoin Core, Litecoin Core, Dogecoin Core) over JSON-RPC. */
export interface BitcoindBackendConfig {
  readonly type: 'bitcoind';
  /** JSON-RPC URL without credentials, e.g. `http://127.0.0.1:18443`. */
  readonly url: string;
  readonly auth: BitcoindAuth;
  /** Wallet name for multi-wallet nodes (`/wallet/<name>` endpoint); absent means the default wallet. */
  readonly wallet?: string;
  readonly timeoutMs: number;
  /**
   * Largest answer read from the node, in bytes: a larger one is abandoned as it arrives and
   * the call fails with `answer_too_large`, instead of exhausting memory or string limits.
   */
  readonly maxAnswerBytes: number;
  readonly addressType: BitcoindAddressType;
  /** Passphrase of an encrypted wallet, used to unlock it for sending. */
  readonly passphrase?: string;
}

/** The block.io API service. */
export interface BlockioBackendConfig {
  readonly type: 'blockio';
  readonly apiKey: string;
  /** Secret PIN needed to sign withdrawals; absent for a receive-only setup. */
  readonly pin?: string;
  readonly apiUrl: string;
  readonly timeoutMs: number;
  /**
   * Largest fee of one withdrawal batch (network fee plus block.io's fee), in base units; a
   * preparation above it is refused before signing.
   */
  readonly maxFee: bigint;
}

/** The channel over which the node's `-walletnotify` hook reaches us. */
export type WalletNotifyConfig =
  HttpWalletNotifyConfig | PipeWalletNotifyConfig | RedisWalletNotifyConfig | BlockioWebhookConfig | BlockioWebSocketConfig;

/** An HTTP listener the walletnotify hook posts transaction ids to. */
export interface HttpWalletNotifyConfig {
  readonly type: 'http';
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
}

/** A named pipe (FIFO) the walletnotify hook writes transaction ids into. */
export interface PipeWalletNotifyConfig {
  readonly type: 'pipe';
  /** Absolute when the configuration came from a file. */
  readonly path: string;
}

/** A Redis pub/sub channel the walletnotify hook publishes transaction ids on. */
export interface RedisWalletNotifyConfig {
  readonly type: 'redis';
  /** `redis://` or `rediss://` URL; may hold a password. */
  readonly url: string;
  readonly channel: string;
}

/** block.io posts its notifications (webhooks) to a secret path of a listener of ours. */
export interface BlockioWebhookConfig {
  readonly type: 'blockio-webhook';
  /** The secret last segment of the path `/blockio/<secret>`; requests to any other path get 404. */
  readonly pathSecret: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Largest body accepted; larger ones get 413. */
  readonly maxBodyBytes: number;
  /** Create block.io's notification at start (`create_notification`) and delete it at stop. */
  readonly manage: boolean;
  /**
   * Where block.io reaches this listener from the internet (a reverse proxy), without the
   * `/blockio/<secret>` path, which is appended; required with `manage`.
   */
  readonly publicUrl: string | null;
}

/** A WebSocket subscription to block.io's notification server. */
export interface BlockioWebSocketConfig {
  readonly type: 'blockio-websocket';
  readonly url: string;
  readonly apiKey: string;
  /** block.io's name of the network, e.g. LTC or LTCTEST. */
  readonly network: string;
  /** How often block.io is expected to send a keep-alive. */
  readonly keepalivePeriodMs: number;
  /** Keep-alive periods without any message after which the connection is replaced. */
  readonly missedKeepalives: number;
}

/** Where ledger events are delivered. */
export type EventHandlerConfig = WebhookHandlerConfig | InProcessHandlerConfig | ScriptHandlerConfig;

/** POST each event as JSON to a URL. */
export interface WebhookHandlerConfig {
  readonly type: 'webhook';
  readonly url: string;
  /** Key for signing request bodies; absent means requests are not signed. */
  readonly secret?: string;
  readonly timeoutMs: number;
  /** Attempts per event, the first one included, before it is given up. */
  readonly maxAttempts: number;
}

/** Call a function exported by a JavaScript module in this process. */
export interface InProcessHandlerConfig {
  readonly type: 'in_process';
  /**
   * Module to import: an absolute file path (relative paths in a configuration file are resolved
   * against its directory) or a package specifier. Convert paths with `pathToFileURL` before `import()`.
   */
  readonly module: string;
  /** Name of the exported function; `default` for the default export. */
  readonly export: string;
}

/** Run an executable for each event. */
export interface ScriptHandlerConfig {
  readonly type: 'script';
  /** Executable path (resolved like `module`), or a bare name looked up on `PATH`. */
  readonly command: string;
  readonly timeoutMs: number;
  /** Attempts per event, the first one included, before it is given up. */
  readonly maxAttempts: number;
}

/** The HTTP status endpoint of the helper service. */
export interface StatusServerConfig {
  readonly enabled: boolean;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** A block explorer's transaction page with `{txid}` (the dashboard links txids to it), or null. */
  readonly explorerUrl: string | null;
}

/** Timing and logging of the helper service. */
export interface ServiceConfig {
  /** Interval between broadcasts of queued withdrawals. */
  readonly broadcastPeriodMs: number;
  /** Interval between polls of the backends for transaction updates. */
  readonly pollPeriodMs: number;
  /** First pause before an event whose delivery failed is tried again (doubling up to 10 min). */
  readonly eventRetryBaseMs: number;
  /**
   * A credited deposit the application has not marked processed gets its txupdate event sent
   * again after this long without one; null when disabled (`resend_unprocessed: false`).
   */
  readonly resendUnprocessedAfterMs: number | null;
  /**
   * How long the service lease lasts without renewal; null: three times the longest backend
   * request time limit, at least 30 s. It must exceed twice that limit (see service/lease.ts).
   */
  readonly leaseTtlMs: number | null;
  /** Interval between balance audits against the node. */
  readonly auditPeriodMs: number;
  /** A withdrawal queued for longer than this makes the service not ready (`/ready`). */
  readonly stuckWithdrawalAgeMs: number;
  readonly logLevel: LogLevel;
}
