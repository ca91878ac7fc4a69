/**
 * Scenario 4 — withdrawals queued and broadcast.
 *
 * Time figures (SQLite file, WAL, synchronous=FULL; in-memory backend standing for the node):
 * queue N withdrawals to N distinct addresses, one database transaction each, then broadcast them
 * all (`broadcastPending` until nothing is left: batches of 500 outputs, one backend `sendMany`
 * each). Baselines, on a second database of the same schema: queueing, the minimal withdrawal by
 * hand (bench/baseline/minimal-withdrawal.ts); broadcasting, the library's own statements straight
 * through better-sqlite3 (bench/baseline/withdrawal-sql.ts) with the same backend call.
 *
 * Fee figures (regtest node): the fee per withdrawal when k queued withdrawals go out as one
 * batch through our ledger (one `sendmany`), against one `sendtoaddress` per withdrawal from
 * another wallet of the same node (same fee rate: the node's fallback fee, 10 sat/vB).
 */
import { join } from 'node:path';
import { CryptoAssets } from '../../src/app.js';
import { BitcoindBackend } from '../../src/backends/bitcoind/bitcoind-backend.js';
import type { JsonNumber } from '../../src/backends/bitcoind/lossless-json.js';
import type { RpcClient } from '../../src/backends/bitcoind/rpc-client.js';
import { MemoryChain } from '../../src/backends/memory/chain.js';
import { LTC } from '../../src/domain/coins.js';
import { openRawSqlite, SqliteStatements } from '../baseline/raw-db.js';
import { SqliteWithdrawalLimit } from '../baseline/minimal-withdrawal.js';
import { broadcastBatch, withdrawalStatements } from '../baseline/withdrawal-sql.js';
import type { BenchContext } from '../lib/context.js';
import { createFundedAccounts } from '../lib/ledger-setup.js';
import { progress } from '../lib/log.js';
import { coins } from '../lib/node-fixture.js';
import { now } from '../lib/timing.js';
import { type Figure, figure, type ScenarioResult } from '../lib/types.js';
import { measureCost } from '../lib/wire-count.js';

const network = LTC.networks.regtest!;
const WALLET = 'main';
const WARMUP = 100;
const AMOUNT = 10_000n;

async function timeFigures(context: BenchContext, count: number): Promise<Figure[]> {
  const chain = new MemoryChain({ network, seed: 'bench-withdrawals' });
  const oursBackend = chain.createWallet('ours');
  const baseBackend = chain.createWallet('baseline');
  chain.fund(oursBackend, 1_000_000_000_000n);
  chain.fund(baseBackend, 1_000_000_000_000n);
  const destinations = Array.from({ length: WARMUP + count }, () => chain.externalAddress());

  const open = (path: string, backend?: typeof oursBackend) =>
    CryptoAssets.open({
      database: { kind: 'sqlite', path },
      coins: [{ coin: LTC, network, ...(backend ? { backend } : {}) }],
      migrate: true,
    });
  const oursApp = await open(join(context.tmpDir, 'withdrawals-ours.sqlite'), oursBackend);
  const basePath = join(context.tmpDir, 'withdrawals-baseline.sqlite');
  // Set up by the library (not timed), without a backend: the baseline calls the backend itself.
  const baseSetup = await open(basePath);
  let raw: SqliteStatements | undefined;
  try {
    const [oursPayer] = await createFundedAccounts(oursApp, 'ltc', WALLET, 1, 10n ** 15n, 'payer');
    const [basePayer] = await createFundedAccounts(baseSetup, 'ltc', WALLET, 1, 10n ** 15n, 'payer');
    // The fee account exists in both before timing (the library creates it on first use).
    await oursApp.coin('ltc').transaction(async (book) => (await book.wallet(WALLET)).getNetworkFeeAccount());
    await baseSetup.coin('ltc').transaction(async (book) => (await book.wallet(WALLET)).getNetworkFeeAccount());
    await baseSetup.close();
    raw = new SqliteStatements(openRawSqlite(basePath, 'full'));
    const s = withdrawalStatements('ltc');
    const ledger = oursApp.coin('ltc');

    const oursQueue = async (addresses: readonly string[]) => {
      for (const address of addresses) {
        await ledger.transaction(async (book) => (await book.wallet(WALLET)).withdraw(oursPayer!, address, AMOUNT));
      }
    };
    const walletId = raw.get('SELECT id FROM ltc_wallet WHERE name = ?', [WALLET])!.id as bigint;
    const limit = new SqliteWithdrawalLimit(raw, LTC, network.name, walletId, WALLET);
    const baseQueue = (addresses: readonly string[]) => {
      for (const address of addresses) limit.queue(basePayer!, address, AMOUNT);
    };
    const oursBroadcast = async () => {
      let batches = 0;
      for (;;) {
        const outcome = await ledger.broadcastPending(WALLET);
        if (outcome.status === 'nothing_to_send') return batches;
        if (outcome.status !== 'sent') throw new Error(`broadcast ${outcome.status}`);
        batches++;
      }
    };
    const baseBroadcast = async () => {
      let batches = 0;
      while (await broadcastBatch(raw!, s, 'ltc', WALLET, baseBackend)) batches++;
      return batches;
    };

    // Warm-up: a small queue and its broadcast on both sides; the queueing is counted on the driver.
    const warm = destinations.slice(0, WARMUP);
    let oursNext = 0;
    let baseNext = 0;
    const cost = {
      ours: await measureCost('sqlite', WARMUP, () => oursQueue([warm[oursNext++]!])),
      baseline: await measureCost('sqlite', WARMUP, () => Promise.resolve(baseQueue([warm[baseNext++]!]))),
      per: 'withdrawal',
    };
    await oursBroadcast();
    await baseBroadcast();

    const timed = destinations.slice(WARMUP);
    progress(`withdrawals: queueing ${count.toLocaleString('en-US')} (ours, then baseline)`);
    let start = now();
    await oursQueue(timed);
    const oursQueueMs = now() - start;
    start = now();
    baseQueue(timed);
    const baseQueueMs = now() - start;
    progress(`withdrawals: broadcasting ${count.toLocaleString('en-US')} (ours, then baseline)`);
    start = now();
    const oursBatches = await oursBroadcast();
    const oursBroadcastMs = now() - start;
    start = now();
    const baseBatches = await baseBroadcast();
    const baseBroadcastMs = now() - start;
    const check = await oursApp.verifyLedger();
    // The limit's rows must pass the same check: otherwise it is not a correct withdrawal.
    const baseApp = await open(basePath);
    const baseCheck = await baseApp.verifyLedger().finally(() => baseApp.close());
    const common = { scenario: 'withdrawals', n: count } as const;
    return [
      figure({
        ...common,
        name: `queue ${count.toLocaleString('en-US')} withdrawals, one transaction each (SQLite, FULL)`,
        unit: 'ms',
        ours: oursQueueMs,
        baseline: baseQueueMs,
        baselineLabel: 'minimal withdrawal by hand: 5 statements in BEGIN IMMEDIATE',
        better: 'lower',
        cost,
        extra: { oursPerSecond: (count / oursQueueMs) * 1000, baselinePerSecond: (count / baseQueueMs) * 1000 },
      }),
      figure({
        ...common,
        name: `broadcast ${count.toLocaleString('en-US')} queued withdrawals (in-memory backend)`,
        unit: 'ms',
        ours: oursBroadcastMs,
        baseline: baseBroadcastMs,
        baselineLabel: "the library's own broadcast statements via better-sqlite3, same backend calls",
        better: 'lower',
        extra: {
          batches: oursBatches,
          baselineBatches: baseBatches,
          oursWithdrawalsPerSecond: (count / oursBroadcastMs) * 1000,
          ledgerCheck: check.ok,
          baselineLedgerCheck: baseCheck.ok,
        },
      }),
    ];
  } finally {
    raw?.db.close();
    await baseSetup.close().catch(() => undefined);
    await oursApp.close();
  }
}

interface TxFacts {
  fee: bigint;
  vsize: number;
}

async function txFacts(rpc: RpcClient, txid: string): Promise<TxFacts> {
  const tx = (await rpc.call('gettransaction', [txid, true, true])) as { fee: JsonNumber; hex: string; decoded?: { vsize: JsonNumber } };
  const vsize = tx.decoded?.vsize.toNumber() ?? Number.NaN;
  const [whole, fraction = ''] = tx.fee.text.replace('-', '').split('.');
  return { fee: BigInt(whole!) * 100_000_000n + BigInt(fraction.padEnd(8, '0')), vsize };
}

async function feeFigures(context: BenchContext, sizes: readonly number[]): Promise<Figure[]> {
  const fixture = await context.node();
  const node = fixture.node;
  const oursWallet = 'fees-ours';
  const baseWallet = 'fees-baseline';
  await node.rpc('createwallet', oursWallet);
  await node.rpc('createwallet', baseWallet);
  const oursRpc = fixture.client(oursWallet);
  const baseRpc = fixture.client(baseWallet);
  // Each wallet gets one confirmed coin to pay from.
  await node.fund((await oursRpc.call('getnewaddress', [])) as string, '5');
  await node.fund((await baseRpc.call('getnewaddress', [])) as string, '5');
  await node.mine(1);

  const backend = new BitcoindBackend({ config: node.backendConfig(oursWallet), coin: LTC, network });
  const app = await CryptoAssets.open({
    database: { kind: 'sqlite', path: join(context.tmpDir, 'fees.sqlite') },
    coins: [{ coin: LTC, network, backend }],
    migrate: true,
  });
  const figures: Figure[] = [];
  try {
    const [payer] = await createFundedAccounts(app, 'ltc', WALLET, 1, 0n, 'payer');
    const ledger = app.coin('ltc');
    const amount = 1_000_000n; // 0.01 LTC per payment
    for (const k of sizes) {
      progress(`withdrawals: fees of ${k} payments, batched and one by one (regtest)`);
      // Ours: k queued withdrawals, one broadcast.
      const destinations = await fixture.minerAddresses(k);
      await ledger.transaction(async (book) => {
        const wallet = await book.wallet(WALLET);
        for (const address of destinations) await wallet.withdraw(payer!, address, amount, null, { allowNegativeBalance: true });
      });
      const outcome = await ledger.broadcastPending(WALLET);
      if (outcome.status !== 'sent') throw new Error(`broadcast ${outcome.status}`);
      const ours = await txFacts(oursRpc, outcome.broadcast.txid!);
      if (ours.fee !== outcome.broadcast.fee) throw new Error(`recorded fee ${outcome.broadcast.fee} differs from the node's ${ours.fee}`);
      await node.mine(1);
      // Baseline: one sendtoaddress per payment (a block every 20: the node's chain limit is 25).
      const separate = await fixture.minerAddresses(k);
      let fee = 0n;
      let vsize = 0;
      for (const [i, address] of separate.entries()) {
        const txid = (await baseRpc.call('sendtoaddress', [address, coins(amount)])) as string;
        const facts = await txFacts(baseRpc, txid);
        fee += facts.fee;
        vsize += facts.vsize;
        if ((i + 1) % 20 === 0) await node.mine(1);
      }
      await node.mine(1);
      figures.push(
        figure({
          scenario: 'withdrawals',
          name: `fee per withdrawal, ${k} payments (regtest, 10 sat/vB)`,
          unit: 'litoshi',
          ours: Number(ours.fee) / k,
          baseline: Number(fee) / k,
          baselineLabel: 'one sendtoaddress per withdrawal',
          better: 'lower',
          n: k,
          extra: { vbytesBatch: ours.vsize, vbytesSeparate: vsize, savingPercent: (1 - Number(ours.fee) / Number(fee)) * 100 },
        }),
      );
    }
  } finally {
    await app.close();
  }
  return figures;
}

export async function withdrawalsScenario(context: BenchContext): Promise<ScenarioResult> {
  const started = now();
  const quick = context.mode === 'quick';
  const figures: Figure[] = [];
  const skipped: string[] = [];
  figures.push(...(await timeFigures(context, quick ? 1000 : 10_000)));
  try {
    await context.node();
  } catch (error) {
    skipped.push(`fees on the regtest node: ${(error as Error).message}`);
  }
  if (skipped.length === 0) figures.push(...(await feeFigures(context, quick ? [10, 50] : [10, 50, 100])));
  return { scenario: 'withdrawals', title: '4. Withdrawals queued and broadcast', figures, skipped, seconds: (now() - started) / 1000 };
}
