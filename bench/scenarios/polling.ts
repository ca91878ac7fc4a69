/**
 * Scenario 4 — the cost of one confirmation-polling round with 100, 1,000 (and 10,000 in full
 * mode) open transactions: deposits of a node wallet recorded in a fresh ledger by a scan, one
 * block mined so that every one of them has a new confirmation count, one warm-up round, another
 * block, then the measured round (`syncWithChain`, as the service runs it every poll period).
 *
 * Two baselines, both measured here: the round's own RPC calls issued raw (what the node costs;
 * against our wall time), and looking every open transaction up one by one (`gettransaction`
 * per transaction, as polling without `listsinceblock` would; against our RPC requests).
 */
import type { BenchContext } from '../lib/context.js';
import { progress } from '../lib/log.js';
import type { NodeFixture } from '../lib/node-fixture.js';
import { ledgerPath, nodeLedger } from '../lib/node-ledger.js';
import { now } from '../lib/timing.js';
import { type Figure, figure, type ScenarioResult } from '../lib/types.js';
import { LTC } from '../../src/domain/coins.js';

export async function pollingScenario(context: BenchContext): Promise<ScenarioResult> {
  const started = now();
  let fixture: NodeFixture;
  try {
    fixture = await context.node();
  } catch (error) {
    return {
      scenario: 'polling',
      title: '4. Polling cost',
      figures: [],
      skipped: [`no regtest node: ${(error as Error).message}`],
      seconds: 0,
    };
  }
  for (const size of fixture.sizes) await fixture.paidWallet(size);
  await fixture.mineAll();
  const figures: Figure[] = [];
  for (const size of fixture.sizes) {
    progress(`polling: ${size.toLocaleString('en-US')} open transactions`);
    const wallet = await fixture.paidWallet(size);
    const { app, rpc } = await nodeLedger(fixture, wallet, ledgerPath(context.tmpDir, `poll-${size}`));
    try {
      const ledger = app.coin('ltc');
      await ledger.scanReceived();
      await fixture.node.mine(1);
      await ledger.syncWithChain(); // warm-up
      await fixture.node.mine(1);
      rpc.reset();
      const start = now();
      const result = await ledger.syncWithChain();
      const oursMs = now() - start;
      const requests = rpc.requests;
      const calls = rpc.calls;
      const tracked = (await ledger.read((book) => book.trackedTransactions())).length;
      if (tracked !== size || result.lookedUp > 0) {
        throw new Error(`expected ${size} tracked transactions all in one reading, got ${tracked} (${result.lookedUp} looked up alone)`);
      }

      // Baseline 1: the round's calls, raw.
      const raw = fixture.raw(wallet.name);
      const rawRound = async () => {
        const height = (await raw.call('getblockcount')) as number;
        const hash = await raw.call('getblockhash', [height - LTC.trackingLimit]);
        await raw.call('listsinceblock', [hash, 1, true]);
      };
      await rawRound();
      const rawStart = now();
      await rawRound();
      const rawMs = now() - rawStart;
      // Baseline 2: one gettransaction per open transaction, one by one.
      const oneStart = now();
      for (const txid of wallet.txids) await raw.call('gettransaction', [txid, true]);
      const oneByOneMs = now() - oneStart;

      figures.push(
        figure({
          scenario: 'polling',
          name: `one polling round, ${size.toLocaleString('en-US')} open transactions: wall time`,
          unit: 'ms',
          ours: oursMs,
          baseline: rawMs,
          baselineLabel: "the round's RPC calls alone (getblockcount, getblockhash, listsinceblock), raw",
          better: 'lower',
          n: size,
          extra: { updated: result.updates.length, lookedUp: result.lookedUp, oneByOneMs },
        }),
        figure({
          scenario: 'polling',
          name: `one polling round, ${size.toLocaleString('en-US')} open transactions: RPC requests`,
          unit: 'requests',
          ours: requests,
          baseline: wallet.txids.length,
          baselineLabel: 'one gettransaction per open transaction',
          better: 'lower',
          n: size,
          extra: { rpcCalls: calls, methods: rpc.summary(), baselineMs: oneByOneMs },
        }),
      );
    } finally {
      await app.close();
    }
  }
  return {
    scenario: 'polling',
    title: '4. Polling cost (one confirmation-polling round)',
    figures,
    skipped: [],
    seconds: (now() - started) / 1000,
  };
}
