/**
 * Scenario 1 — internal transfers, one per call, each beside its physical limit measured in the
 * same run: the minimal correct transfer written by hand (bench/baseline/minimal-transfer.ts).
 * Amounts of 1–100 base units between random accounts among 1,000, or among 10 hot accounts.
 *
 * Ours: `ledger.transfer('main', from, to, amount)` — the library's documented way to make one
 * transfer: on PostgreSQL one statement at READ COMMITTED (the coin's transfer function), on SQLite
 * a managed transaction. (A transfer inside `ledger.transaction(…)` is a SERIALIZABLE callback that
 * may read then write, and on hot accounts it is aborted and re-run: that is not the one-transfer path.) Limit: PostgreSQL, one PL/pgSQL call at
 * READ COMMITTED (one round trip); SQLite, four statements in one transaction, synchronous=FULL.
 * Both write the same rows into the same tables, and the ledger check runs over all of it.
 *
 * Before the timed runs, 100 transfers of each side run one by one with the driver counted
 * (bench/lib/wire-count.ts): round trips and statements per transfer are measured, not assumed.
 */
import { join } from 'node:path';
import pg from 'pg';
import { CryptoAssets } from '../../src/app.js';
import { LTC } from '../../src/domain/coins.js';
import { CannotResolveDatabaseConflict } from '../../src/domain/errors.js';
import { PostgresLimit, SqliteLimit, type TransferOrder } from '../baseline/minimal-transfer.js';
import { openRawSqlite, SqliteStatements } from '../baseline/raw-db.js';
import type { BenchContext } from '../lib/context.js';
import { createFundedAccounts, randomAmount, randomPair } from '../lib/ledger-setup.js';
import { progress } from '../lib/log.js';
import { compareSides, errorText, outcomeOf, perSecond, type Side, type Tally, timingFor } from '../lib/measure.js';
import { recreateDatabase } from '../lib/postgres.js';
import { now } from '../lib/timing.js';
import { type Figure, figure, type Goal, ratioGoal, type ScenarioResult } from '../lib/types.js';
import { measureCost, type OperationCost } from '../lib/wire-count.js';

export const ACCOUNTS = 1000;
const HOT_ACCOUNTS = 10;
export const FUND_EACH = 1_000_000_000_000n;
export const WALLET = 'main';
const network = LTC.networks.regtest!;
/** Transfers run one by one with the driver counted, per side. */
const COUNTED = 100;

/** A random transfer among `ids`. */
export function randomOrder(ids: readonly number[]): TransferOrder {
  const [from, to] = randomPair(ids);
  return { from, to, amount: randomAmount() };
}

/** One transfer through the library's one-transfer call. */
export function oursSide(app: CryptoAssets, ids: readonly number[]): Side {
  const ledger = app.coin('ltc');
  return {
    step: async () => {
      const { from, to, amount } = randomOrder(ids);
      try {
        await ledger.transfer(WALLET, from, to, amount);
        return 'ok';
      } catch (error) {
        if (error instanceof CannotResolveDatabaseConflict) return 'gaveup';
        return outcomeOf(error);
      }
    },
    retries: () => app.stats.conflictRetries,
  };
}

/** A side without re-runs: a failure is a counted error or stops the run. */
export function plainSide(step: () => Promise<void>): Side {
  return {
    step: async () => {
      try {
        await step();
        return 'ok';
      } catch (error) {
        return outcomeOf(error);
      }
    },
    retries: () => 0,
  };
}

/** Measured round trips and statements per operation (`per`) of both sides, over `times` operations each. */
export async function costs(engine: 'postgres' | 'sqlite', ours: Side, limit: Side, per = 'transfer', times = COUNTED) {
  const count = async (side: Side): Promise<OperationCost> =>
    measureCost(engine, times, async () => {
      if ((await side.step()) !== 'ok') throw new Error(`a counted ${per} did not complete`);
    });
  return { ours: await count(ours), baseline: await count(limit), per };
}

function per1000(count: number, tally: Tally): number {
  return tally.done === 0 ? Number.NaN : (count / tally.done) * 1000;
}

async function sqliteFigures(context: BenchContext): Promise<Figure[]> {
  const path = join(context.tmpDir, 'transfers.sqlite');
  const app = await CryptoAssets.open({
    database: { kind: 'sqlite', path, synchronous: 'full' },
    coins: [{ coin: LTC, network }],
    migrate: true,
  });
  const raw = new SqliteStatements(openRawSqlite(path, 'full'));
  try {
    const ids = await createFundedAccounts(app, 'ltc', WALLET, ACCOUNTS, FUND_EACH);
    const walletId = raw.get('SELECT id FROM ltc_wallet WHERE name = ?', [WALLET])!.id as bigint;
    const limit = new SqliteLimit(raw, 'ltc', walletId);
    progress('transfers: SQLite synchronous=FULL, 1 process');
    const ours = oursSide(app, ids);
    const hand = plainSide(async () => limit.transfer(randomOrder(ids)));
    const cost = await costs('sqlite', ours, hand);
    const result = await compareSides(timingFor(context.mode), 1, { ours, limit: hand });
    const ratio = perSecond(result.ours) / perSecond(result.limit);
    return [
      figure({
        scenario: 'transfers',
        name: 'SQLite file, WAL, synchronous=FULL, 1 process, random among 1,000',
        unit: 'transfers/s',
        ours: perSecond(result.ours),
        baseline: perSecond(result.limit),
        baselineLabel: 'minimal transfer by hand: 4 statements in BEGIN IMMEDIATE',
        better: 'higher',
        n: result.ours.done,
        cost,
        goal: ratioGoal(ratio, 0.75),
        extra: { transfersOurs: result.ours.done, transfersLimit: result.limit.done, ledgerCheck: (await app.verifyLedger()).ok },
      }),
    ];
  } finally {
    raw.db.close();
    await app.close();
  }
}

interface PostgresRow {
  readonly label: string;
  readonly pick: readonly number[];
  readonly workers: number;
  readonly goal: (ratio: number, ours: Tally) => Goal;
}

function hotGoal(minRatio: number | undefined) {
  return (ratio: number, ours: Tally): Goal => {
    const ratioMet = minRatio === undefined || ratio >= minRatio;
    return {
      text: `${minRatio === undefined ? '' : `≥ ${minRatio} of the limit and `}0 given up (${ours.failed} given up)`,
      met: ratioMet && ours.failed === 0,
    };
  };
}

async function postgresFigures(context: BenchContext, url: string): Promise<Figure[]> {
  await recreateDatabase(url);
  const setup = await CryptoAssets.open({
    database: { kind: 'postgres', url, poolSize: 4 },
    coins: [{ coin: LTC, network }],
    migrate: true,
  });
  let ids: number[];
  try {
    ids = await createFundedAccounts(setup, 'ltc', WALLET, ACCOUNTS, FUND_EACH);
  } finally {
    await setup.close();
  }
  const hot = ids.slice(0, HOT_ACCOUNTS);
  const rows: PostgresRow[] = [
    { label: '1 worker, random among 1,000', pick: ids, workers: 1, goal: (ratio) => ratioGoal(ratio, 0.8) },
    { label: '4 workers, 10 hot accounts', pick: hot, workers: 4, goal: hotGoal(undefined) },
    { label: '16 workers, 10 hot accounts', pick: hot, workers: 16, goal: hotGoal(0.5) },
  ];
  const timing = timingFor(context.mode);
  const figures: Figure[] = [];
  let cost: Figure['cost'];
  for (const row of rows) {
    progress(`transfers: PostgreSQL, ${row.label}`);
    const app = await CryptoAssets.open({ database: { kind: 'postgres', url, poolSize: row.workers }, coins: [{ coin: LTC, network }] });
    const pool = new pg.Pool({ connectionString: url, max: row.workers });
    try {
      const limit = await PostgresLimit.install(pool, 'ltc', WALLET);
      const ours = oursSide(app, row.pick);
      const hand = plainSide(() => limit.transfer(randomOrder(row.pick)));
      cost ??= await costs('postgres', ours, hand);
      // Hot accounts make few transfers per second today: measure longer so that counts mean something.
      const window = row.pick === hot ? { ...timing, measureMs: timing.measureMs * 2 } : timing;
      // One worker also measures the limit as one CTE statement (engines without PL/pgSQL).
      const statement = plainSide(() => limit.transferByStatement(randomOrder(row.pick)));
      const sides: Record<string, Side> = row.workers === 1 ? { ours, limit: hand, statement } : { ours, limit: hand };
      const tallies = await compareSides(window, row.workers, sides);
      const result = { ours: tallies.ours!, limit: tallies.limit! };
      const statementRate = tallies.statement ? perSecond(tallies.statement) : undefined;
      const ratio = perSecond(result.ours) / perSecond(result.limit);
      figures.push(
        figure({
          scenario: 'transfers',
          name: `PostgreSQL, ${row.label}`,
          unit: 'transfers/s',
          ours: perSecond(result.ours),
          baseline: perSecond(result.limit),
          baselineLabel: 'minimal transfer by hand: one PL/pgSQL call, READ COMMITTED, id order',
          better: 'higher',
          n: result.ours.done,
          cost,
          goal: row.goal(ratio, result.ours),
          extra: {
            gaveUpOurs: result.ours.failed,
            conflictRerunsOurs: result.ours.retries,
            rerunsPer1000Ours: per1000(result.ours.retries, result.ours),
            otherErrorsOurs: errorText(result.ours),
            failedLimit: result.limit.failed + [...result.limit.errors.values()].reduce((a, b) => a + b, 0),
            transfersOurs: result.ours.done,
            transfersLimit: result.limit.done,
            ...(statementRate === undefined ? {} : { limitAsOneCteStatementPerSecond: statementRate }),
          },
        }),
      );
    } finally {
      await pool.end();
      await app.close();
    }
  }
  const check = await CryptoAssets.open({ database: { kind: 'postgres', url, poolSize: 2 }, coins: [{ coin: LTC, network }] });
  try {
    const ok = (await check.verifyLedger()).ok;
    return figures.map((f) => ({ ...f, extra: { ...f.extra, ledgerCheck: ok } }));
  } finally {
    await check.close();
  }
}

export async function transfersScenario(context: BenchContext): Promise<ScenarioResult> {
  const started = now();
  const figures: Figure[] = [];
  const skipped: string[] = [];
  figures.push(...(await sqliteFigures(context)));
  if ('url' in context.postgres) figures.push(...(await postgresFigures(context, context.postgres.url)));
  else skipped.push(`PostgreSQL transfers: ${context.postgres.unavailable}`);
  return {
    scenario: 'transfers',
    title: '1. Internal transfers, one per call, beside the minimal transfer by hand',
    figures,
    skipped,
    seconds: (now() - started) / 1000,
  };
}
