/**
 * Scenario 5 — start-up rescan: a fresh ledger holding the receiving addresses of a node wallet
 * whose every address already received one payment (100, 1,000 and — full mode — 10,000), as if
 * the service had been down while they arrived. Measured: `scanReceived()`, which the service runs
 * at start, until every deposit is recorded (page by page, 500 wallet entries a page).
 *
 * Baseline: the node answering the minimum for the same history — one `listtransactions` of all
 * entries and one batch of `gettransaction` for every txid — issued raw.
 */
import type { BenchContext } from '../lib/context.js';
import { progress } from '../lib/log.js';
import type { NodeFixture } from '../lib/node-fixture.js';
import { ledgerPath, nodeLedger } from '../lib/node-ledger.js';
import { now } from '../lib/timing.js';
import { type Figure, figure, type ScenarioResult } from '../lib/types.js';

export async function rescanScenario(context: BenchContext): Promise<ScenarioResult> {
  const started = now();
  let fixture: NodeFixture;
  try {
    fixture = await context.node();
  } catch (error) {
    return {
      scenario: 'rescan',
      title: '5. Start-up rescan',
      figures: [],
      skipped: [`no regtest node: ${(error as Error).message}`],
      seconds: 0,
    };
  }
  for (const size of fixture.sizes) await fixture.paidWallet(size);
  await fixture.mineAll();
  const figures: Figure[] = [];
  for (const size of fixture.sizes) {
    progress(`rescan: ${size.toLocaleString('en-US')} addresses`);
    const wallet = await fixture.paidWallet(size);
    const raw = fixture.raw(wallet.name);
    const rawScan = async () => {
      const entries = (await raw.call('listtransactions', ['*', size + 100, 0, true])) as { txid: string }[];
      const txids = [...new Set(entries.map((entry) => entry.txid))];
      await raw.batch(txids.map((txid) => ({ method: 'gettransaction', params: [txid, true] })));
      return txids.length;
    };
    await rawScan(); // warm-up (the node's caches)
    const { app, rpc } = await nodeLedger(fixture, wallet, ledgerPath(context.tmpDir, `rescan-${size}`));
    try {
      const ledger = app.coin('ltc');
      rpc.reset();
      const start = now();
      const result = await ledger.scanReceived();
      const oursMs = now() - start;
      const deposits = await ledger.read(async (book) => (await (await book.wallet('main')).deposits()).length);
      if (deposits !== size) throw new Error(`the rescan recorded ${deposits} deposits, expected ${size}`);
      const baseStart = now();
      const found = await rawScan();
      const baseMs = now() - baseStart;
      figures.push(
        figure({
          scenario: 'rescan',
          name: `start-up rescan, ${size.toLocaleString('en-US')} addresses with one deposit each`,
          unit: 'ms',
          ours: oursMs,
          baseline: baseMs,
          baselineLabel: 'raw listtransactions of everything + one batch of gettransaction',
          better: 'lower',
          n: size,
          extra: {
            addressesPerSecond: (size / oursMs) * 1000,
            transactionsScanned: result.transactions,
            baselineTransactions: found,
            rpcRequests: rpc.requests,
            rpcCalls: rpc.calls,
          },
        }),
      );
    } finally {
      await app.close();
    }
  }
  return { scenario: 'rescan', title: '5. Start-up rescan', figures, skipped: [], seconds: (now() - started) / 1000 };
}
