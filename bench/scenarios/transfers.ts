/**
 * Scenario 1 — internal transfers: one transfer per database transaction, between random accounts
 * among 1,000 (low contention) or among 10 hot accounts (high contention), amounts 1–100 base units.
 *
 * Ours: `ledger.transaction(book => book.wallet('main').then(w => w.transfer(from, to, amount)))`.
 * Baseline: the same eight statements straight through the driver (bench/baseline/transfer-sql.ts),
 * same isolation, and on PostgreSQL the same retry-on-40001/40P01 loop with the same back-off.
 *
 * Each measurement runs for a fixed time after a warm-up; in full mode ours and the baseline
 * alternate (ours, baseline, baseline, ours) so that drift during the run hits both alike.
 * Workers are concurrent async loops in this one process, each with its own pooled connection.
 */
import { join } from 'node:path';
import pg from 'pg';
import { CryptoAssets } from '../../src/app.js';
import { LTC } from '../../src/domain/coins.js';
import { CannotResolveDatabaseConflict } from '../../src/domain/errors.js';
import { openRawSqlite, RawStats, SqliteStatements } from '../baseline/raw-db.js';
import { pgTransfer, sqliteTransfer, transferStatements } from '../baseline/transfer-sql.js';
import type { BenchContext } from '../lib/context.js';
import { createFundedAccounts, randomAmount, randomPair } from '../lib/ledger-setup.js';
import { progress } from '../lib/log.js';
import { recreateDatabase } from '../lib/postgres.js';
import { now } from '../lib/timing.js';
import { type Figure, figure, type ScenarioResult } from '../lib/types.js';

const ACCOUNTS = 1000;
const HOT_ACCOUNTS = 10;
const FUND_EACH = 1_000_000_000_000n;
const WALLET = 'main';
const network = LTC.networks.regtest!;

interface Timing {
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly rounds: number;
}

/** One side's totals over its rounds. */
interface Tally {
  done: number;
  /** Transfers that gave up after every retry conflicted. */
  failed: number;
  /** Transfers that failed with another database error, by SQLSTATE. */
  errors: Map<string, number>;
  retries: number;
  ms: number;
}

/** What one step did: `ok`, `gaveup`, or the SQLSTATE of another database error. */
type StepOutcome = 'ok' | 'gaveup' | { readonly error: string };

/**
 * SQLSTATEs counted (and reported) instead of aborting the measurement. 53200: PostgreSQL's
 * "not enough elements in RWConflictPool to record a read/write conflict", which its default
 * configuration raises under many concurrent SERIALIZABLE transactions; neither side retries it.
 */
const COUNTED_ERRORS = new Set(['53200']);

function outcomeOf(error: unknown): StepOutcome {
  const code = (error as { code?: unknown; cause?: { code?: unknown } } | null)?.code;
  if (typeof code === 'string' && COUNTED_ERRORS.has(code)) return { error: code };
  throw error;
}

/** Run `workers` loops of `step` for `ms`. */
async function runFor(ms: number, workers: number, step: () => Promise<StepOutcome>): Promise<Omit<Tally, 'retries'>> {
  let done = 0;
  let failed = 0;
  const errors = new Map<string, number>();
  const start = now();
  const deadline = start + ms;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (now() < deadline) {
        const outcome = await step();
        if (outcome === 'ok') done++;
        else if (outcome === 'gaveup') failed++;
        else errors.set(outcome.error, (errors.get(outcome.error) ?? 0) + 1);
      }
    }),
  );
  return { done, failed, errors, ms: now() - start };
}

interface Side {
  /** One transfer. */
  step: () => Promise<StepOutcome>;
  /** Conflict re-runs so far. */
  retries(): number;
}

/** Warm both sides up, then measure them alternately. */
async function compare(timing: Timing, workers: number, ours: Side, baseline: Side): Promise<{ ours: Tally; baseline: Tally }> {
  await runFor(timing.warmupMs, workers, ours.step);
  await runFor(timing.warmupMs, workers, baseline.step);
  const empty = (): Tally => ({ done: 0, failed: 0, errors: new Map(), retries: 0, ms: 0 });
  const tallies = { ours: empty(), baseline: empty() };
  const order: ('ours' | 'baseline')[] = [];
  for (let round = 0; round < timing.rounds; round++)
    order.push(...(round % 2 === 0 ? (['ours', 'baseline'] as const) : (['baseline', 'ours'] as const)));
  for (const which of order) {
    const side = which === 'ours' ? ours : baseline;
    const before = side.retries();
    const result = await runFor(timing.measureMs, workers, side.step);
    const tally = tallies[which];
    tally.done += result.done;
    tally.failed += result.failed;
    for (const [code, n] of result.errors) tally.errors.set(code, (tally.errors.get(code) ?? 0) + n);
    tally.ms += result.ms;
    tally.retries += side.retries() - before;
  }
  return tallies;
}

function perSecond(tally: Tally): number {
  return (tally.done / tally.ms) * 1000;
}

function errorText(tally: Tally): string {
  return [...tally.errors].map(([code, n]) => `${n}× SQLSTATE ${code}`).join(' ') || 'none';
}

function per1000(count: number, tally: Tally): number {
  return tally.done === 0 ? Number.NaN : (count / tally.done) * 1000;
}

async function sqliteFigures(context: BenchContext, timing: Timing): Promise<Figure[]> {
  const path = join(context.tmpDir, 'transfers.sqlite');
  const statements = transferStatements('ltc');
  const figures: Figure[] = [];
  let ids: number[] = [];
  {
    const app = await CryptoAssets.open({ database: { kind: 'sqlite', path }, coins: [{ coin: LTC, network }], migrate: true });
    try {
      ids = await createFundedAccounts(app, 'ltc', WALLET, ACCOUNTS, FUND_EACH);
    } finally {
      await app.close();
    }
  }
  for (const synchronous of ['full', 'normal'] as const) {
    progress(`transfers: SQLite synchronous=${synchronous.toUpperCase()}`);
    const app = await CryptoAssets.open({ database: { kind: 'sqlite', path, synchronous }, coins: [{ coin: LTC, network }] });
    const raw = new SqliteStatements(openRawSqlite(path, synchronous));
    try {
      const ledger = app.coin('ltc');
      const ours: Side = {
        step: async () => {
          const [from, to] = randomPair(ids);
          await ledger.transaction(async (book) => (await book.wallet(WALLET)).transfer(from, to, randomAmount()));
          return 'ok';
        },
        retries: () => app.stats.conflictRetries,
      };
      const baseline: Side = {
        step: async () => {
          const [from, to] = randomPair(ids);
          sqliteTransfer(raw, statements, WALLET, from, to, randomAmount());
          return 'ok';
        },
        retries: () => 0,
      };
      const result = await compare(timing, 1, ours, baseline);
      // The ledger check over everything both sides wrote (after the last setting; it takes
      // seconds, so in full mode only).
      const check =
        context.mode !== 'full'
          ? 'not run in quick mode'
          : synchronous === 'normal'
            ? (await app.verifyLedger()).ok
            : 'checked after NORMAL';
      figures.push(
        figure({
          scenario: 'transfers',
          name: `SQLite file, WAL, synchronous=${synchronous.toUpperCase()}${synchronous === 'full' ? ' (default, durable)' : ''}, 1 process`,
          unit: 'transfers/s',
          ours: perSecond(result.ours),
          baseline: perSecond(result.baseline),
          baselineLabel: 'same 8 SQL statements via better-sqlite3, BEGIN IMMEDIATE',
          better: 'higher',
          n: result.ours.done,
          extra: { transfersOurs: result.ours.done, transfersBaseline: result.baseline.done, ledgerCheck: check },
        }),
      );
    } finally {
      raw.db.close();
      await app.close();
    }
  }
  return figures;
}

async function postgresFigures(url: string, timing: Timing, workerCounts: readonly number[], verify: boolean): Promise<Figure[]> {
  await recreateDatabase(url);
  const statements = transferStatements('ltc');
  let ids: number[];
  {
    const app = await CryptoAssets.open({
      database: { kind: 'postgres', url, poolSize: 4 },
      coins: [{ coin: LTC, network }],
      migrate: true,
    });
    try {
      ids = await createFundedAccounts(app, 'ltc', WALLET, ACCOUNTS, FUND_EACH);
    } finally {
      await app.close();
    }
  }
  const hot = ids.slice(0, HOT_ACCOUNTS);
  const figures: Figure[] = [];
  for (const contention of ['low', 'high'] as const) {
    const pickFrom = contention === 'low' ? ids : hot;
    // Hot accounts make few transfers per second: measure longer so that the count means something.
    const window = contention === 'high' ? { ...timing, measureMs: timing.measureMs * 2 } : timing;
    for (const workers of workerCounts) {
      progress(`transfers: PostgreSQL ${workers} worker(s), ${contention} contention`);
      const app = await CryptoAssets.open({ database: { kind: 'postgres', url, poolSize: workers }, coins: [{ coin: LTC, network }] });
      const pool = new pg.Pool({ connectionString: url, max: workers });
      const rawStats = new RawStats();
      try {
        const ledger = app.coin('ltc');
        const ours: Side = {
          step: async () => {
            const [from, to] = randomPair(pickFrom);
            try {
              await ledger.transaction(async (book) => (await book.wallet(WALLET)).transfer(from, to, randomAmount()));
              return 'ok';
            } catch (error) {
              if (error instanceof CannotResolveDatabaseConflict) return 'gaveup';
              return outcomeOf(error);
            }
          },
          retries: () => app.stats.conflictRetries,
        };
        const baseline: Side = {
          step: async () => {
            const [from, to] = randomPair(pickFrom);
            try {
              return (await pgTransfer(pool, rawStats, statements, WALLET, from, to, randomAmount())) === undefined ? 'gaveup' : 'ok';
            } catch (error) {
              return outcomeOf(error);
            }
          },
          retries: () => rawStats.retries,
        };
        const result = await compare(window, workers, ours, baseline);
        figures.push(
          figure({
            scenario: 'transfers',
            name: `PostgreSQL SERIALIZABLE, ${workers} worker${workers === 1 ? '' : 's'}, ${contention === 'low' ? 'low contention (random among 1,000)' : 'high contention (10 hot accounts)'}`,
            unit: 'transfers/s',
            ours: perSecond(result.ours),
            baseline: perSecond(result.baseline),
            baselineLabel: 'same 8 SQL statements via pg, same retry loop',
            better: 'higher',
            n: result.ours.done,
            extra: {
              retriesPer1000Ours: per1000(result.ours.retries, result.ours),
              retriesPer1000Baseline: per1000(result.baseline.retries, result.baseline),
              gaveUpOurs: result.ours.failed,
              gaveUpBaseline: result.baseline.failed,
              otherErrorsOurs: errorText(result.ours),
              otherErrorsBaseline: errorText(result.baseline),
              transfersOurs: result.ours.done,
              transfersBaseline: result.baseline.done,
            },
          }),
        );
      } finally {
        await pool.end();
        await app.close();
      }
    }
  }
  if (!verify) return figures.map((f) => ({ ...f, extra: { ...f.extra, ledgerCheck: 'not run in quick mode' } }));
  // Ledger check over everything both sides wrote (not timed).
  const app = await CryptoAssets.open({ database: { kind: 'postgres', url, poolSize: 2 }, coins: [{ coin: LTC, network }] });
  try {
    const check = await app.verifyLedger();
    return figures.map((f) => ({ ...f, extra: { ...f.extra, ledgerCheck: check.ok } }));
  } finally {
    await app.close();
  }
}

export async function transfersScenario(context: BenchContext): Promise<ScenarioResult> {
  const started = now();
  const timing: Timing =
    context.mode === 'quick' ? { warmupMs: 250, measureMs: 1000, rounds: 1 } : { warmupMs: 1000, measureMs: 3000, rounds: 2 };
  const figures: Figure[] = [];
  const skipped: string[] = [];
  figures.push(...(await sqliteFigures(context, timing)));
  if ('url' in context.postgres) {
    figures.push(...(await postgresFigures(context.postgres.url, timing, [1, 4, 16], context.mode === 'full')));
  } else {
    skipped.push(`PostgreSQL transfers: ${context.postgres.unavailable}`);
  }
  return {
    scenario: 'transfers',
    title: '1. Internal transfers (one per database transaction)',
    figures,
    skipped,
    seconds: (now() - started) / 1000,
  };
}
