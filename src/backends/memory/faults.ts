/**
 * Failure injection for the memory chain: tests make the "node" unreachable, make one call answer
 * nonsense or too much, or run a hook around every call (delays, simulated crashes), to check
 * that callers handle `BackendError`s and interruptions as they would with a real node.
 */
import { ANSWER_TOO_LARGE } from '../backend.js';
import { BackendError } from '../../domain/errors.js';

/** The `CoinBackend` methods whose next call can be made to fail or be hooked. */
export type MemoryMethod =
  | 'createAddress'
  | 'sendMany'
  | 'getTransaction'
  | 'listReceived'
  | 'getBalance'
  | 'findByComment'
  | 'chainTip'
  | 'changesSince'
  | 'readTransactions';

/** One backend call, as a call hook sees it. */
export interface MemoryCall {
  readonly method: MemoryMethod;
  /** The wallet whose backend was called. */
  readonly wallet: string;
  /**
   * `'before'`: the call has not reached the node (nothing done yet). `'after'`: the node's part
   * is over, whatever its outcome (carried out, refused, failed), and the caller has not yet seen
   * the answer.
   */
  readonly phase: 'before' | 'after';
}

/**
 * Awaited at both phases of every call of an open backend (see `MemoryChain.setCallHook`). A hook
 * that throws makes the call fail with that error at that point; one that takes long delays it.
 */
export type MemoryCallHook = (call: MemoryCall) => Promise<void>;

/**
 * How an injected failure shows:
 * - `'down'`: the node is unreachable; `BackendError` with `retryable: true`, and the call has no
 *   effect.
 * - `'garbage'`: the node answered something that cannot be parsed; `BackendError` with
 *   `retryable: false`. The call is carried out before its answer is lost (a `sendMany` really
 *   sends), because that is what makes such an answer dangerous with a real node.
 * - `'too_large'`: the answer is over the backend's size cap; `BackendError` with code
 *   `answer_too_large`, `retryable: false` (the same request would be as large), and the call has
 *   no effect.
 * - an `Error`: thrown as it is, and the call has no effect.
 */
export type InjectedFailure = Error | 'down' | 'garbage' | 'too_large';

interface PendingFailure {
  readonly method: MemoryMethod;
  readonly failure: InjectedFailure;
  /** Only this wallet's call fails; any wallet's when absent. */
  readonly wallet?: string;
}

/** Holds the chain-wide "down" switch, the queue of one-shot failures and the call hook. */
export class FaultInjector {
  private down = false;
  private readonly pending: PendingFailure[] = [];
  /** Awaited around every backend call; null for none. */
  callHook: MemoryCallHook | null = null;

  get isDown(): boolean {
    return this.down;
  }

  setDown(down: boolean): void {
    this.down = down;
  }

  /** Queue a failure; several queued for the same method fail successive calls in order. */
  failNext(method: MemoryMethod, failure: InjectedFailure, wallet?: string): void {
    this.pending.push(wallet === undefined ? { method, failure } : { method, failure, wallet });
  }

  /** Remove and return the first failure queued for this call, if any. */
  take(method: MemoryMethod, wallet: string): InjectedFailure | undefined {
    const index = this.pending.findIndex((entry) => entry.method === method && (entry.wallet === undefined || entry.wallet === wallet));
    if (index < 0) return undefined;
    const [entry] = this.pending.splice(index, 1);
    return entry?.failure;
  }

  /** Number of failures still queued (for tests that want to check all fired). */
  get pendingCount(): number {
    return this.pending.length;
  }

  /**
   * The node's part of a call: fails as the node is down or as the first failure queued for it
   * says, else runs `operation`.
   */
  apply<T>(method: MemoryMethod, wallet: string, operation: () => T): T {
    if (this.down) throw unreachableError(method, wallet);
    const failure = this.take(method, wallet);
    if (failure === undefined) return operation();
    if (failure === 'down') throw unreachableError(method, wallet);
    if (failure === 'too_large') throw tooLargeError(method, wallet, 'injected failure');
    if (failure === 'garbage') {
      // The node did the work; only its answer is lost. The outcome, success or error, is hidden.
      let outcome: unknown;
      try {
        operation();
      } catch (error) {
        outcome = error;
      }
      throw garbageError(method, wallet, outcome);
    }
    throw failure;
  }
}

/** The error a call gets while the node is down or when `'down'` was injected. */
export function unreachableError(method: MemoryMethod, wallet: string): BackendError {
  return new BackendError(`memory node unreachable: ${method} of wallet ${JSON.stringify(wallet)} was not carried out`, {
    retryable: true,
  });
}

/** The error of an answer over the size cap (injected, or `changesSince` over the chain's cap). */
export function tooLargeError(method: MemoryMethod, wallet: string, detail: string): BackendError {
  return new BackendError(
    `memory node's answer to ${method} of wallet ${JSON.stringify(wallet)} is too large (${detail}); nothing was done`,
    { retryable: false, code: ANSWER_TOO_LARGE },
  );
}

/** The error a call gets when `'garbage'` was injected. */
export function garbageError(method: MemoryMethod, wallet: string, cause?: unknown): BackendError {
  return new BackendError(
    `memory node returned a malformed answer to ${method} of wallet ${JSON.stringify(wallet)}; the call may have taken effect`,
    // For a send the answer is lost after the fact: the transaction may have gone out.
    { retryable: false, cause, code: method === 'sendMany' ? 'outcome_unknown' : 'garbage' },
  );
}
