/** Counters of one run, printed per run and summed over runs. */
export class RunStats {
  private readonly counts = new Map<string, number>();

  /** Add `by` (default 1) to the counter `name`. */
  count(name: string, by = 1): void {
    if (by === 0) return;
    this.counts.set(name, (this.counts.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.counts.get(name) ?? 0;
  }

  /** Every counter, sorted by name. */
  entries(): [string, number][] {
    return [...this.counts].sort(([a], [b]) => a.localeCompare(b));
  }

  /** Add another run's counters to these. */
  add(other: RunStats): void {
    for (const [name, value] of other.entries()) this.count(name, value);
  }
}
