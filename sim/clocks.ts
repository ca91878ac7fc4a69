/**
 * Virtual time. One simulated timeline (`elapsed`, in ms) drives every clock of a run:
 * - the database clock (`cryptoassets_now_ms()` on every SQLite connection of the run), on which
 *   the service lease and broadcast opening times are kept: one clock for everybody, as one
 *   machine holds the SQLite file;
 * - each process's monotonic clock (what `performance.now()` would say in it): the same timeline
 *   seen from a different origin, because each process started at its own moment. The service
 *   measures lease renewal ages and send deadlines on it; giving processes clocks far apart
 *   proves that nothing compares one process's monotonic time with another's.
 * Time moves only when the simulator advances it.
 */
export class VirtualClocks {
  /** Milliseconds since the start of the run. */
  private elapsed = 0;

  /** @param databaseEpochMs the database clock at the start of the run (ms since 1970). */
  constructor(private readonly databaseEpochMs: number) {}

  /** Milliseconds since the start of the run. */
  get now(): number {
    return this.elapsed;
  }

  /** The database clock: ms since 1970. */
  readonly database = (): number => this.databaseEpochMs + this.elapsed;

  /** Move time forward by `ms` (≥ 0). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`time only moves forward, got ${ms}`);
    this.elapsed += ms;
  }

  /**
   * A process's monotonic clock: the timeline seen from `origin`, the value its clock had when the
   * run began (a process started later has a negative origin relative to it, like any other).
   */
  monotonic(origin: number): () => number {
    return () => origin + this.elapsed;
  }
}
