/**
 * One worker process of the SQLite concurrency test: opens the shared file, waits for "go" on
 * stdin so all workers start together, runs its operations and prints a JSON tally.
 * argv: <sqlite path> <account ids comma-separated> <external address> <count> <seed>
 */
import { CryptoAssets } from '../../../src/app.js';
import { BTC } from '../../../src/domain/coins.js';
import type { SqliteDatabase } from '../../../src/store/sqlite/sqlite-database.js';
import { runRandomOps } from './random-ops.js';

const [path, ids, external, count, seed] = process.argv.slice(2);
const app = await CryptoAssets.open({
  database: { kind: 'sqlite', path: path! },
  coins: [{ coin: BTC, network: BTC.networks.regtest! }],
  // The default settings: a process waits for another's write lock instead of giving up.
});
process.stdout.write('ready\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
const tally = await runRandomOps(app.coin('btc'), ids!.split(',').map(Number), external!, Number(count), Number(seed));
process.stdout.write(
  `${JSON.stringify({ ...tally, conflictRetries: app.stats.conflictRetries, lockWaits: (app.database as SqliteDatabase).lockWaits })}\n`,
);
await app.close();
process.stdin.destroy();
