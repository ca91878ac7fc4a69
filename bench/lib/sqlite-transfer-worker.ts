/**
 * One process of the multi-process SQLite scenario (bench/scenarios/sqlite-processes.ts).
 *
 * `node --import tsx sqlite-transfer-worker.ts PATH ours|limit COUNT ID,ID,…`
 *
 * Opens the ledger file (ours: the library with its default settings; limit: the minimal
 * transfer by hand, waiting on the file lock with busy_timeout instead of failing), says `ready`
 * on stdout, waits for a line on stdin so that all processes start together, makes COUNT random
 * transfers, and prints one JSON line: `{"done":…,"gaveUp":…,"retries":…,"ms":…}`. A transfer
 * that gives up (CannotResolveDatabaseConflict) is counted; any other error ends the process with
 * status 1 — the scenario then fails.
 */
import { once } from 'node:events';
import { CryptoAssets } from '../../src/app.js';
import { LTC } from '../../src/domain/coins.js';
import { CannotResolveDatabaseConflict } from '../../src/domain/errors.js';
import { SqliteLimit } from '../baseline/minimal-transfer.js';
import { openRawSqlite, SqliteStatements } from '../baseline/raw-db.js';
import { randomAmount, randomPair } from './ledger-setup.js';

/** How long a hand-written transfer waits for the write lock. */
const LIMIT_BUSY_TIMEOUT_MS = 30_000;

interface Worker {
  transfer(from: number, to: number, amount: bigint): Promise<void>;
  retries(): number;
  close(): Promise<void>;
}

async function oursWorker(path: string): Promise<Worker> {
  const app = await CryptoAssets.open({ database: { kind: 'sqlite', path }, coins: [{ coin: LTC, network: LTC.networks.regtest! }] });
  const ledger = app.coin('ltc');
  return {
    transfer: async (from, to, amount) => {
      await ledger.transaction(async (book) => (await book.wallet('main')).transfer(from, to, amount));
    },
    retries: () => app.stats.conflictRetries,
    close: () => app.close(),
  };
}

function limitWorker(path: string): Worker {
  const raw = new SqliteStatements(openRawSqlite(path, 'full'));
  raw.db.pragma(`busy_timeout = ${LIMIT_BUSY_TIMEOUT_MS}`);
  const walletId = raw.get('SELECT id FROM ltc_wallet WHERE name = ?', ['main'])!.id as bigint;
  const limit = new SqliteLimit(raw, 'ltc', walletId);
  return {
    transfer: (from, to, amount) => Promise.resolve(limit.transfer({ from, to, amount })),
    retries: () => 0,
    close: () => {
      raw.db.close();
      return Promise.resolve();
    },
  };
}

async function main(): Promise<void> {
  const [path, side, countText, idText] = process.argv.slice(2);
  if (!path || (side !== 'ours' && side !== 'limit') || !countText || !idText) throw new Error('usage: PATH ours|limit COUNT IDS');
  const ids = idText.split(',').map(Number);
  const worker = side === 'ours' ? await oursWorker(path) : limitWorker(path);
  try {
    process.stdout.write('ready\n');
    await once(process.stdin, 'data');
    let done = 0;
    let gaveUp = 0;
    const start = performance.now();
    for (let i = 0; i < Number(countText); i++) {
      const [from, to] = randomPair(ids);
      try {
        await worker.transfer(from, to, randomAmount());
        done++;
      } catch (error) {
        if (!(error instanceof CannotResolveDatabaseConflict)) throw error;
        gaveUp++;
      }
    }
    const ms = performance.now() - start;
    process.stdout.write(`${JSON.stringify({ done, gaveUp, retries: worker.retries(), ms })}\n`);
  } finally {
    await worker.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`worker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
