/**
 * URLs in messages and logs: the password part never shows. (Imports nothing, like the rest of
 * src/domain, so the store and the configuration can both use it.)
 */

/** What replaces a secret. */
export const REDACTED = '***';

/**
 * `postgresql://user:secret@host/db` → `postgresql://user:***@host/db`. Strings that are not URLs
 * with a password are returned unchanged. The replacement is done on the text rather than through
 * URL serialisation so the rest of the URL stays exactly as configured.
 */
export function redactUrlPassword(text: string): string {
  if (!text.includes('@') || !URL.canParse(text)) return text;
  if (new URL(text).password === '') return text;
  const match = /^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:)[^/?#]*@/i.exec(text);
  if (match) return `${match[1]}${REDACTED}@${text.slice(match[0].length)}`;
  // Unusual shape the pattern does not cover: hide the whole URL rather than risk a leak.
  return REDACTED;
}
