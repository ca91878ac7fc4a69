/**
 * Errors of event handlers. A delivery failure is an environment failure (the receiver is down,
 * the script crashed): the dispatcher retries it. A load failure is a configuration problem that
 * no retry can fix, so it surfaces when the handler is created, not on the first event.
 */
import { CryptoAssetsError } from '../../domain/errors.js';

/** One delivery attempt failed; the message says which handler, where, and why. */
export class EventDeliveryError extends CryptoAssetsError {
  /** Name of the handler (`events.<name>`). */
  readonly handler: string;
  constructor(handler: string, message: string, options?: { cause?: unknown }) {
    super('event_delivery_failed', message, options);
    this.handler = handler;
  }
}

/** A handler could not be created: its module or export cannot be loaded, or its settings are unusable. */
export class EventHandlerLoadError extends CryptoAssetsError {
  readonly handler: string;
  constructor(handler: string, message: string, options?: { cause?: unknown }) {
    super('event_handler_load_failed', message, options);
    this.handler = handler;
  }
}

/**
 * A short description of a thrown value for an error message: Node's network errors carry the
 * useful part (`ECONNREFUSED …`) in `cause`, and an AggregateError from dual-stack connects has an
 * empty message but a `code`.
 */
export function describeCause(error: unknown): string {
  const inner = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (inner instanceof Error) {
    const code = (inner as { code?: unknown }).code;
    const message = inner.message.trim();
    if (message) return message;
    if (typeof code === 'string') return code;
    return inner.name;
  }
  return String(inner);
}
