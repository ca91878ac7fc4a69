/**
 * Scenario 5 — deposit intake on a real regtest node, and the memory of the service meanwhile.
 *
 * N payments (N separate transactions, each to its own receiving address; N = 1,000 quick,
 * 10,000 full) wait in the node's mempool while the wallet-notification gate is shut. The helper
 * service runs as its own process (`cryptoassets service`, SQLite ledger, notifications through a
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
import { CryptoAssets } from '../../src/app.js';
import { LTC } from '../../src/domain/coins.js';
import type { BenchContext } from '../lib/context.js';
import { addReceivingAddresses } from '../lib/ledger-setup.js';
import { progress } from '../lib/log.js';
import { INTAKE_WALLET, type NodeFixture } from '../lib/node-fixture.js';
import { ServiceProcess } from '../lib/service-process.js';
import { now, sleep } from '../lib/timing.js';
import { type Figure, figure, type ScenarioResult } from '../lib/types.js';

const network = LTC.networks.regtest!;
/** Deposits taken in (and credited) before the measured ones, so that the service is warm. */
const WARMUP = 100;
/** gettransaction calls per JSON-RPC batch request of the baseline (the node answer rate). */
const NODE_BATCH = 1000;

function serviceConfig(fixture: NodeFixture, databasePath: string) {
  const node = fixture.node;
  return {
    database: { url: `sqlite:${databasePath}` },
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

export async function depositsScenario(context: BenchContext): Promise<ScenarioResult> {
  const started = now();
  let fixture: NodeFixture;
  try {
    fixture = await context.node();
  } catch (error) {
    const reason = `no regtest node: ${(error as Error).message}`;
    return { scenario: 'deposits', title: '5. Deposit intake and memory', figures: [], skipped: [reason], seconds: 0 };
  }
  const node = fixture.node;
  const count = context.mode === 'quick' ? 1000 : 10_000;
  // The wallets of the polling and rescan scenarios first, mined, so that the measured blocks
  // carry only the intake payments.
  for (const size of fixture.sizes) await fixture.paidWallet(size);
  await fixture.mineAll();

  progress(`deposits: ${(count + WARMUP).toLocaleString('en-US')} receiving addresses in the node and the ledger`);
  const addresses = await fixture.createAddressWallet(INTAKE_WALLET, WARMUP + count);
  const warmupAddresses = addresses.slice(0, WARMUP);
  const measuredAddresses = addresses.slice(WARMUP);
  const databasePath = join(context.tmpDir, 'intake.sqlite');
  {
    const app = await CryptoAssets.open({
      database: { kind: 'sqlite', path: databasePath },
      coins: [{ coin: LTC, network }],
      migrate: true,
    });
    try {
      await addReceivingAddresses(app, 'ltc', 'main', addresses);
    } finally {
      await app.close();
    }
  }

  progress('deposits: starting the service process');
  const service = ServiceProcess.start(join(context.tmpDir, 'service.json'), serviceConfig(fixture, databasePath));
  const reader = new BetterSqlite3(databasePath);
  const credited = () =>
    Number(
      (reader.prepare(`SELECT COUNT(*) AS n FROM ltc_transaction WHERE type = 'deposit' AND state = 'credited'`).get() as { n: number }).n,
    );
  /** Open the gate, mine, wait until `target` deposits are credited; times from the first block. */
  const intake = async (target: number) => {
    fixture.openGate();
    const start = now();
    const blocks = await fixture.mineAll();
    const miningMs = now() - start;
    let firstCreditedMs: number | undefined;
    const before = credited();
    let last = before;
    let lastChange = now();
    for (;;) {
      const n = credited();
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
  let measured: Awaited<ReturnType<typeof intake>>;
  let idle: ReturnType<ServiceProcess['memory']>;
  let peak: ReturnType<ServiceProcess['memory']>;
  let txids: string[];
  try {
    await service.waitForLog('first sync with the chain done', 120_000);
    await sleep(500);
    idle = service.memory();

    progress(`deposits: warm-up, ${WARMUP} deposits`);
    await fixture.payEach(warmupAddresses);
    await intake(WARMUP);

    progress(`deposits: ${count.toLocaleString('en-US')} payments into the mempool (notifications gated off)`);
    txids = await fixture.payEach(measuredAddresses);
    if (credited() !== WARMUP) throw new Error('deposits were credited before the gate opened');
    // The miner wallet would fire (filtered-out) notifications for every payment too.
    await node.rpc('unloadwallet', node.minerWallet);
    minerUnloaded = true;

    progress('deposits: gate open, mining; waiting until every deposit is credited');
    measured = await intake(WARMUP + count);
    peak = service.memory();
  } finally {
    fixture.closeGate();
    reader.close();
    await service.stop();
    if (minerUnloaded) await node.rpc('loadwallet', node.minerWallet);
  }

  // Baseline: the node's own batch answer rate — 1,000 gettransaction per JSON-RPC request, for
  // the same txids one request after another (after a warm-up request).
  const raw = fixture.raw(INTAKE_WALLET);
  const lookUp = (ids: readonly string[]) => raw.batch(ids.map((txid) => ({ method: 'gettransaction', params: [txid, true] })));
  await lookUp(txids.slice(0, NODE_BATCH));
  const baseStart = now();
  for (let i = 0; i < txids.length; i += NODE_BATCH) await lookUp(txids.slice(i, i + NODE_BATCH));
  const baseMs = now() - baseStart;
  const oursRate = (count / measured.ms) * 1000;
  const nodeRate = (count / baseMs) * 1000;
  const goalRate = Math.min(1000, nodeRate / 2);

  const figures: Figure[] = [
    figure({
      scenario: 'deposits',
      name: `deposit intake: ${count.toLocaleString('en-US')} payments (separate transactions), notification → credited`,
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
      },
    }),
    figure({
      scenario: 'memory',
      name: `service process peak RSS during the intake of ${count.toLocaleString('en-US')} deposits`,
      unit: 'MiB',
      ours: peak.peakMiB,
      baseline: idle.rssMiB,
      baselineLabel: 'same process idle after start-up',
      better: 'lower',
      n: count,
      extra: { rssAtEndMiB: peak.rssMiB, peakAtStartupMiB: idle.peakMiB },
    }),
  ];
  return {
    scenario: 'deposits',
    title: '5. Deposit intake (regtest) and memory of the service',
    figures,
    skipped: [],
    seconds: (now() - started) / 1000,
  };
}
