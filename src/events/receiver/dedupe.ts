/**
 * Remembering which events were handled. Events are delivered at least once, so the same id can
 * arrive twice (a retry after a lost answer); the receiver answers a repeat without handling it again.
 */

/**
 * Where handled event ids are kept. The default is in memory and forgets on restart; give a
 * database-backed store (a table with the id as primary key) to remember across restarts and
 * processes. Ideally `add` runs in the same database transaction as the application's own
 * changes, so "handled" and "recorded as handled" cannot disagree.
 */
export interface DedupeStore {
  has(id: string): Promise<boolean> | boolean;
  add(id: string): Promise<void> | void;
}

/** Ids kept by default: at a hundred events a minute, more than a day's worth. */
export const DEDUPE_CAPACITY_DEFAULT = 10_000;

/** An in-memory, least-recently-used set of ids with a fixed capacity. */
export class MemoryDedupeStore implements DedupeStore {
  // A Map iterates in insertion order, so re-inserting on use makes its first key the least recent.
  private readonly ids = new Map<string, true>();

  constructor(private readonly capacity: number = DEDUPE_CAPACITY_DEFAULT) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  /** Number of ids held. */
  get size(): number {
    return this.ids.size;
  }

  has(id: string): boolean {
    if (!this.ids.has(id)) return false;
    this.ids.delete(id);
    this.ids.set(id, true);
    return true;
  }

  add(id: string): void {
    this.ids.delete(id);
    this.ids.set(id, true);
    while (this.ids.size > this.capacity) {
      const oldest = this.ids.keys().next().value as string;
      this.ids.delete(oldest);
    }
  }
}
