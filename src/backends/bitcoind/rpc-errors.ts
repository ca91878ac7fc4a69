/**
 * The typed errors of the bitcoind JSON-RPC client. Every failure becomes a `BackendError` with a
 * stable `code` from a closed set, so callers branch on codes, never on the node's message text.
 *
 * Transport failures say whether the call can have had an effect:
 * - `node_unreachable` (retryable): the request never reached the node, or the call is safe to
 *   repeat (idempotent) and failed in a way that proves nothing about the node's state.
 * - `outcome_unknown` (not retryable): a call with effects (a send) may or may not have been
 *   carried out; it must be reconciled, never simply repeated.
 * - `deadline_passed` (retryable): the call's deadline passed before its request was written.
 * - `answer_too_large` (not retryable): the node answered (the call WAS carried out), but with
 *   more than the client reads; for a send the backend makes this `outcome_unknown`.
 * An `RpcError` is the node's own answer: the call was refused and had no effect.
 */
import { BackendError, type BackendErrorCode } from '../../domain/errors.js';

/** Stable codes of `RpcError`, by bitcoind's numeric RPC error code. */
const RPC_CODES: Readonly<Record<number, BackendErrorCode>> = {
  [-1]: 'rpc_misc_error',
  // Also "Amount out of range" and "Invalid amount": amounts are parsed as typed parameters.
  [-3]: 'rpc_type_error',
  [-4]: 'wallet_error',
  // Invalid address, unknown wallet txid, unknown block.
  [-5]: 'invalid_address_or_key',
  // Insufficient funds, or an output below the dust limit.
  [-6]: 'insufficient_funds',
  [-8]: 'invalid_parameter',
  [-13]: 'wallet_locked',
  [-14]: 'wrong_passphrase',
  [-15]: 'wallet_not_encrypted',
  [-18]: 'wallet_not_found',
  [-19]: 'wallet_not_specified',
  [-25]: 'transaction_verify_error',
  [-26]: 'transaction_rejected',
  [-27]: 'transaction_already_in_chain',
  [-28]: 'node_warming_up',
  [-35]: 'wallet_already_loaded',
  [-32600]: 'rpc_invalid_request',
  [-32601]: 'method_not_found',
  [-32602]: 'rpc_invalid_params',
  [-32700]: 'rpc_parse_error',
};

/**
 * Codes after which the same call may well succeed later without anyone changing the request:
 * the wallet may be funded, the node may finish its start-up.
 */
const TRANSIENT_RPC_CODES: ReadonlySet<number> = new Set([-6, -28]);

/** The stable `code` of an `RpcError` with bitcoind's numeric code `rpcCode`. */
export function rpcErrorCode(rpcCode: number): BackendErrorCode {
  return RPC_CODES[rpcCode] ?? 'rpc_error';
}

/**
 * The node answered a call with a JSON-RPC error. The call had no effect; `retryable` says
 * whether repeating it unchanged may succeed (insufficient funds, node warming up).
 */
export class RpcError extends BackendError {
  /** bitcoind's numeric error code, e.g. -6. */
  readonly rpcCode: number;
  /** The node's message, e.g. "Insufficient funds". */
  readonly rpcMessage: string;
  /** The RPC method that failed. */
  readonly method: string;

  constructor(method: string, rpcCode: number, rpcMessage: string, endpoint: string) {
    super(`bitcoind ${method} at ${endpoint} failed with RPC error ${rpcCode}: ${rpcMessage}`, {
      retryable: TRANSIENT_RPC_CODES.has(rpcCode),
      code: rpcErrorCode(rpcCode),
    });
    this.rpcCode = rpcCode;
    this.rpcMessage = rpcMessage;
    this.method = method;
  }
}

/** Codes of transport-level `BackendError`s raised by the client. */
export type TransportErrorCode =
  | 'node_unreachable'
  | 'outcome_unknown'
  | 'node_busy'
  | 'unauthorized'
  | 'forbidden'
  | 'endpoint_not_found'
  | 'garbage'
  /** The answer was over the client's size cap and was dropped unread (`ANSWER_TOO_LARGE`). */
  | 'answer_too_large'
  /** The call's `notAfter` had passed before its request was written (`DEADLINE_PASSED`). */
  | 'deadline_passed';

/** A transport-level failure: no JSON-RPC answer was received. */
export function transportError(code: TransportErrorCode, message: string, options: { retryable: boolean; cause?: unknown }): BackendError {
  return new BackendError(message, { code, retryable: options.retryable, cause: options.cause });
}

/** Error codes (`error.code` of Node's network errors) proving the request never reached the node. */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** How a failed HTTP exchange failed, as far as can be told from the error. */
export interface NetworkFailure {
  /** The request certainly never reached the node (connection refused, unknown host). */
  readonly notSent: boolean;
  /** Our own per-call time limit expired. */
  readonly timedOut: boolean;
  /** One-line description without request details (no headers, hence no credentials). */
  readonly detail: string;
}

/** Classify an error of the HTTP request or of reading its answer. */
export function classifyNetworkFailure(error: unknown): NetworkFailure {
  if (isTimeout(error)) return { notSent: false, timedOut: true, detail: 'timed out' };
  const codes = collectCodes(error);
  const notSent = codes.length > 0 && codes.every((code) => NOT_SENT_CODES.has(code));
  const detail = codes.length > 0 ? codes.join(', ') : error instanceof Error ? error.message : String(error);
  return { notSent, timedOut: false, detail };
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

/** Node codes of the error, its causes and, for an AggregateError (several addresses tried), its errors. */
function collectCodes(error: unknown, depth = 0): string[] {
  if (depth > 5 || typeof error !== 'object' || error === null) return [];
  const codes: string[] = [];
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') codes.push(code);
  if (error instanceof AggregateError) {
    for (const inner of error.errors) codes.push(...collectCodes(inner, depth + 1));
  }
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined) codes.push(...collectCodes(cause, depth + 1));
  return [...new Set(codes)];
}
