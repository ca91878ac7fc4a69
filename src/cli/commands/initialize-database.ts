/** `cryptoassets initialize-database -c FILE`: create or upgrade every configured coin's tables. */
import { redactUrlPassword } from '../../domain/urls.js';
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
      // The server's own version (e.g. `PostgreSQL 16.4 (Debian 16.4-1)`) and where it is, without a password.
      const where = config.database.kind === 'sqlite' ? config.database.path : redactUrlPassword(config.database.url);
      for (const result of results) {
        if (result.coin === GLOBAL_SCOPE && result.applied.length === 0) continue;
        const what = result.applied.length > 0 ? `applied migrations ${result.applied.join(', ')}` : 'already up to date';
        const scope = result.coin === GLOBAL_SCOPE ? 'shared tables' : result.coin;
        io.out(`${scope}: ${what} (schema version ${result.version})\n`);
      }
      io.out(`database ready: ${await app.database.version()} at ${where}\n`);
      return EXIT.ok;
    } finally {
      await app.close();
    }
  } catch (error) {
    return reportError(io, error);
  }
}
