/**
 * The `user-agent` of outgoing webhook requests: `cryptoassets/<version>`, so that a receiver's
 * logs tell which release sent an event.
 */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** `cryptoassets/<version>`, or `cryptoassets/cryptoassets` when the package manifest cannot be read. */
export function userAgent(): string {
  cached ??= `cryptoassets/${packageVersion() ?? 'cryptoassets'}`;
  return cached;
}

function packageVersion(): string | undefined {
  // Three levels up both from src/events/handlers (tests, tsx) and from dist/events/handlers.
  try {
    const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      name?: unknown;
      version?: unknown;
    };
    return manifest.name === 'cryptoassets' && typeof manifest.version === 'string' ? manifest.version : undefined;
  } catch {
    // A bundler may have moved this file; the version is only informative.
    return undefined;
  }
}
