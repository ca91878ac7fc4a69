/**
 * Exit codes of the `cryptoassets` command, documented in docs/cli.md. Expected failures print one
 * line on stderr; only an internal error (a bug) prints a stack trace.
 */
import { BackendError, ConfigError, CryptoAssetsError, DatabaseUnavailable } from '../domain/errors.js';

export const EXIT = {
  /** Done. */
  ok: 0,
  /** The operation was refused for a stated reason (insufficient balance, not found, …). */
  failed: 1,
  /** The helper service stopped because a critical part of it died. */
  critical: 2,
  /** Bad command-line usage. */
  usage: 64,
  /** The database or a node could not be reached. */
  unavailable: 69,
  /** An internal error: a bug in cryptoassets. */
  internal: 70,
  /** The configuration file is missing or malformed. */
  config: 78,
} as const;

/** A command-line argument that names something that does not exist: exit 64 with its message. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A record id given on the command line (`--id`): a positive whole number, else a UsageError
 * (exit 64) naming the command and the flag, before anything is written.
 */
export function parseIdArgument(command: string, what: string, text: string): number {
  const id = Number(text);
  if (!/^[1-9]\d{0,15}$/.test(text) || !Number.isSafeInteger(id)) {
    throw new UsageError(`${command}: --id must be a ${what} id (a positive whole number), got ${JSON.stringify(text)}`);
  }
  return id;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', '57P03', '3D000', '28000', '28P01']);

/** The exit code for an error that ended a command. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof ConfigError) return EXIT.config;
  if (error instanceof BackendError || error instanceof DatabaseUnavailable) return EXIT.unavailable;
  if (error instanceof CryptoAssetsError) return EXIT.failed;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNREACHABLE.has(code)) return EXIT.unavailable;
  if (error instanceof AggregateError && error.errors.some((inner) => exitCodeFor(inner) === EXIT.unavailable)) {
    return EXIT.unavailable;
  }
  return EXIT.internal;
}

/** One line describing an expected error; undefined for internal errors (which get a stack trace). */
export function describeError(error: unknown): string | undefined {
  const exitCode = exitCodeFor(error);
  if (exitCode === EXIT.internal) return undefined;
  if (error instanceof AggregateError && error.errors.length > 0) return describeError(error.errors[0]);
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0];
}
