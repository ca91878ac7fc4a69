/**
 * Every default of the configuration in one place, so documentation, validation and callers that
 * build a Config by hand agree. Listeners bind to 127.0.0.1: exposing a port to the network must be
 * a deliberate choice in the configuration, never an accident of a default.
 */
import type { BitcoindAddressType, LogLevel, SqliteSynchronous } from './types.js';

/** Default values, camelCase, in the units of the typed Config (milliseconds, base units). */
export const DEFAULTS = {
  database: {
    transactionRetries: 10,
    poolSize: 10,
    connectTimeoutMs: 10_000,
    sqliteSynchronous: 'full' as SqliteSynchronous,
  },
  backend: {
    memory: { feePerOutput: 1000n, initialBlocks: 0 },
    bitcoind: { timeoutMs: 30_000, addressType: 'bech32' as BitcoindAddressType, maxAnswerBytes: 64 * 1024 * 1024 },
    blockio: { apiUrl: 'https://block.io/api/v2/', timeoutMs: 30_000, maxFee: 1_000_000n },
  },
  walletnotify: {
    http: { host: '127.0.0.1', port: 28882 },
    redis: { url: 'redis://127.0.0.1:6379' },
    // 33233 is the port the original's block.io webhook server used.
    blockioWebhook: { host: '127.0.0.1', port: 33233, maxBodyBytes: 256 * 1024, manage: false },
    blockioWebSocket: { url: 'wss://n.block.io/', keepalivePeriodMs: 30_000, missedKeepalives: 3 },
  },
  events: {
    webhook: { timeoutMs: 10_000, maxAttempts: 12 },
    inProcess: { export: 'default' },
    script: { timeoutMs: 30_000, maxAttempts: 12 },
  },
  statusServer: { enabled: true, host: '127.0.0.1', port: 18881, explorerUrl: null },
  service: {
    broadcastPeriodMs: 30_000,
    pollPeriodMs: 10_000,
    eventRetryBaseMs: 1_000,
    resendUnprocessedAfterMs: 3_600_000,
    auditPeriodMs: 300_000,
    stuckWithdrawalAgeMs: 3_600_000,
    logLevel: 'info' as LogLevel,
  },
} as const;
