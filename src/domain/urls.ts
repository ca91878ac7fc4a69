/**
 * URLs in messages and logs: the password part never shows. (Imports nothing, like the rest of
 * src/domain, so the store and the configuration can both use it.)
 */

/** What replaces a secret. */
export const REDACTED = '***';

/**
 * `postgresql://user:secret@host/db` → `postgresql://user:***@host/db`, and a password given as a
 * query parameter (`?password=secret`, which libpq and node-postgres accept too) → `password=***`.
 * Strings that are not URLs with a password are returned unchanged. The replacement is done on the
 * text rather than through URL serialisation so the rest of the URL stays exactly as configured.
 */
export function redactUrlPassword(text: string): string {
  if (!URL.canParse(text)) return text;
  const url = new URL(text);
  let shown = text;
  if (url.password !== '') {
    const match = /^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:)[^/?#]*@/i.exec(text);
    // Unusual shape the pattern does not cover: hide the whole URL rather than risk a leak.
    if (!match) return REDACTED;
    shown = `${match[1]}${REDACTED}@${text.slice(match[0].length)}`;
  }
  return url.search === '' ? shown : shown.replace(/([?&](?:ssl)?password=)[^&#]*/gi, `$1${REDACTED}`);
}

/**
 * A URL to show a person when its query may carry a token (webhook targets such as
 * `https://hooks.example/x?token=…`): the password hidden as above, and every query value too.
 */
export function redactUrlSecrets(text: string): string {
  const shown = redactUrlPassword(text);
  if (shown === REDACTED || !URL.canParse(text) || new URL(text).search === '') return shown;
  return shown.replace(/([?&][^=&#]*=)[^&#]*/g, `$1${REDACTED}`);
}
