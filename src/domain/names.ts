/**
 * Names and labels are free text chosen by the application, stored as given. They are bounded so
 * that a bad caller cannot fill the database with megabyte-long labels.
 */
import { InvalidName } from './errors.js';

/** Longest wallet name, account name, label or idempotency key. */
export const NAME_LENGTH_MAX = 255;

/**
 * Check a required name: a string of 1..255 characters that is not only white space and has no
 * control characters.
 * @returns the name unchanged.
 */
export function checkName(what: string, value: unknown): string {
  if (typeof value !== 'string') throw new InvalidName(what, `expected text, got ${value === null ? 'null' : typeof value}`);
  if (value.trim().length === 0) throw new InvalidName(what, 'must not be empty');
  if (value.length > NAME_LENGTH_MAX) throw new InvalidName(what, `longer than ${NAME_LENGTH_MAX} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new InvalidName(what, 'contains control characters');
  return value;
}

/** Check an optional label: null/undefined stay null, anything else must be a valid name. */
export function checkOptionalName(what: string, value: unknown): string | null {
  return value === null || value === undefined ? null : checkName(what, value);
}
