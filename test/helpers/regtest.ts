/**
 * The regtest node for integration suites (see src/devtools/regtest-node.ts). When litecoind is
 * missing the suites are skipped with a printed reason — except where
 * CRYPTOASSETS_REQUIRE_INTEGRATION=1 or CI=true, where they run and fail, like the PostgreSQL
 * suites in engines.ts.
 */
import { describe } from 'vitest';
import { LITECOIND_PATH, litecoindAvailable } from '../../src/devtools/regtest-node.js';

export * from '../../src/devtools/regtest-node.js';

/** Integration suites must run (CI), not skip. */
export const INTEGRATION_REQUIRED = process.env.CRYPTOASSETS_REQUIRE_INTEGRATION === '1' || process.env.CI === 'true';

/**
 * `describe` for suites that need a node: the real one when litecoind is there or integration is
 * required (a missing daemon then fails the suite's start-up), else `describe.skip` with a reason.
 */
export function describeWithNode(): typeof describe {
  if (litecoindAvailable() || INTEGRATION_REQUIRED) return describe;
  console.warn(`litecoind not found at ${LITECOIND_PATH}: regtest suites are skipped (set LITECOIND, or CI=true to require them)`);
  return describe.skip as typeof describe;
}
