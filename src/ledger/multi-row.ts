/**
 * Statements over many rows at once (multi-row INSERT, UPDATE … FROM VALUES, IN lists), the same
 * SQL on SQLite and PostgreSQL: one round trip for a batch instead of one per row. Batches are cut
 * into parts so that no statement exceeds the engines' parameter limits (SQLite 32,766,
 * PostgreSQL 65,535) at up to 13 parameters per row.
 */

/** Rows (or IN-list items) per statement. */
export const ROWS_PER_STATEMENT = 500;

/** `items` in consecutive parts of at most `size`. */
export function inParts<T>(items: readonly T[], size = ROWS_PER_STATEMENT): T[][] {
  const parts: T[][] = [];
  for (let start = 0; start < items.length; start += size) parts.push(items.slice(start, start + size));
  return parts;
}

/** `?, ?, …` for an IN list of `count` items. */
export function listOf(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}
