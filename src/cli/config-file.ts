/** Loading the configuration named on the command line. */
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/types.js';
import { ConfigError } from '../domain/errors.js';
import type { CliIo } from './program.js';

/** Load `-c FILE` (or CRYPTOASSETS_CONFIG). @throws ConfigError when none is given or it is malformed. */
export async function loadCliConfig(io: CliIo, file: string | undefined): Promise<Config> {
  if (!file) throw new ConfigError('', 'no configuration file: pass -c FILE or set CRYPTOASSETS_CONFIG');
  return loadConfigFile(file, io.env);
}
