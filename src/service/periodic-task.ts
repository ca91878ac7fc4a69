/**
 * Periodic tasks behind one small interface. A run that fails is logged and the loop goes on; a
 * task never overlaps itself; stopping waits for the run in flight.
 */
import type { LedgerLog } from '../ledger/coin-ledger.js';

export interface TaskStatus {
  readonly name: string;
  readonly runs: number;
  readonly failures: number;
  readonly lastRunAt: string | null;
  readonly lastError: string | null;
}

export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private runs = 0;
  private failures = 0;
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
      this.lastError = null;
    } catch (error) {
      this.failures++;
      this.lastError = error instanceof Error ? error.message : String(error);
      this.log.error({ task: this.name, err: this.lastError }, 'periodic task failed; will run again');
    }
  }
}
