/**
 * Scenario 5 — deposit intake on a real regtest node, and the memory of the service meanwhile.
 *
 * N payments (N separate transactions, each to its own receiving address; N = 1,000 quick,
 * 10,000 full) wait in the node's mempool while the wallet-notification gate is shut. The helper
 * service runs as its own process (`cryptoassets service`, a SQLite ledger, then — when the benchmark
 * has PostgreSQL — a PostgreSQL one, each its own run; notifications through a
 * named pipe, `confirmation_threshold: 1`, polling and broadcasting slowed to once an hour so that
 * only notifications do the work). Then the gate opens and blocks are mined: each confirmation
 * fires one notification per transaction; the service looks the txids up (`gettransaction`) and
 * records and credits the deposit (notified txids are gathered into batches: one look-up and one
 * database transaction per batch). Measured: from the first block's `generatetoaddress` until the
 * ledger shows all N deposits credited. A warm-up intake of 100 deposits the same way comes first.
 *
 * Baseline: the node's own batch answer rate — the same N `gettransaction` calls, 1,000 per
 * JSON-RPC batch request. Goal: at least 1,000 deposits/s or half the node's rate, the lower.
 * Memory: the service process's peak resident set (VmHWM, over its whole life, so warm-up and
 * measured intake) against its resident set idle after start-up.
 */
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { CryptoAssets } from '../../src/app.js';
import { LTC } from '../../src/domain/coins.js';
import type { DatabaseOptions } from '../../src/store/open.js';
import type { BenchContext } from '../lib/context.js';
import { addReceivingAddresses } from '../lib/ledger-setup.js';
import { progress } from '../lib/log.js';
import { INTAKE_WALLET, type NodeFixture } from '../lib/node-fixture.js';
import { dropDatabase, recreateDatabase } from '../lib/postgres.js';
import { ServiceProcess } from '../lib/service-process.js';
import { now, sleep } from '../lib/timing.js';
import { type Figure, figure, type ScenarioResult } from '../lib/types.js';

const network = LTC.networks.regtest!;
/** Deposits taken in (and credited) before the measured ones, so that the service is warm. */
const WARMUP = 100;
/** gettransaction calls per JSON-RPC batch request of the baseline (the node answer rate). */
const NODE_BATCH = 1000;

function serviceConfig(fixture: NodeFixture, databaseUrl: string) {
  const node = fixture.node;
  return {
    database: { url: databaseUrl },
    coins: {
      ltc: {
        network: 'regtest',
        confirmation_threshold: 1,
        backend: { type: 'bitcoind', url: node.url, username: node.username, password: node.password, wallet: INTAKE_WALLET },
        walletnotify: { type: 'pipe', path: fixture.fifo },
      },
    },
    status_server: { enabled: false },
    service: { broadcast_period: 3600, poll_period: 3600, resend_unprocessed: false, log_level: 'info' },
  };
}

/** The ledger database of one intake run, and a reader counting its credited deposits. */
interface IntakeDatabase {
  readonly engine: 'sqlite' | 'postgres';
  readonly url: string;
  readonly options: DatabaseOptions;
  credited(): Promise<number>;
  close(): Promise<void>;
}

const CREDITED = `SELECT COUNT(*) AS n FROM ltc_transaction WHERE type = 'deposit' AND state = 'credited'`;

function sqliteIntake(context: BenchContext): IntakeDatabase {
  const path = join(context.tmpDir, 'intake.sqlite');
  let reader: BetterSqlite3.Database | undefined;
  return {
    engine: 'sqlite',
    url: `sqlite:${path}`,
    options: { kind: 'sqlite', path },
    credited: async () => {
      reader ??= new BetterSqlite3(path);
      return Number((reader.prepare(CREDITED).get() as { n: number }).n);
    },
    close: async () => {
      reader?.close();
    },
  };
}

async function postgresIntake(url: string): Promise<IntakeDatabase> {
  await recreateDatabase(url);
  const reader = new pg.Client({ connectionString: url });
  await reader.connect();
  return {
    engine: 'postgres',
    url,
    options: { kind: 'postgres', url },
    credited: async () => Number((await reader.query<{ n: string }>(CREDITED)).rows[0]!.n),
    close: () => reader.end(),
  };
}

/** What one intake run measured. */
interface IntakeRun {
  readonly ms: number;
  readonly blocks: number;
  readonly miningMs: number;
  readonly firstCreditedMs: number;
  readonly idle: ReturnType<ServiceProcess['memory']>;
  readonly peak: ReturnType<ServiceProcess['memory']>;
  readonly txids: readonly string[];
}

/**
 * One intake of `count` deposits (after the warm-up) into a service process on `database`. The
 * node wallet is the same for every run (only it notifies); each run pays fresh addresses of it
 * that only its own ledger knows.
 */
async function intakeRun(context: BenchContext, fixture: NodeFixture, database: IntakeDatabase, count: number): Promise<IntakeRun> {
  const node = fixture.node;
  progress(`deposits (${database.engine}): ${(count + WARMUP).toLocaleString('en-US')} receiving addresses in the node and the ledger`);
  const addresses = await fixture.newAddresses(INTAKE_WALLET, WARMUP + count);
  const warmupAddresses = addresses.slice(0, WARMUP);
  const measuredAddresses = addresses.slice(WARMUP);
  {
    const app = await CryptoAssets.open({ database: database.options, coins: [{ coin: LTC, network }], migrate: true });
    try {
      await addReceivingAddresses(app, 'ltc', 'main', addresses);
    } finally {
      await app.close();
    }
  }

  progress(`deposits (${database.engine}): starting the service process`);
  const service = ServiceProcess.start(join(context.tmpDir, `service-${database.engine}.json`), serviceConfig(fixture, database.url));
  /** Open the gate, mine, wait until `target` deposits are credited; times from the first block. */
  const intake = async (target: number) => {
    fixture.openGate();
    const start = now();
    const blocks = await fixture.mineAll();
    const miningMs = now() - start;
    let firstCreditedMs: number | undefined;
    const before = await database.credited();
    let last = before;
    let lastChange = now();
    for (;;) {
      const n = await database.credited();
      if (n > before && firstCreditedMs === undefined) firstCreditedMs = now() - start;
      if (n === target) break;
      if (n !== last) {
        last = n;
        lastChange = now();
      }
      if (service.exited) throw new Error(`the service exited: ${service.log.slice(-2000)}`);
      if (now() - lastChange > 120_000)
        throw new Error(`intake stalled at ${n} of ${target} credited; service log: ${service.log.slice(-2000)}`);
      await sleep(20);
    }
    const ms = now() - start;
    fixture.closeGate();
    return { ms, blocks, miningMs, firstCreditedMs: firstCreditedMs ?? Number.NaN };
  };
  let minerUnloaded = false;
  try {
    await service.waitForLog('first sync with the chain done', 120_000);
    await sleep(500);
    const idle = service.memory();

    progress(`deposits (${database.engine}): warm-up, ${WARMUP} deposits`);
    await fixture.payEach(warmupAddresses);
    await intake(WARMUP);

    progress(`deposits (${database.engine}): ${count.toLocaleString('en-US')} payments into the mempool (notifications gated off)`);
    const txids = await fixture.payEach(measuredAddresses);
    if ((await database.credited()) !== WARMUP) throw new Error('deposits were credited before the gate opened');
    // The miner wallet would fire (filtered-out) notifications for every payment too.
    await node.rpc('unloadwallet', node.minerWallet);
    minerUnloaded = true;

    progress(`deposits (${database.engine}): gate open, mining; waiting until every deposit is credited`);
    const measured = await intake(WARMUP + count);
    return { ...measured, idle, peak: service.memory(), txids };
  } finally {
    fixture.closeGate();
    await database.close();
    await service.stop();
    if (minerUnloaded) await node.rpc('loadwallet', node.minerWallet);
  }
}

export async function depositsScenario(context: BenchContext): Promise<ScenarioResult> {
  const started = now();
  let fixture: NodeFixture;
  try {
    fixture = await context.node();
  } catch (error) {
    const reason = `no regtest node: ${(error as Error).message}`;
    return { scenario: 'deposits', title: '5. Deposit intake and memory', figures: [], skipped: [reason], seconds: 0 };
  }
  const count = context.mode === 'quick' ? 1000 : 10_000;
  // Whatever an earlier scenario left in the mempool is mined first, so that the measured blocks
  // carry only the intake payments. (The polling scenario pays its own wallets just before its
  // rounds: paid here, they were buried past the tracking limit by the intake's blocks.)
  await fixture.mineAll();
  await fixture.createAddressWallet(INTAKE_WALLET, 0);

  const runs: [IntakeDatabase['engine'], IntakeRun][] = [['sqlite', await intakeRun(context, fixture, sqliteIntake(context), count)]];
  const skipped: string[] = [];
  if ('url' in context.postgres) {
    const url = context.postgres.url;
    try {
      runs.push(['postgres', await intakeRun(context, fixture, await postgresIntake(url), count)]);
    } finally {
      await dropDatabase(url);
    }
  } else skipped.push(`PostgreSQL intake: ${context.postgres.unavailable}`);

  // Baseline: the node's own batch answer rate — 1,000 gettransaction per JSON-RPC request, for
  // the same txids one request after another (after a warm-up request).
  const txids = runs[0]![1].txids;
  const raw = fixture.raw(INTAKE_WALLET);
  const lookUp = (ids: readonly string[]) => raw.batch(ids.map((txid) => ({ method: 'gettransaction', params: [txid, true] })));
  await lookUp(txids.slice(0, NODE_BATCH));
  const baseStart = now();
  for (let i = 0; i < txids.length; i += NODE_BATCH) await lookUp(txids.slice(i, i + NODE_BATCH));
  const baseMs = now() - baseStart;
  const nodeRate = (count / baseMs) * 1000;
  const goalRate = Math.min(1000, nodeRate / 2);

  const figures: Figure[] = runs.flatMap(([engine, measured]) => {
    const oursRate = (count / measured.ms) * 1000;
    return [
      figure({
        scenario: 'deposits',
        name: `deposit intake (${engine}): ${count.toLocaleString('en-US')} payments (separate transactions), notification → credited`,
        unit: 'deposits/s',
        ours: oursRate,
        baseline: nodeRate,
        baselineLabel: `node answering gettransaction, ${NODE_BATCH.toLocaleString('en-US')} per batch request`,
        better: 'higher',
        n: count,
        goal: { text: `≥ ${goalRate.toFixed(0)} deposits/s (1,000/s or half the node's rate, the lower)`, met: oursRate >= goalRate },
        extra: {
          oursMs: measured.ms,
          baselineMs: baseMs,
          blocks: measured.blocks,
          miningMs: measured.miningMs,
          firstCreditedMs: measured.firstCreditedMs,
          // From the node's answer to the mining calls to the last credit: the part of the window
          // the node is not connecting blocks (it answers no wallet call meanwhile).
          afterMiningPerSecond: (count / (measured.ms - measured.miningMs)) * 1000,
        },
      }),
      figure({
        scenario: 'memory',
        name: `service process peak RSS during the intake of ${count.toLocaleString('en-US')} deposits (${engine})`,
        unit: 'MiB',
        ours: measured.peak.peakMiB,
        baseline: measured.idle.rssMiB,
        baselineLabel: 'same process idle after start-up',
        better: 'lower',
        n: count,
        extra: { rssAtEndMiB: measured.peak.rssMiB, peakAtStartupMiB: measured.idle.peakMiB },
      }),
    ];
  });
  return {
    scenario: 'deposits',
    title: '5. Deposit intake (regtest) and memory of the service',
    figures,
    skipped,
    seconds: (now() - started) / 1000,
  };
}
