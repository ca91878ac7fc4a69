/**
 * A loggable copy of the configuration: operators want to see the effective settings at startup,
 * but logs are read by more people than the configuration file.
 */
import { REDACTED, redactUrlPassword } from '../domain/urls.js';
import type { Config } from './types.js';

/** What replaces every secret. */
export { REDACTED };

/** Keys of the typed Config whose values are secrets wherever they appear. */
const SECRET_KEYS = new Set(['password', 'apiKey', 'pin', 'secret', 'passphrase', 'pathSecret']);

/**
 * Copy `config` with passwords, API keys, PINs, webhook secrets (block.io's path secret too), wallet passphrases and the
 * password part of URLs replaced by `"***"`. Bigints become decimal text so that the copy
 * survives `JSON.stringify`.
 */
export function redactConfig(config: Config): unknown {
  return redact(config, undefined);
}

function redact(value: unknown, key: string | undefined): unknown {
  if (key !== undefined && SECRET_KEYS.has(key) && value !== undefined) return REDACTED;
  if (typeof value === 'string') return redactUrlPassword(value);
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map((item) => redact(item, undefined));
  if (typeof value === 'object' && value !== null) {
    const copy: Record<string, unknown> = {};
    for (const [name, item] of Object.entries(value)) {
      Object.defineProperty(copy, name, { value: redact(item, name), enumerable: true, writable: true, configurable: true });
    }
    return copy;
  }
  return value;
}
