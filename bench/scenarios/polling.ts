/**
 * Scenario 6 — one sync round (`syncWithChain`, as the helper service runs it every poll period)
 * over N changed transactions, N = 100, 1,000 (and 10,000 in full mode): the deposits of a node
 * wallet whose every address received one payment, recorded in a fresh ledger by a first sync;
 * one block is mined so that every one of them has a new confirmation count, a warm-up round
 * runs, another block is mined, then the measured round applies N changes.
 *
 * Two baselines, both measured here: the round's own RPC requests (recorded while it ran) sent
 * again raw, one after another — what the node costs, against our wall time; and looking every
 * changed transaction up one by one (`gettransaction` each), against our RPC requests.
 */
import type { BenchContext } from '../lib/context.js';
import { progress } from '../lib/log.js';
import type { NodeFixture } from '../lib/node-fixture.js';
import { ledgerPath, nodeLedger } from '../lib/node-ledger.js';
import { median, now, timed } from '../lib/timing.js';
import { type Figure, figure, type ScenarioResult } from '../lib/types.js';

export async function pollingScenario(context: BenchContext): Promise<ScenarioResult> {
  const started = now();
  let fixture: NodeFixture;
  try {
    fixture = await context.node();
  } catch (error) {
    return {
      scenario: 'polling',
      title: '6. Sync round',
      figures: [],
      skipped: [`no regtest node: ${(error as Error).message}`],
      seconds: 0,
    };
  }
  const figures: Figure[] = [];
  for (const size of fixture.sizes) {
    // Paid and mined just before its own round: paid all at once up front, the small wallets'
    // payments were buried under the large ones' blocks, past the tracking limit, and no longer
    // changed (full mode: 10,000 payments take several blocks).
    const wallet = await fixture.paidWallet(size);
    await fixture.mineAll();
    progress(`polling: sync round over ${size.toLocaleString('en-US')} changed transactions`);
    const { app, rpc } = await nodeLedger(fixture, wallet, ledgerPath(context.tmpDir, `poll-${size}`));
    try {
      const ledger = app.coin('ltc');
      await ledger.syncWithChain();
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

      // Baseline 1: the round's own requests, sent again raw (after a warm-up; median of 3).
      const raw = fixture.raw(wallet.name);
      const sent = rpc.sent.map((request) => request.map(({ method, params }) => ({ method, params: [...(params ?? [])] })));
      const replay = async () => {
        for (const request of sent) await raw.batch(request);
      };
      await replay();
      const replays: number[] = [];
      for (let i = 0; i < 3; i++) replays.push((await timed(replay)).ms);
      const rawMs = median(replays);
      // Baseline 2: one gettransaction per open transaction, one by one.
      const oneStart = now();
      for (const txid of wallet.txids) await raw.call('gettransaction', [txid, true]);
      const oneByOneMs = now() - oneStart;

      figures.push(
        figure({
          scenario: 'polling',
          name: `sync round, ${size.toLocaleString('en-US')} changed transactions: wall time`,
          unit: 'ms',
          ours: oursMs,
          baseline: rawMs,
          baselineLabel: "the round's own RPC requests sent again raw, one after another",
          better: 'lower',
          n: size,
          extra: { updated: result.updates.length, lookedUp: result.lookedUp, oneByOneMs },
        }),
        figure({
          scenario: 'polling',
          name: `sync round, ${size.toLocaleString('en-US')} changed transactions: RPC requests`,
          unit: 'requests',
          ours: requests,
          baseline: wallet.txids.length,
          baselineLabel: 'one gettransaction per changed transaction',
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
    title: '6. Sync round over N changed transactions (syncWithChain)',
    figures,
    skipped: [],
    seconds: (now() - started) / 1000,
  };
}
