/**
 * The store on both engines: managed transactions (retry, give up, no retry, read-only, rollback)
 * and the rules the schema itself enforces, whatever code writes to it.
 */
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CannotResolveDatabaseConflict } from '../../src/domain/errors.js';
import type { Database, SqlExecutor } from '../../src/store/database.js';
import { runManagedTransaction, TransactionStats } from '../../src/store/managed-transaction.js';
import { coinTables } from '../../src/store/migrations.js';
import { SqliteDatabase } from '../../src/store/sqlite/sqlite-database.js';
import { createTestDatabase, enginesUnderTest } from '../helpers/engines.js';
import { fundAccount, openTestLedger, randomTxid, type TestLedger } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const t = coinTables('btc');
const NOW = '2026-01-01T00:00:00.000Z';

/** A conflict error as each engine reports it. */
function conflictFor(database: Database): Error {
  return Object.assign(new Error('simulated conflict'), { code: database.engine === 'postgres' ? '40001' : 'SQLITE_BUSY' });
}

describe.each(engines)('store on %s', (engine) => {
  let ledger: TestLedger;
  beforeEach(async () => {
    ledger = await openTestLedger(engine);
  });
  afterEach(async () => {
    await ledger.finish();
  });

  it('re-runs the whole callback on a conflict and commits only the last run', async () => {
    const { database } = ledger.app;
    const stats = new TransactionStats();
    let runs = 0;
    await runManagedTransaction(
      database,
      async (tx) => {
        runs++;
        await tx.run(`INSERT INTO ${t.wallet} (name, created_at, updated_at) VALUES (?, ?, ?)`, [`w${runs}`, NOW, NOW]);
        if (runs < 3) throw conflictFor(database);
      },
      { mode: 'write', policy: { retries: 5, backoffBaseMs: 1, backoffMaxMs: 2 }, stats },
    );
    expect(runs).toBe(3);
    expect(stats).toMatchObject({ committed: 1, conflictRetries: 2, gaveUp: 0 });
    const names = await ledger.app.coin('btc').read(async (book) => (await book.listWallets()).map((w) => w.name));
    expect(names).toEqual(['w3']);
  });

  it('gives up with CannotResolveDatabaseConflict after the configured retries', async () => {
    const { database } = ledger.app;
    let runs = 0;
    const error = await runManagedTransaction(
      database,
      async () => {
        runs++;
        throw conflictFor(database);
      },
      { mode: 'write', policy: { retries: 4, backoffBaseMs: 1, backoffMaxMs: 2 } },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CannotResolveDatabaseConflict);
    expect((error as CannotResolveDatabaseConflict).attempts).toBe(5);
    expect(runs).toBe(5);
  });

  it('runs a non-retrying transaction exactly once', async () => {
    let runs = 0;
    const error = await ledger.app
      .transactionOnce(async () => {
        runs++;
        throw conflictFor(ledger.app.database);
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CannotResolveDatabaseConflict);
    expect(runs).toBe(1);
  });

  it('does not retry ordinary errors, and rolls back what the callback wrote', async () => {
    let runs = 0;
    await expect(
      ledger.app.transaction(async (tx) => {
        runs++;
        await tx.coin('btc').getOrCreateWallet('half-done');
        throw new Error('application bug');
      }),
    ).rejects.toThrow('application bug');
    expect(runs).toBe(1);
    expect(await ledger.app.coin('btc').read((book) => book.listWallets())).toEqual([]);
  });

  it('resolves a real write conflict between two concurrent transactions', async () => {
    await fundAccount(ledger, 'main', 'alice', 1_000n);
    const btc = ledger.app.coin('btc');
    const bob = await btc.transaction(async (book) => (await book.wallet('main')).createAccount('bob'));
    await Promise.all(
      Array.from({ length: 8 }, () =>
        btc.transaction(async (book) => {
          const wallet = await book.wallet('main');
          await wallet.transfer(await wallet.getAccount('alice'), bob, 100n);
        }),
      ),
    );
    expect(await btc.read(async (book) => (await (await book.wallet('main')).getAccount('bob')).balance)).toBe(800n);
  });

  it('refuses writes in a read-only transaction', async () => {
    await expect(ledger.app.readTransaction(async (tx) => tx.coin('btc').getOrCreateWallet('nope'))).rejects.toThrow();
    expect(await ledger.app.coin('btc').read((book) => book.listWallets())).toEqual([]);
  });

  describe('schema rules', () => {
    async function write(fn: (tx: SqlExecutor) => Promise<unknown>): Promise<unknown> {
      return ledger.app.database.transaction('write', fn).then(
        () => undefined,
        (error: unknown) => error,
      );
    }

    it('refuses non-positive amounts, unknown states and broken shapes', async () => {
      await fundAccount(ledger, 'main', 'alice', 1_000n);
      const insert = (type: string, state: string, amount: bigint, sending: number | null, receiving: number | null) =>
        write((tx) =>
          tx.run(
            `INSERT INTO ${t.transaction} (wallet_id, type, state, amount, sending_account_id, receiving_account_id, created_at, updated_at)
             VALUES (1, ?, ?, ?, ?, ?, ?, ?)`,
            [type, state, amount, sending, receiving, NOW, NOW],
          ),
        );
      expect(await insert('internal', 'done', 0n, 1, 2)).toBeInstanceOf(Error);
      expect(await insert('internal', 'done', -5n, 1, 2)).toBeInstanceOf(Error);
      expect(await insert('internal', 'teleported', 5n, 1, 2)).toBeInstanceOf(Error);
      expect(await insert('magic', 'done', 5n, 1, 2)).toBeInstanceOf(Error);
      expect(await insert('internal', 'done', 5n, 1, 1)).toBeInstanceOf(Error);
      expect(await insert('deposit', 'credited', 5n, null, 1)).toBeInstanceOf(Error);
      expect(await insert('internal', 'done', 5n, 1, 999)).toBeInstanceOf(Error);
    });

    it('keeps journal entries append-only', async () => {
      await fundAccount(ledger, 'main', 'alice', 1_000n);
      expect(await write((tx) => tx.run(`UPDATE ${t.entry} SET amount = 1`))).toBeInstanceOf(Error);
      expect(await write((tx) => tx.run(`DELETE FROM ${t.entry}`))).toBeInstanceOf(Error);
    });

    it('keeps one row per address string and txids well-formed', async () => {
      const address = 'bcrt1qqvpsxqcrqvpsxqcrqvpsxqcrqvpsxqcruj60yu';
      const addAddress = () => write((tx) => tx.run(`INSERT INTO ${t.address} (address, created_at) VALUES (?, ?)`, [address, NOW]));
      expect(await addAddress()).toBeUndefined();
      expect(await addAddress()).toBeInstanceOf(Error);
      const deposit = (txid: string) =>
        write((tx) =>
          tx.run(
            `INSERT INTO ${t.networkTransaction} (transaction_type, txid, state, confirmations, created_at, updated_at) VALUES ('deposit', ?, 'seen', 0, ?, ?)`,
            [txid, NOW, NOW],
          ),
        );
      expect(await deposit('XYZ')).toBeInstanceOf(Error);
      expect(await deposit(randomTxid().toUpperCase())).toBeInstanceOf(Error);
      expect(await deposit(randomTxid())).toBeUndefined();
    });
  });
});

describe('store on sqlite: the write lock of another process', () => {
  it('waits for it with the default settings instead of giving up after the retries', async () => {
    const ledger = await openTestLedger('sqlite');
    // Another process's connection holds the write lock for longer than the default retry policy's
    // pauses add up to (at most about one second), then releases it.
    const other = new BetterSqlite3(ledger.database.location);
    try {
      other.exec('BEGIN IMMEDIATE');
      const release = new Promise<void>((resolve) =>
        setTimeout(() => {
          other.exec('COMMIT');
          resolve();
        }, 2_000),
      );
      const wallet = await ledger.app.transaction(async (tx) => (await tx.coin('btc').getOrCreateWallet('waited')).name);
      await release;
      expect(wallet).toBe('waited');
      expect(ledger.app.stats).toMatchObject({ gaveUp: 0 });
      expect((ledger.app.database as SqliteDatabase).lockWaits).toBeGreaterThan(0);
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      await ledger.finish();
    }
  });

  it('gives up once the lock stayed taken for lockWaitMs', async () => {
    const database = await createTestDatabase('sqlite');
    const first = new SqliteDatabase({ path: database.location, lockWaitMs: 50 });
    const other = new BetterSqlite3(database.location);
    try {
      other.exec('BEGIN IMMEDIATE');
      const error = await first.transaction('write', async () => undefined).catch((e: unknown) => e);
      expect(first.isConflict(error)).toBe(true);
      expect(first.lockWaits).toBe(1);
    } finally {
      other.exec('ROLLBACK');
      other.close();
      await first.close();
      await database.drop();
    }
  });
});
