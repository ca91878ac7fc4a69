/**
 * Sums of amounts that may exceed 64 bits. Every single amount and balance fits a signed 64-bit
 * column, but totals over many rows need not: the deposits a wallet has credited over its life, or
 * ten accounts of 5 coins each of an 18-decimal coin. PostgreSQL's SUM(bigint) is exact (numeric);
 * SQLite's SUM() fails with "integer overflow" as soon as a partial sum leaves 64 bits.
 *
 * So each value is split at 2^32 into a high and a low part, x = high·2^32 + low (division
 * truncating toward zero and the remainder taking the dividend's sign, the same on both engines).
 * Each part's sum stays far inside 64 bits for fewer than 2^31 rows, and the two are joined exactly
 * as a bigint here. The SQL is the same on both engines.
 */
import type { SqlRow } from '../store/database.js';
import { toBigint } from './rows.js';

const SPLIT = 4_294_967_296n;

/**
 * The two select-list columns summing `expression` (NULLs ignored, 0 for no rows) under `alias`;
 * read the total back with `exactSum(row, alias)`.
 */
export function exactSumColumns(expression: string, alias: string): string {
  return `COALESCE(SUM((${expression}) / ${SPLIT}), 0) AS ${alias}_high, COALESCE(SUM((${expression}) % ${SPLIT}), 0) AS ${alias}_low`;
}

/** The total of the columns `exactSumColumns(…, alias)` selected; 0 when there is no row. */
export function exactSum(row: SqlRow | undefined, alias: string): bigint {
  return toBigint(row?.[`${alias}_high`]) * SPLIT + toBigint(row?.[`${alias}_low`]);
}
