/**
 * Stopping an actor (a helper-service process or the application) at a backend call: its action
 * waits there — a pause of the whole process, or a slow node — while the simulator runs other
 * steps, until it is resumed (or, for a process, killed). This is how the simulator makes two
 * readers or two lease holders interleave at a chosen point, deterministically.
 */
import type { MemoryCall } from '../src/backends/memory/index.js';
import { type CallTrigger, triggerFires } from './crash.js';

/** How an action ended. */
export type ActionOutcome = { readonly ok: true } | { readonly ok: false; readonly error: unknown };

/** Something whose backend calls the chain's hook attributes to it. */
export interface Actor {
  readonly name: string;
  /** Its monotonic clock (sendMany's deadline is checked on the caller's clock). */
  readonly clock: () => number;
  onBackendCall(call: MemoryCall): Promise<void>;
}

/** A backend call an actor is stopped at. */
interface Stall {
  readonly call: MemoryCall;
  readonly release: () => void;
  /** The stopped action; settles once released (or never, when the actor is killed). */
  action?: Promise<ActionOutcome>;
}

export class CallInterceptor {
  /** Set while the actor is stopped at a backend call. */
  stall: Stall | null = null;
  private stallAt: CallTrigger | null = null;
  /** Resolves when an armed stall fires, so the simulator can move on while the action waits. */
  private stallReached: (() => void) | null = null;

  /** Stop at the call `trigger` names, during the next `perform`. */
  armStall(trigger: CallTrigger): void {
    this.stallAt = trigger;
  }

  /** Forget an armed stall that did not fire. */
  disarm(): void {
    this.stallAt = null;
  }

  /** Run `action`; `'stalled'` when it stopped at the armed call (it then waits in `stall`). */
  async perform(action: () => Promise<unknown>): Promise<ActionOutcome | 'stalled'> {
    const reached = new Promise<'stalled'>((resolve) => {
      this.stallReached = () => resolve('stalled');
    });
    const running = action().then(
      (): ActionOutcome => ({ ok: true }),
      (error: unknown): ActionOutcome => ({ ok: false, error }),
    );
    const outcome = await Promise.race([running, reached]);
    this.stallReached = null;
    this.stallAt = null;
    if (outcome === 'stalled') {
      this.stall!.action = running;
      return 'stalled';
    }
    return outcome;
  }

  /** Let the stopped action go on, and wait for it. */
  async resume(): Promise<ActionOutcome> {
    const stall = this.stall;
    if (!stall?.action) throw new Error('not stalled');
    stall.release();
    const outcome = await stall.action;
    this.stall = null;
    return outcome;
  }

  /** Called for every backend call of the actor: stops here when the armed stall fires. */
  async intercept(call: MemoryCall): Promise<void> {
    if (!this.stallAt || !triggerFires(this.stallAt, call)) return;
    this.stallAt = null;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.stall = { call, release };
    this.stallReached?.();
    await gate;
  }
}
