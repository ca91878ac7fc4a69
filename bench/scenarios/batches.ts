/**
 * Scenario 2 — batches of 100 transfers per call on PostgreSQL, 1 worker, random accounts among
 * 1,000, all measured in turns in the same run:
 *
 * - ours, batch API: `ledger.transferMany(wallet, items)`, a batch in a transaction of its own
 *   (on PostgreSQL one statement at READ COMMITTED, as `ledger.transfer` is for one);
 * - ours, the same batch inside a managed transaction: `wallet.transferMany(items)` in
 *   `ledger.transaction(…)` (SERIALIZABLE, with whatever else the callback does);
 * - ours, 100 `wallet.transfer` calls inside one managed transaction (`app.transaction`: what
 *   an application can do without a batch API);
 * - ours, one transfer per call, `ledger.transfer` (the single-transfer rate the batch goal is judged against);
 * - the limit: the same 100 transfers by hand in one round trip (`bench_transfer_many`, the
 *   minimal transfer in a PL/pgSQL loop, one transaction).
 *
 * Goal: the batch API at least 10 times the single-transfer rate.
 */
import pg from 'pg';
import { CryptoAssets } from '../../src/app.js';
import { LTC } from '../../src/domain/coins.js';
import { PostgresLimit, type TransferOrder } from '../baseline/minimal-transfer.js';
import type { BenchContext } from '../lib/context.js';
import { createFundedAccounts } from '../lib/ledger-setup.js';
import { progress } from '../lib/log.js';
import { compareSides, perSecond, timingFor } from '../lib/measure.js';
import { recreateDatabase } from '../lib/postgres.js';
import { now } from '../lib/timing.js';
import { type Figure, figure, type ScenarioResult } from '../lib/types.js';
import { ACCOUNTS, costs, FUND_EACH, oursSide, plainSide, randomOrder, WALLET } from './transfers.js';

const BATCH = 100;
/** Calls of 100 counted one by one for round trips and statements. */
const COUNTED_CALLS = 5;
const network = LTC.networks.regtest!;

async function measure(context: BenchContext, url: string): Promise<Figure[]> {
  await recreateDatabase(url);
  const app = await CryptoAssets.open({ database: { kind: 'postgres', url, poolSize: 1 }, coins: [{ coin: LTC, network }], migrate: true });
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    const ids = await createFundedAccounts(app, 'ltc', WALLET, ACCOUNTS, FUND_EACH);
    const limit = await PostgresLimit.install(pool, 'ltc', WALLET);
    const ledger = app.coin('ltc');
    const orders = (): TransferOrder[] => Array.from({ length: BATCH }, () => randomOrder(ids));
    const sides = {
      batchApi: plainSide(async () => {
        await ledger.transferMany(WALLET, orders());
      }),
      batchManaged: plainSide(async () => {
        const items = orders();
        await ledger.transaction(async (book) => (await book.wallet(WALLET)).transferMany(items));
      }),
      managedLoop: plainSide(async () => {
        const items = orders();
        await app.transaction(async (tx) => {
          const wallet = await tx.coin('ltc').wallet(WALLET);
          for (const { from, to, amount } of items) await wallet.transfer(from, to, amount);
        });
      }),
      single: oursSide(app, ids),
      limitBatch: plainSide(() => limit.transferMany(orders())),
    };
    progress('batches: PostgreSQL, 100 transfers per call, 1 worker');
    const batchCost = await costs('postgres', sides.batchApi, sides.limitBatch, `call of ${BATCH}`, COUNTED_CALLS);
    const managedCost = await costs('postgres', sides.batchManaged, sides.limitBatch, `call of ${BATCH}`, COUNTED_CALLS);
    const loopCost = await costs('postgres', sides.managedLoop, sides.limitBatch, `call of ${BATCH}`, COUNTED_CALLS);
    const result = await compareSides(timingFor(context.mode), 1, sides);
    const single = perSecond(result.single);
    const limitRate = perSecond(result.limitBatch, BATCH);
    const batchRate = perSecond(result.batchApi, BATCH);
    const loopRate = perSecond(result.managedLoop, BATCH);
    const managedRate = perSecond(result.batchManaged, BATCH);
    const check = (await app.verifyLedger()).ok;
    const common = { scenario: 'batches', unit: 'transfers/s', baseline: limitRate, better: 'higher' as const };
    const baselineLabel = `${BATCH} minimal transfers by hand in one PL/pgSQL call (one round trip)`;
    return [
      figure({
        ...common,
        name: `PostgreSQL, batch of ${BATCH} per call: ledger.transferMany`,
        ours: batchRate,
        baselineLabel,
        n: result.batchApi.done * BATCH,
        cost: batchCost,
        goal: {
          text: `≥ 10× one transfer per call (${(batchRate / single).toFixed(1)}× of ${single.toFixed(0)}/s)`,
          met: batchRate >= 10 * single,
        },
        extra: { singleTransferPerSecond: single, timesSingle: batchRate / single, ledgerCheck: check },
      }),
      figure({
        ...common,
        name: `PostgreSQL, batch of ${BATCH} in a managed transaction: wallet.transferMany`,
        ours: managedRate,
        baselineLabel,
        n: result.batchManaged.done * BATCH,
        cost: managedCost,
        extra: { timesSingle: managedRate / single, ledgerCheck: check },
      }),
      figure({
        ...common,
        name: `PostgreSQL, ${BATCH} wallet.transfer calls in one managed transaction`,
        ours: loopRate,
        baselineLabel,
        n: result.managedLoop.done * BATCH,
        cost: loopCost,
        extra: { timesSingle: loopRate / single, ledgerCheck: check },
      }),
    ];
  } finally {
    await pool.end();
    await app.close();
  }
}

export async function batchesScenario(context: BenchContext): Promise<ScenarioResult> {
  const started = now();
  const title = '2. Batches of 100 transfers per call (PostgreSQL)';
  if (!('url' in context.postgres)) return { scenario: 'batches', title, figures: [], skipped: [context.postgres.unavailable], seconds: 0 };
  const figures = await measure(context, context.postgres.url);
  return { scenario: 'batches', title, figures, skipped: [], seconds: (now() - started) / 1000 };
}
