/**
 * Typed failures of the notification listeners. They extend the library's CryptoAssetsError so
 * the CLI and the service report them like every other expected failure.
 */
import { CryptoAssetsError } from '../domain/errors.js';

/** A listener cannot start or cannot go on (port taken, path is not a FIFO, Redis unreachable). */
export class NotificationListenerError extends CryptoAssetsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('notification_listener_failed', message, options);
  }
}

/** `err.code: err.message`, or the text of a non-Error, for log lines and error messages. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
