/**
 * One worker process of the SQLite concurrency test: opens the shared file, waits for "go" on
 * stdin so all workers start together, runs its operations and prints a JSON tally.
 * argv: <sqlite path> <account ids comma-separated> <external address> <count> <seed>
 */
import { CryptoAssets } from '../../../src/app.js';
import { BTC } from '../../../src/domain/coins.js';
import { runRandomOps } from './random-ops.js';

const [path, ids, external, count, seed] = process.argv.slice(2);
const app = await CryptoAssets.open({
  database: { kind: 'sqlite', path: path! },
  coins: [{ coin: BTC, network: BTC.networks.regtest! }],
  // SQLite's lock is taken without waiting (busy_timeout 0, so the event loop never blocks): a
  // process starved by a loaded machine can lose many rounds in a row. This test is about
  // consistency under contention, not about speed: enough retries that a slow machine cannot
  // make it give up. Fairness at the default policy is the performance issue's concern.
  retry: { retries: 400 },
});
process.stdout.write('ready\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
const tally = await runRandomOps(app.coin('btc'), ids!.split(',').map(Number), external!, Number(count), Number(seed));
process.stdout.write(`${JSON.stringify({ ...tally, conflictRetries: app.stats.conflictRetries })}\n`);
await app.close();
process.stdin.destroy();
