/**
 * Event handlers: where ledger events go. Each delivers one event per `deliver` call and throws
 * when it was not accepted; retries, ordering and dead-lettering belong to the dispatcher.
 */
import type { EventHandlerConfig } from '../../config/types.js';
import type { EventHandler } from '../types.js';
import { InProcessHandler, type InProcessLoadOptions } from './in-process.js';
import { ScriptHandler, type ScriptHandlerOptions } from './script.js';
import { WebhookHandler, type WebhookHandlerOptions } from './webhook.js';

export { EventDeliveryError, EventHandlerLoadError } from './errors.js';
export {
  SIGNATURE_HEADER,
  SIGNATURE_TOLERANCE_SECONDS_DEFAULT,
  signPayload,
  verifySignature,
  type SignatureCheck,
  type SignatureFailure,
  type VerifyOptions,
} from './signature.js';
export { WebhookHandler, type WebhookHandlerOptions, type WebhookSettings } from './webhook.js';
export {
  SCRIPT_KILL_GRACE_MS_DEFAULT,
  SCRIPT_OUTPUT_TAIL_BYTES,
  ScriptHandler,
  type ScriptHandlerOptions,
  type ScriptSettings,
} from './script.js';
export {
  IN_PROCESS_MAX_ATTEMPTS_DEFAULT,
  InProcessHandler,
  type EventFunction,
  type InProcessHandlerOptions,
  type InProcessLoadOptions,
  type InProcessSettings,
} from './in-process.js';

/** Tuning passed through to the handler that `createHandler` builds. */
export interface CreateHandlerOptions {
  webhook?: WebhookHandlerOptions;
  script?: ScriptHandlerOptions;
  inProcess?: InProcessLoadOptions;
}

/**
 * Builds the handler that `config` describes. Asynchronous because an in-process handler imports
 * its module here, so that a missing module or export fails at start-up rather than on the first event.
 */
export async function createHandler(name: string, config: EventHandlerConfig, options: CreateHandlerOptions = {}): Promise<EventHandler> {
  switch (config.type) {
    case 'webhook':
      return new WebhookHandler(name, config, options.webhook);
    case 'script':
      return new ScriptHandler(name, config, options.script);
    case 'in_process':
      return InProcessHandler.load(name, config, options.inProcess);
  }
}
