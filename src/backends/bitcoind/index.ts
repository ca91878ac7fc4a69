/**
 * The bitcoind backend: `BitcoindBackend` (a `CoinBackend` on Bitcoin Core, Litecoin Core,
 * Dogecoin Core over JSON-RPC) and the pieces it is built from, for callers that need the node
 * directly: the JSON-RPC client, its typed errors and the lossless JSON reader.
 */
export { BitcoindBackend } from './bitcoind-backend.js';
export type { BitcoindBackendOptions, FindByCommentOptions, SinceBlockResult } from './bitcoind-backend.js';
export { Credentials, RPC_RETRY_DEFAULT, RpcClient } from './rpc-client.js';
export type { CallOptions, RpcClientOptions, RpcRequest, RpcResult, RpcRetryPolicy, RpcTransport } from './rpc-client.js';
export { RpcError, rpcErrorCode } from './rpc-errors.js';
export type { TransportErrorCode } from './rpc-errors.js';
export { JsonNumber, parseLosslessJson, stringifyLossless } from './lossless-json.js';
