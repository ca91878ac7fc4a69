/** `cryptoassets initialize-database -c FILE`: create or upgrade every configured coin's tables. */
import { openFromConfig } from '../../open-from-config.js';
import { GLOBAL_SCOPE } from '../../store/migrations.js';
import { loadCliConfig } from '../config-file.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../program.js';
import { reportError } from '../program.js';

export async function initializeDatabaseCommand(io: CliIo, options: { config?: string }): Promise<number> {
  try {
    const config = await loadCliConfig(io, options.config);
    const app = await openFromConfig(config, { checkSchema: false, backends: false });
    try {
      const results = await app.initializeDatabase();
      const where = config.database.kind === 'sqlite' ? `SQLite ${config.database.path}` : 'PostgreSQL';
      for (const result of results) {
        if (result.coin === GLOBAL_SCOPE && result.applied.length === 0) continue;
        const what = result.applied.length > 0 ? `applied migrations ${result.applied.join(', ')}` : 'already up to date';
        const scope = result.coin === GLOBAL_SCOPE ? 'shared tables' : result.coin;
        io.out(`${scope}: ${what} (schema version ${result.version})\n`);
      }
      io.out(`database ready: ${where} (${await app.database.version()})\n`);
      return EXIT.ok;
    } finally {
      await app.close();
    }
  } catch (error) {
    return reportError(io, error);
  }
}
