/**
 * Checks that a request body is an event. Only the envelope is checked (id, name, createdAt, data
 * object): the fields inside `data` may grow in later releases, and a receiver that refused an
 * unknown field would turn an upgrade of the sender into a stream of failed deliveries.
 */
import type { CryptoAssetsEvent } from '../types.js';

/** The result of {@link parseEvent}. */
export type ParsedEvent = { readonly ok: true; readonly event: CryptoAssetsEvent } | { readonly ok: false; readonly reason: string };

/** A decimal id without leading zeros (so one event cannot have two spellings), at most 20 digits. */
const EVENT_ID = /^(0|[1-9][0-9]{0,19})$/;

/** Parses and checks the JSON text of an event. */
export function parseEvent(text: string): ParsedEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'body is not valid JSON' };
  }
  if (!isObject(value)) return { ok: false, reason: 'body is not a JSON object' };
  if (typeof value.id !== 'string' || !EVENT_ID.test(value.id)) {
    return { ok: false, reason: 'id must be a decimal string' };
  }
  if (typeof value.name !== 'string' || value.name === '') return { ok: false, reason: 'name must be a non-empty string' };
  if (typeof value.createdAt !== 'string' || Number.isNaN(Date.parse(value.createdAt))) {
    return { ok: false, reason: 'createdAt must be an ISO 8601 timestamp' };
  }
  if (!isObject(value.data)) return { ok: false, reason: 'data must be an object' };
  return { ok: true, event: value as unknown as CryptoAssetsEvent };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
