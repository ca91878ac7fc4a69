/**
 * Periodic tasks behind one small interface. A run that fails is logged and the loop goes on; a
 * task never overlaps itself; stopping waits for the run in flight. A failure is logged at error
 * when it starts, when its message changes and every REMIND_EVERY rounds while it lasts, and its
 * end at info: a node down for a day with a two-second poll period makes a few lines, not 43,200.
 * Every failed round still counts in the status (`failures`, `consecutiveFailures`, `lastError`).
 */
import type { LedgerLog } from '../ledger/coin-ledger.js';

export interface TaskStatus {
  readonly name: string;
  readonly runs: number;
  readonly failures: number;
  /** Failed rounds since the last one that succeeded (0 when the last succeeded). */
  readonly consecutiveFailures: number;
  readonly lastRunAt: string | null;
  readonly lastError: string | null;
}

/** While a failure lasts, it is logged again every this many rounds. */
const REMIND_EVERY = 100;

export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private runs = 0;
  private failures = 0;
  private consecutiveFailures = 0;
  private lastRunAt: Date | null = null;
  private lastError: string | null = null;

  constructor(
    readonly name: string,
    private readonly periodMs: number,
    private readonly work: () => Promise<void>,
    private readonly log: LedgerLog,
  ) {}

  /** Run now, then every period after the previous run ends. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Run once more as soon as possible (e.g. a notification arrived); no-op while stopped. */
  poke(): void {
    if (this.stopped || this.running) return;
    this.schedule(0);
  }

  /** Stop scheduling and wait for the run in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  status(): TaskStatus {
    return {
      name: this.name,
      runs: this.runs,
      failures: this.failures,
      consecutiveFailures: this.consecutiveFailures,
      lastRunAt: this.lastRunAt?.toISOString() ?? null,
      lastError: this.lastError,
    };
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.runOnce().finally(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule(this.periodMs);
      });
    }, delayMs);
  }

  private async runOnce(): Promise<void> {
    this.runs++;
    this.lastRunAt = new Date();
    try {
      await this.work();
      if (this.consecutiveFailures > 0) {
        this.log.info({ task: this.name, failedRounds: this.consecutiveFailures }, 'periodic task runs again after failing');
      }
      this.consecutiveFailures = 0;
      this.lastError = null;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.failures++;
      this.consecutiveFailures++;
      if (message !== this.lastError || this.consecutiveFailures % REMIND_EVERY === 1) {
        this.log.error(
          { task: this.name, err: message, failedRounds: this.consecutiveFailures },
          'periodic task failed; will run again (logged again when the error changes, every 100 rounds, and at recovery)',
        );
      }
      this.lastError = message;
    }
  }
}
