/** Turning what a walletnotify hook sent into a transaction id we can trust. */
import { TXID_PATTERN } from '../backends/backend.js';

/**
 * The normalised txid in `raw`, or null when it is not one. Surrounding whitespace is dropped
 * (`echo` adds a newline, some shells a carriage return) and hex is lowercased because backends
 * answer in lowercase and the ledger looks txids up by exact text.
 */
export function parseTxid(raw: string): string | null {
  // Cheap bound first: never lowercase or regex-test a huge string.
  if (raw.length > 200) return null;
  const txid = raw.trim().toLowerCase();
  return TXID_PATTERN.test(txid) ? txid : null;
}

/** A short, quoted rendering of untrusted input for log lines. */
export function preview(raw: string, max = 80): string {
  return JSON.stringify(raw.length > max ? `${raw.slice(0, max)}…` : raw);
}
