/**
 * Races: many writers doing random transfers and withdrawals against limited balances. No balance
 * may go below zero, money is conserved, the ledger check holds, and conflicts did happen and were
 * retried (a test in which nothing collided would prove nothing).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { encodeAddress } from '../../src/domain/address.js';
import { BTC } from '../../src/domain/coins.js';
import { INTEGRATION_REQUIRED, createTestDatabase, isPostgresReachable } from '../helpers/engines.js';
import { expectLedgerConsistent, randomTxid } from '../helpers/ledger.js';
import { type OpsTally, runRandomOps } from './workers/random-ops.js';

const regtest = BTC.networks.regtest!;
const EXTERNAL = encodeAddress('p2wpkh', new Uint8Array(20).fill(3), regtest);
const ACCOUNTS = 20;
const FUNDING = 20_000n;
const OPERATIONS = 2_000;
const postgresAvailable = INTEGRATION_REQUIRED || (await isPostgresReachable());

/** Create the wallet and accounts, each funded by a credited deposit; returns the account ids. */
async function prepare(app: CryptoAssets): Promise<number[]> {
  const btc = app.coin('btc');
  const ids: number[] = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    const account = await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).createAccount(`user-${i}`));
    const address = encodeAddress('p2wpkh', new Uint8Array(20).fill(100 + i), regtest);
    await btc.transaction(async (book) => {
      await (await book.wallet('main')).addReceivingAddress(account, address);
      await book.recordDeposit({ txid: randomTxid(), confirmations: 6, outputs: [{ address, amount: FUNDING }] });
    });
    ids.push(account.id);
  }
  return ids;
}

/** Balances never below zero, and every base unit is either in an account or withdrawn. */
async function expectConserved(app: CryptoAssets, tallies: OpsTally[]): Promise<void> {
  const { accounts, withdrawn } = await app.coin('btc').read(async (book) => {
    const wallet = await book.wallet('main');
    const withdrawals = await wallet.pendingWithdrawals();
    return { accounts: await wallet.listAccounts(), withdrawn: withdrawals.reduce((sum, w) => sum + w.amount, 0n) };
  });
  for (const account of accounts) expect(account.balance, account.name).toBeGreaterThanOrEqual(0n);
  const total = accounts.reduce((sum, account) => sum + account.balance, 0n);
  expect(total + withdrawn).toBe(FUNDING * BigInt(ACCOUNTS));
  const withdrawalsDone = tallies.reduce((sum, t) => sum + t.withdrawals, 0);
  expect(await app.coin('btc').read(async (book) => (await (await book.wallet('main')).pendingWithdrawals()).length)).toBe(withdrawalsDone);
  await expectLedgerConsistent(app);
}

describe.runIf(postgresAvailable)('concurrency on postgres', () => {
  it(`keeps ${OPERATIONS} random operations of 16 concurrent workers consistent`, async () => {
    const database = await createTestDatabase('postgres');
    const app = await CryptoAssets.open({
      database: { kind: 'postgres', url: database.location, poolSize: 16 },
      coins: [{ coin: BTC, network: regtest }],
      migrate: true,
      retry: { retries: 60 },
    });
    try {
      const ids = await prepare(app);
      const workers = 16;
      const tallies = await Promise.all(
        Array.from({ length: workers }, (_, i) => runRandomOps(app.coin('btc'), ids, EXTERNAL, OPERATIONS / workers, 1_000 + i)),
      );
      const done = tallies.reduce((sum, t) => sum + t.transfers + t.withdrawals + t.refused, 0);
      expect(done).toBe(OPERATIONS);
      expect(tallies.reduce((sum, t) => sum + t.gaveUp, 0)).toBe(0);
      expect(app.stats.conflictRetries).toBeGreaterThan(0);
      await expectConserved(app, tallies);
      console.info(`postgres: ${app.stats.conflictRetries} conflict retries over ${OPERATIONS} operations`);
    } finally {
      await app.close();
      await database.drop();
    }
  });
});

describe('concurrency on sqlite', () => {
  it(`keeps ${OPERATIONS} random operations of 4 processes on one file consistent`, async () => {
    const database = await createTestDatabase('sqlite');
    const app = await CryptoAssets.open({ database: database.options, coins: [{ coin: BTC, network: regtest }], migrate: true });
    try {
      const ids = await prepare(app);
      const processes = 4;
      const worker = fileURLToPath(new URL('./workers/sqlite-worker.ts', import.meta.url));
      const children = Array.from({ length: processes }, (_, i) =>
        spawn(
          process.execPath,
          ['--import', 'tsx', worker, database.location, ids.join(','), EXTERNAL, String(OPERATIONS / processes), String(7 + i)],
          {
            stdio: ['pipe', 'pipe', 'inherit'],
          },
        ),
      );
      // Listen for exits before anything else: a fast child may be gone before we would look.
      const exits = children.map((child) => new Promise((resolve) => child.once('exit', resolve)));
      const lines = children.map((child) => createInterface({ input: child.stdout })[Symbol.asyncIterator]());
      for (const line of lines) expect((await line.next()).value).toBe('ready');
      for (const child of children) child.stdin.write('go\n');
      const results = await Promise.all(lines.map(async (line) => JSON.parse((await line.next()).value as string)));
      await Promise.all(exits);
      expect(children.map((child) => child.exitCode)).toEqual([0, 0, 0, 0]);
      const tallies = results as (OpsTally & { conflictRetries: number; lockWaits: number })[];
      expect(tallies.reduce((sum, t) => sum + t.transfers + t.withdrawals + t.refused, 0)).toBe(OPERATIONS);
      expect(tallies.reduce((sum, t) => sum + t.gaveUp, 0)).toBe(0);
      // The processes did contend: they waited for each other's write lock.
      const retries = tallies.reduce((sum, t) => sum + t.conflictRetries, 0);
      const waits = tallies.reduce((sum, t) => sum + t.lockWaits, 0);
      expect(waits).toBeGreaterThan(0);
      await expectConserved(app, tallies);
      console.info(`sqlite: ${waits} lock waits, ${retries} busy retries over ${OPERATIONS} operations in ${processes} processes`);
    } finally {
      await app.close();
      await database.drop();
    }
  });
});
