/**
 * Structured logs for long-running commands: pino, JSON lines on stdout. Amounts are logged as
 * strings (pino would write a bigint as a bare number that JSON readers round), and secrets are
 * never passed to the logger.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/types.js';

export function createLogger(level: LogLevel, destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino(
    {
      level,
      base: { service: 'cryptoassets' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: destination === process.stdout ? 1 : 2, sync: true }),
  );
}
