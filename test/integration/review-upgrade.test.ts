/**
 * Review: upgrading a populated schema-2 database (the tables as the previous release left them)
 * to schema 3 on both engines. Rows, ids, id sequences, triggers, indexes and constraints must
 * survive, and what was in flight under schema 2 must be handled as safely as what is opened now.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { MemoryChain } from '../../src/backends/memory/index.js';
import { BTC } from '../../src/domain/coins.js';
import type { Database } from '../../src/store/database.js';
import { coinTables, type CoinMigration } from '../../src/store/migrations.js';
import { openDatabase } from '../../src/store/open.js';
import { POSTGRES_COIN_MIGRATIONS, POSTGRES_GLOBAL_MIGRATIONS } from '../../src/store/postgres/schema.js';
import { SQLITE_COIN_MIGRATIONS, SQLITE_GLOBAL_MIGRATIONS } from '../../src/store/sqlite/schema.js';
import { broadcastSettledCheck } from '../../src/service/timings.js';
import { createTestDatabase, enginesUnderTest, type TestDatabase } from '../helpers/engines.js';
import { randomTxid } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const t = coinTables('btc');
const NOW = new Date().toISOString();

/** Apply the migrations of schema 1 and 2 only, as the previous release did. */
async function migrateToSchema2(database: Database): Promise<void> {
  const sqlite = database.engine === 'sqlite';
  const coin = (sqlite ? SQLITE_COIN_MIGRATIONS : POSTGRES_COIN_MIGRATIONS).filter((m) => m.version <= 2);
  const global = (sqlite ? SQLITE_GLOBAL_MIGRATIONS : POSTGRES_GLOBAL_MIGRATIONS).filter((m) => m.version <= 2);
  await database.transaction('write', async (tx) => {
    await tx.run(`CREATE TABLE IF NOT EXISTS cryptoassets_migration (
      scope TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at ${sqlite ? 'TEXT' : 'TIMESTAMPTZ'} NOT NULL,
      PRIMARY KEY (scope, version))`);
    const apply = async (scope: string, tables: ReturnType<typeof coinTables>, migrations: readonly CoinMigration[]) => {
      for (const migration of migrations) {
        for (const statement of migration.statements(tables)) await tx.run(statement);
        await tx.run(`INSERT INTO cryptoassets_migration (scope, version, name, applied_at) VALUES (?, ?, ?, ?)`, [
          scope,
          migration.version,
          migration.name,
          NOW,
        ]);
      }
    };
    await apply('_global', coinTables('cryptoassets'), global);
    await apply('btc', t, coin);
  });
}

interface Schema2Ids {
  readonly alice: number;
  readonly feeAccount: number;
  readonly openedBroadcast: number;
  readonly broadcastingWithdrawal: number;
  readonly pendingWithdrawal: number;
  readonly maxTransactionId: number;
  readonly maxEntryId: number;
}

/**
 * A wallet as the previous release leaves it: a credited deposit, a sent broadcast with its fee,
 * a broadcast left opened by a crash (its withdrawal `broadcasting`, its event written), a queued
 * withdrawal. Ids are made non-contiguous the way a long-lived database has them.
 */
async function populateSchema2(
  database: Database,
  addresses: { deposit: string; out1: string; out2: string; out3: string },
): Promise<Schema2Ids> {
  return database.transaction('write', async (tx) => {
    const id = async (sql: string, params: unknown[]) =>
      Number((await tx.get<{ id: unknown }>(`${sql} RETURNING id`, params as never))!.id);
    const wallet = await id(`INSERT INTO ${t.wallet} (name, created_at, updated_at) VALUES ('main', ?, ?)`, [NOW, NOW]);
    const alice = await id(
      `INSERT INTO ${t.account} (wallet_id, name, kind, balance, created_at, updated_at) VALUES (?, 'alice', 'user', ?, ?, ?)`,
      [wallet, 100_000 - 10_000 - 20_000 - 5_000, NOW, NOW],
    );
    const feeAccount = await id(
      `INSERT INTO ${t.account} (wallet_id, name, kind, balance, created_at, updated_at) VALUES (?, 'network fees', 'network_fee', ?, ?, ?)`,
      [wallet, -100, NOW, NOW],
    );
    const address = async (text: string, owned: boolean) =>
      id(`INSERT INTO ${t.address} (address, wallet_id, account_id, label, created_at) VALUES (?, ?, ?, ?, ?)`, [
        text,
        owned ? wallet : null,
        owned ? alice : null,
        owned ? 'alice-1' : null,
        NOW,
      ]);
    const depositAddress = await address(addresses.deposit, true);
    const out1 = await address(addresses.out1, false);
    const out2 = await address(addresses.out2, false);
    const out3 = await address(addresses.out3, false);
    const depositNt = await id(
      `INSERT INTO ${t.networkTransaction} (transaction_type, txid, state, confirmations, created_at, updated_at) VALUES ('deposit', ?, 'seen', 6, ?, ?)`,
      [randomTxid(), NOW, NOW],
    );
    const closedBroadcast = await id(
      `INSERT INTO ${t.networkTransaction} (transaction_type, txid, wallet_id, state, confirmations, fee, comment, opened_at, closed_at, created_at, updated_at)
       VALUES ('broadcast', ?, ?, 'closed', 1, 100, 'cryptoassets btc broadcast 2 aaaaaaaaaaaa', ?, ?, ?, ?)`,
      [randomTxid(), wallet, NOW, NOW, NOW, NOW],
    );
    const openedBroadcast = await id(
      `INSERT INTO ${t.networkTransaction} (transaction_type, wallet_id, state, confirmations, comment, opened_at, created_at, updated_at)
       VALUES ('broadcast', ?, 'opened', 0, 'cryptoassets btc broadcast 3 bbbbbbbbbbbb', ?, ?, ?)`,
      [wallet, NOW, NOW, NOW],
    );
    const tr = (columns: string, values: unknown[]) =>
      id(`INSERT INTO ${t.transaction} (${columns}, created_at, updated_at) VALUES (${values.map(() => '?').join(', ')}, ?, ?)`, [
        ...values,
        NOW,
        NOW,
      ]);
    const entry = (account: number, transaction: number, kind: string, amount: number) =>
      tx.run(`INSERT INTO ${t.entry} (account_id, transaction_id, kind, amount, created_at) VALUES (?, ?, ?, ?, ?)`, [
        account,
        transaction,
        kind,
        amount,
        NOW,
      ]);
    const deposit = await tr('wallet_id, type, state, amount, receiving_account_id, address_id, network_transaction_id, credited_at', [
      wallet,
      'deposit',
      'credited',
      100_000,
      alice,
      depositAddress,
      depositNt,
      NOW,
    ]);
    await entry(alice, deposit, 'deposit_credit', 100_000);
    const sent = await tr('wallet_id, type, state, amount, sending_account_id, address_id, network_transaction_id', [
      wallet,
      'withdrawal',
      'broadcasted',
      10_000,
      alice,
      out1,
      closedBroadcast,
    ]);
    await entry(alice, sent, 'withdrawal', -10_000);
    const fee = await tr('wallet_id, type, state, amount, sending_account_id, network_transaction_id, label', [
      wallet,
      'network_fee',
      'done',
      100,
      feeAccount,
      closedBroadcast,
      'network fee of broadcast',
    ]);
    await entry(feeAccount, fee, 'network_fee', -100);
    const broadcastingWithdrawal = await tr('wallet_id, type, state, amount, sending_account_id, address_id, network_transaction_id', [
      wallet,
      'withdrawal',
      'broadcasting',
      20_000,
      alice,
      out2,
      openedBroadcast,
    ]);
    await entry(alice, broadcastingWithdrawal, 'withdrawal', -20_000);
    const pendingWithdrawal = await tr('wallet_id, type, state, amount, sending_account_id, address_id', [
      wallet,
      'withdrawal',
      'pending',
      5_000,
      alice,
      out3,
    ]);
    await entry(alice, pendingWithdrawal, 'withdrawal', -5_000);
    // The previous release wrote the withdrawal's `broadcasting` event when it joined the broadcast.
    await tx.run(
      `INSERT INTO cryptoassets_event (name, coin, transaction_type, transaction_id, payload, created_at) VALUES ('txupdate', 'btc', 'withdrawal', ?, ?, ?)`,
      [broadcastingWithdrawal, JSON.stringify({ change: 'broadcasting' }), NOW],
    );
    const maxTransactionId = Number((await tx.get<{ m: unknown }>(`SELECT MAX(id) AS m FROM ${t.transaction}`))!.m);
    const maxEntryId = Number((await tx.get<{ m: unknown }>(`SELECT MAX(id) AS m FROM ${t.entry}`))!.m);
    return { alice, feeAccount, openedBroadcast, broadcastingWithdrawal, pendingWithdrawal, maxTransactionId, maxEntryId };
  });
}

async function snapshot(database: Database): Promise<Record<string, unknown[]>> {
  return database.transaction('read', async (tx) => ({
    transactions: await tx.all(`SELECT id, wallet_id, type, state, amount, sending_account_id, receiving_account_id, address_id,
      network_transaction_id, label, idempotency_key, credited_at, processed_at, created_at, updated_at FROM ${t.transaction} ORDER BY id`),
    entries: await tx.all(`SELECT id, account_id, transaction_id, kind, amount, created_at FROM ${t.entry} ORDER BY id`),
  }));
}

describe.each(engines)('upgrading a populated schema-2 database on %s', (engine) => {
  let database: TestDatabase | undefined;
  let app: CryptoAssets | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await database?.drop();
    database = undefined;
  });

  async function upgraded(): Promise<{ ids: Schema2Ids; before: Record<string, unknown[]>; chain: MemoryChain }> {
    database = await createTestDatabase(engine);
    const raw = openDatabase(database.options);
    const chain = new MemoryChain({ network: BTC.networks.regtest! });
    const backend = chain.createWallet('ledger');
    const other = chain.createWallet('recipients');
    const addresses = {
      deposit: await backend.createAddress('alice-1'),
      out1: await other.createAddress('r1'),
      out2: await other.createAddress('r2'),
      out3: await other.createAddress('r3'),
    };
    let ids: Schema2Ids;
    let before: Record<string, unknown[]>;
    try {
      await migrateToSchema2(raw);
      ids = await populateSchema2(raw, addresses);
      before = await snapshot(raw);
    } finally {
      await raw.close();
    }
    app = await CryptoAssets.open({
      database: database.options,
      coins: [{ coin: BTC, network: BTC.networks.regtest!, backend }],
      migrate: true,
    });
    return { ids, before, chain };
  }

  it('keeps every row and id, the books balanced, and new ids above the old ones', async () => {
    const { ids, before, chain } = await upgraded();
    const recipient = await chain.createWallet('more').createAddress('r4');
    expect(await snapshot(app!.database)).toEqual(before);
    const check = await app!.verifyLedger();
    expect(check.problems).toEqual([]);
    const btc = app!.coin('btc');
    const queued = await btc.transaction(async (book) => (await book.wallet('main')).withdraw(ids.alice, recipient, 600n));
    expect(queued.id).toBeGreaterThan(ids.maxTransactionId);
    const entries = await btc.read(async (book) => (await book.wallet('main')).accountHistory(ids.alice));
    expect(Math.max(...entries.map((e) => e.id))).toBeGreaterThan(ids.maxEntryId);
  });

  it('keeps the append-only triggers, the foreign keys and the schema-3 rules on the rebuilt tables', async () => {
    const { ids } = await upgraded();
    const db = app!.database;
    await expect(db.transaction('write', (tx) => tx.run(`UPDATE ${t.entry} SET amount = 1`))).rejects.toThrow(/append-only/);
    await expect(db.transaction('write', (tx) => tx.run(`DELETE FROM ${t.entry}`))).rejects.toThrow(/append-only/);
    // An entry must reference an existing transaction.
    await expect(
      db.transaction('write', (tx) =>
        tx.run(`INSERT INTO ${t.entry} (account_id, transaction_id, kind, amount, created_at) VALUES (?, 999999, 'withdrawal', -1, ?)`, [
          ids.alice,
          NOW,
        ]),
      ),
    ).rejects.toThrow();
    // A withdrawal cannot be refused while in a broadcast, nor take an unknown state.
    await expect(
      db.transaction('write', (tx) => tx.run(`UPDATE ${t.transaction} SET state = 'refused' WHERE id = ?`, [ids.broadcastingWithdrawal])),
    ).rejects.toThrow();
    await expect(
      db.transaction('write', (tx) => tx.run(`UPDATE ${t.transaction} SET state = 'lost' WHERE id = ?`, [ids.pendingWithdrawal])),
    ).rejects.toThrow();
    // One fee per broadcast, one deposit row per output: the unique indexes are back.
    await expect(
      db.transaction('write', (tx) =>
        tx.run(
          `INSERT INTO ${t.transaction} (wallet_id, type, state, amount, sending_account_id, network_transaction_id, created_at, updated_at)
           SELECT wallet_id, type, state, amount, sending_account_id, network_transaction_id, created_at, updated_at FROM ${t.transaction} WHERE type = 'network_fee'`,
        ),
      ),
    ).rejects.toThrow();
    const btc = app!.coin('btc');
    const cancelled = await btc.transaction(async (book) => (await book.wallet('main')).cancelWithdrawal(ids.pendingWithdrawal));
    expect(cancelled.state).toBe('cancelled');
    expect((await app!.verifyLedger()).problems).toEqual([]);
  });

  it('does not give up on a broadcast opened under schema 2 before a send of it could have reached the node', async () => {
    const { ids } = await upgraded();
    // The broadcast was opened a moment ago (opened_at = now): with a 30 s lease and a 10 s request
    // limit, a send of it may still be on its way, as for any broadcast opened now.
    const settled = broadcastSettledCheck(app!.database, 30_000, 10_000);
    const broadcast = (await app!.coin('btc').read(async (book) => (await book.wallet('main')).listBroadcasts(['opened'])))[0]!;
    expect(broadcast.id).toBe(ids.openedBroadcast);
    expect(await settled(broadcast)).toBe(false);
    expect(Math.abs((broadcast.openedAtMs ?? 0) - Date.parse(NOW))).toBeLessThanOrEqual(1);
  });

  it('writes no second broadcasting event for a withdrawal that was broadcasting under schema 2', async () => {
    const { ids } = await upgraded();
    const btc = app!.coin('btc');
    // A person finds the schema-2 broadcast was not sent and returns it; it then goes out again.
    await btc.transaction(async (book) => (await book.wallet('main')).markBroadcastForVetting(ids.openedBroadcast));
    await btc.transaction(async (book) => (await book.wallet('main')).returnBroadcast(ids.openedBroadcast));
    await btc.transaction(async (book) => (await book.wallet('main')).openBroadcast());
    const changes = await app!.database.transaction('read', (tx) =>
      tx.all<{ payload: string }>(`SELECT payload FROM cryptoassets_event WHERE transaction_id = ? ORDER BY id`, [
        ids.broadcastingWithdrawal,
      ]),
    );
    const broadcasting = changes.map((row) => JSON.parse(row.payload).change).filter((change) => change === 'broadcasting');
    expect(broadcasting).toHaveLength(1);
  });
});
