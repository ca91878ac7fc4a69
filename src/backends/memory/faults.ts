/**
 * Failure injection for the memory chain: tests make the "node" unreachable or make one call
 * answer nonsense, to check that callers handle `BackendError`s as they would from a real node.
 */
import { BackendError } from '../../domain/errors.js';

/** The `CoinBackend` methods whose next call can be made to fail. */
export type MemoryMethod = 'createAddress' | 'sendMany' | 'getTransaction' | 'listReceived' | 'getBalance';

/**
 * How an injected failure shows:
 * - `'down'`: the node is unreachable; `BackendError` with `retryable: true`, and the call has no
 *   effect.
 * - `'garbage'`: the node answered something that cannot be parsed; `BackendError` with
 *   `retryable: false`. The call is carried out before its answer is lost (a `sendMany` really
 *   sends), because that is what makes such an answer dangerous with a real node.
 * - an `Error`: thrown as it is, and the call has no effect.
 */
export type InjectedFailure = Error | 'down' | 'garbage';

interface PendingFailure {
  readonly method: MemoryMethod;
  readonly failure: InjectedFailure;
  /** Only this wallet's call fails; any wallet's when absent. */
  readonly wallet?: string;
}

/** Holds the chain-wide "down" switch and the queue of one-shot failures. */
export class FaultInjector {
  private down = false;
  private readonly pending: PendingFailure[] = [];

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
    const index = this.pending.findIndex(
      (entry) => entry.method === method && (entry.wallet === undefined || entry.wallet === wallet),
    );
    if (index < 0) return undefined;
    const [entry] = this.pending.splice(index, 1);
    return entry?.failure;
  }

  /** Number of failures still queued (for tests that want to check all fired). */
  get pendingCount(): number {
    return this.pending.length;
  }
}

/** The error a call gets while the node is down or when `'down'` was injected. */
export function unreachableError(method: MemoryMethod, wallet: string): BackendError {
  return new BackendError(`memory node unreachable: ${method} of wallet ${JSON.stringify(wallet)} was not carried out`, {
    retryable: true,
  });
}

/** The error a call gets when `'garbage'` was injected. */
export function garbageError(method: MemoryMethod, wallet: string, cause?: unknown): BackendError {
  return new BackendError(
    `memory node returned a malformed answer to ${method} of wallet ${JSON.stringify(wallet)}; the call may have taken effect`,
    // For a send the answer is lost after the fact: the transaction may have gone out.
    { retryable: false, cause, code: method === 'sendMany' ? 'outcome_unknown' : 'garbage' },
  );
}
