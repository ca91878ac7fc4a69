/**
 * The in-memory chain backend: a deterministic simulated chain (`MemoryChain`) whose wallets are
 * `CoinBackend`s (`MemoryBackend`), for tests and the demo. No network, no persistence.
 */
export { MemoryChain } from './chain.js';
export type { ChainTransactionInfo, MemoryChainOptions, PaymentOutput } from './chain.js';
export { MemoryBackend } from './memory-backend.js';
export type { InjectedFailure, MemoryCall, MemoryCallHook, MemoryMethod } from './faults.js';
