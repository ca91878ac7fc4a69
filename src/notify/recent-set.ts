/** A set that remembers only its most recent entries, so a stream of keys cannot grow it without end. */
export class RecentSet {
  private readonly entries = new Set<string>();

  constructor(private readonly capacity: number) {}

  /** Add `key`; false when it was already there (and it then counts as recent again). */
  add(key: string): boolean {
    const known = this.entries.delete(key);
    this.entries.add(key);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.values().next().value!);
    return !known;
  }
}
