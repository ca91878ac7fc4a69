/** Open the configured ledger for one command, run it, close it, and turn errors into exit codes. */
import type { CryptoAssets } from '../app.js';
import type { Config } from '../config/types.js';
import { openFromConfig, type OpenFromConfigOptions } from '../open-from-config.js';
import { loadCliConfig } from './config-file.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './program.js';
import { reportError } from './program.js';

/**
 * `check`, when given, runs on the configuration before the database is opened: it throws (a
 * UsageError, say) to refuse the command without touching anything.
 */
export async function withApp(
  io: CliIo,
  configFile: string | undefined,
  options: OpenFromConfigOptions,
  work: (app: CryptoAssets, config: Config) => Promise<void>,
  check?: (config: Config) => void,
): Promise<number> {
  try {
    const config = await loadCliConfig(io, configFile);
    check?.(config);
    const app = await openFromConfig(config, options);
    try {
      await work(app, config);
    } finally {
      await app.close();
    }
    return EXIT.ok;
  } catch (error) {
    return reportError(io, error);
  }
}
