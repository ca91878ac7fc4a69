/**
 * Review of issue 9: a node that stops answering is logged once ("the node does not answer"), and
 * once more when it answers again. Every failed sync round also logged "periodic task failed"
 * at level error: with `poll_period: 2` that is 43 200 error lines a day for one outage, which
 * buries every other line and defeats the once-per-change rule for node reachability.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { memoryChainOf } from '../../src/backends/factory.js';
import { parseConfig } from '../../src/config/load.js';
import { openFromConfig } from '../../src/open-from-config.js';
import { HelperService } from '../../src/service/helper-service.js';
import { waitUntil } from '../helpers/regtest.js';
import { recordingLog } from '../helpers/recording-log.js';

const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-review9-down-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('logs an unreachable node once per outage, however many sync rounds fail', async () => {
  const config = parseConfig({
    database: { url: `sqlite:${join(dir, 'ledger.sqlite')}` },
    coins: { btc: { network: 'regtest', backend: { type: 'memory' } } },
    status_server: { enabled: false },
    service: { poll_period: 0.05, broadcast_period: 0.05, log_level: 'silent' },
  });
  const app = await openFromConfig(config, { migrate: true });
  const log = recordingLog();
  const service = new HelperService(app, config, log, { leaseTtlMs: 3_000, eventPollMs: 50 });
  const syncRuns = async () => (await service.status({ recent: false })).tasks.find((task) => task.name === 'btc:sync')!;
  try {
    await service.start();
    await waitUntil(async () => (await service.status()).coins[0]!.startupRescanDone, 20_000, 'first sync');
    memoryChainOf(app.coin('btc').backend)!.setDown(true);
    const before = (await syncRuns()).failures;
    await waitUntil(async () => (await syncRuns()).failures >= before + 10, 20_000, 'ten failed sync rounds');
    const errors = log.lines.filter((line) => line.level === 'error');
    expect(errors.filter((line) => line.msg === 'the node does not answer')).toHaveLength(1);
    // At most the one line of the outage, plus a round or two in flight: not one per round.
    expect(errors.length).toBeLessThanOrEqual(3);
  } finally {
    await service.stop();
    await app.close();
  }
});
