/**
 * Structured logs for long-running commands: pino, JSON lines on stdout; readable lines
 * (pino-pretty) when stdout is a terminal and pino-pretty is installed. Amounts are logged as
 * strings (pino would write a bigint as a bare number that JSON readers round), and secrets are
 * never passed to the logger.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/types.js';
import { UsageError } from './exit-codes.js';

/** The environment variable that sets the log level (the `--log-level` option wins over it). */
export const LOG_LEVEL_ENV = 'CRYPTOASSETS_LOG_LEVEL';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The level to log at: `--log-level`, else `CRYPTOASSETS_LOG_LEVEL`, else the configuration's. */
export function chooseLogLevel(
  option: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  configured: LogLevel,
): LogLevel {
  for (const [value, where] of [
    [option, '--log-level'],
    [env[LOG_LEVEL_ENV], LOG_LEVEL_ENV],
  ] as const) {
    if (value === undefined || value === '') continue;
    if (!(LOG_LEVELS as readonly string[]).includes(value))
      throw new UsageError(`${where}: '${value}' is not a log level (${LOG_LEVELS.join(', ')})`);
    return value as LogLevel;
  }
  return configured;
}

export interface LoggerOptions {
  /** Readable lines instead of JSON (default: when stdout is a terminal). */
  readonly pretty?: boolean;
}

export async function createLogger(level: LogLevel, options: LoggerOptions = {}): Promise<Logger> {
  const settings = {
    level,
    base: { service: 'cryptoassets' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (options.pretty ?? process.stdout.isTTY === true) {
    const pretty = await loadPretty();
    const options = { destination: 1, sync: true, colorize: process.stdout.isTTY === true, singleLine: true };
    if (pretty) return pino(settings, pretty({ ...options, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' }));
  }
  return pino(settings, pino.destination({ dest: 1, sync: true }));
}

type PrettyFactory = (options: Record<string, unknown>) => NodeJS.WritableStream;

/** pino-pretty if installed (it is optional: JSON lines without it). */
async function loadPretty(): Promise<PrettyFactory | undefined> {
  try {
    const module = (await import('pino-pretty')) as unknown as { default?: PrettyFactory } & PrettyFactory;
    return typeof module.default === 'function' ? module.default : module;
  } catch {
    return undefined;
  }
}
