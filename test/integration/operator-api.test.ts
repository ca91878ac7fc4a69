/**
 * The library API of issue 9 item 6 and the freeze of item 5, on both engines: accounts by name
 * wherever an account is taken, frozen accounts, listing transactions with filters and cursor
 * paging, events readable without a helper service, and the ErrorCode union.
 */
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { encodeAddress } from '../../src/domain/address.js';
import { BTC } from '../../src/domain/coins.js';
import {
  AccountFrozen,
  type CryptoAssetsError,
  ERROR_CODES,
  type ErrorCode,
  InvalidArgument,
  InvalidState,
  NotFound,
} from '../../src/domain/errors.js';
import { sequenceEvents } from '../../src/events/event-store.js';
import type { CoinLedger } from '../../src/ledger/coin-ledger.js';
import { CryptoAssets } from '../../src/app.js';
import { coinTables, latestSchemaVersion, schemaVersions } from '../../src/store/migrations.js';
import { openDatabase } from '../../src/store/open.js';
import { POSTGRES_COIN_MIGRATIONS, POSTGRES_GLOBAL_MIGRATIONS } from '../../src/store/postgres/schema.js';
import { SQLITE_COIN_MIGRATIONS, SQLITE_GLOBAL_MIGRATIONS } from '../../src/store/sqlite/schema.js';
import { createTestDatabase, enginesUnderTest } from '../helpers/engines.js';
import { fundAccount, openTestLedger, randomTxid, rowCounts, type TestLedger } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const regtest = BTC.networks.regtest!;
const EXTERNAL = encodeAddress('p2wpkh', new Uint8Array(20).fill(7), regtest);

describe.each(engines)('operator API on %s', (engine) => {
  let ledger: TestLedger;
  let btc: CoinLedger;

  beforeEach(async () => {
    ledger = await openTestLedger(engine);
    btc = ledger.app.coin('btc');
  });
  afterEach(async () => {
    await ledger.finish();
  });

  const inWallet = <T>(
    fn: (wallet: Awaited<ReturnType<Parameters<Parameters<CoinLedger['transaction']>[0]>[0]['wallet']>>) => Promise<T>,
  ) => btc.transaction(async (book) => fn(await book.wallet('main')));

  it('takes accounts by name wherever it takes an account, and an unknown name is NotFound', async () => {
    await fundAccount(ledger, 'main', 'alice', 1_000_000n);
    await inWallet((wallet) => wallet.createAccount('bob'));
    const address = await btc.createReceivingAddress('main', 'bob', { label: 'bob-1' });
    expect(address.label).toBe('bob-1');

    await inWallet((wallet) => wallet.transfer('alice', 'bob', 1_000n));
    await inWallet((wallet) => wallet.send('alice', address.address, 2_000n)); // internal, by address
    await inWallet((wallet) => wallet.withdraw('alice', EXTERNAL, 50_000n));
    const seen = await inWallet(async (wallet) => ({
      alice: await wallet.getAccount('alice'),
      bob: await wallet.getAccount('bob'),
      history: await wallet.accountHistory('bob'),
      addresses: await wallet.listReceivingAddresses({ account: 'bob' }),
      received: await wallet.receivedByConfirmations({ account: 'alice' }, 0),
      deposits: await wallet.deposits({ account: 'alice' }),
      unconfirmed: await wallet.unconfirmedBalance('bob'),
    }));
    expect(seen.alice.balance).toBe(1_000_000n - 53_000n);
    expect(seen.bob.balance).toBe(3_000n);
    expect(seen.history.map((entry) => entry.kind)).toEqual(['transfer_in', 'transfer_in']);
    expect(seen.addresses.map((a) => a.address)).toEqual([address.address]);
    expect(seen.received).toBe(1_000_000n);
    expect(seen.deposits).toHaveLength(1);
    expect(seen.unconfirmed).toBe(0n);

    const before = await rowCounts(ledger.app);
    for (const attempt of [
      () => inWallet((wallet) => wallet.transfer('nobody', 'bob', 1n)),
      () => inWallet((wallet) => wallet.transfer('alice', 'nobody', 1n)),
      () => inWallet((wallet) => wallet.withdraw('nobody', EXTERNAL, 50_000n)),
      () => inWallet((wallet) => wallet.accountHistory('nobody')),
      () => btc.createReceivingAddress('main', 'nobody'),
    ]) {
      const error = await attempt().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(NotFound);
      expect(error).toMatchObject({ code: 'not_found', message: 'account "nobody" not found' });
    }
    expect(await rowCounts(ledger.app)).toEqual(before);
  });

  it('freezes an account: no sending, no transfers in, queued withdrawals held; deposits still credit; unfreeze restores', async () => {
    await fundAccount(ledger, 'main', 'alice', 1_000_000n);
    await fundAccount(ledger, 'main', 'bob', 1_000_000n);
    const queued = await inWallet((wallet) => wallet.withdraw('alice', EXTERNAL, 40_000n));
    const frozen = await inWallet((wallet) => wallet.freezeAccount('alice'));
    expect(frozen.frozenAt).toBeInstanceOf(Date);
    expect((await inWallet((wallet) => wallet.freezeAccount(frozen))).frozenAt).toEqual(frozen.frozenAt); // idempotent

    const before = await rowCounts(ledger.app);
    for (const [attempt, detail] of [
      [() => inWallet((wallet) => wallet.transfer('alice', 'bob', 1n)), 'it cannot send'],
      [() => inWallet((wallet) => wallet.withdraw('alice', EXTERNAL, 50_000n)), 'it cannot send'],
      [() => inWallet((wallet) => wallet.transfer('bob', 'alice', 1n)), 'it cannot receive transfers'],
    ] as const) {
      const error = await attempt().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AccountFrozen);
      expect(error).toMatchObject({ code: 'account_frozen', accountId: frozen.id });
      expect((error as Error).message).toContain(detail);
    }
    // A caught refusal leaves nothing half-written even when the transaction commits.
    await inWallet(async (wallet) => {
      await expect(wallet.transfer('bob', 'alice', 5n)).rejects.toBeInstanceOf(AccountFrozen);
    });
    expect(await rowCounts(ledger.app)).toEqual(before);

    // The queued withdrawal waits: a broadcast does not take it.
    expect(await inWallet((wallet) => wallet.openBroadcast())).toBeUndefined();
    // Deposits still credit it.
    const address = await btc.createReceivingAddress('main', 'alice');
    await btc.transaction((book) =>
      book.recordDeposit({
        txid: randomTxid(),
        confirmations: BTC.confirmationThreshold,
        outputs: [{ address: address.address, amount: 7_000n }],
      }),
    );
    expect((await inWallet((wallet) => wallet.getAccount('alice'))).balance).toBe(1_000_000n - 40_000n + 7_000n);
    // Cancelling its queued withdrawal refunds it (a refund is not a transfer).
    await expect(inWallet((wallet) => wallet.cancelWithdrawal(queued.id))).resolves.toMatchObject({ state: 'cancelled' });

    await expect(inWallet(async (wallet) => wallet.freezeAccount(await wallet.getNetworkFeeAccount()))).rejects.toBeInstanceOf(
      InvalidState,
    );

    const thawed = await inWallet((wallet) => wallet.unfreezeAccount('alice'));
    expect(thawed.frozenAt).toBeNull();
    await inWallet((wallet) => wallet.transfer('alice', 'bob', 1n));
    const again = await inWallet((wallet) => wallet.withdraw('alice', EXTERNAL, 30_000n));
    const opened = await inWallet((wallet) => wallet.openBroadcast());
    expect(opened?.withdrawals.map((w) => w.id)).toEqual([again.id]);
    await inWallet((wallet) => wallet.returnBroadcast(opened!.broadcast.id, { quiet: true }));
  });

  it('a freeze and a concurrent send: one of them wins whole, never a frozen account that sent afterwards', async () => {
    await fundAccount(ledger, 'main', 'alice', 1_000_000n);
    await fundAccount(ledger, 'main', 'bob', 1n);
    const results = await Promise.allSettled([
      inWallet((wallet) => wallet.freezeAccount('alice')),
      ...Array.from({ length: 4 }, () => inWallet((wallet) => wallet.transfer('alice', 'bob', 10n))),
    ]);
    expect(results[0]!.status).toBe('fulfilled');
    const frozenAt = (results[0] as PromiseFulfilledResult<{ frozenAt: Date }>).value.frozenAt;
    for (const result of results.slice(1)) {
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(AccountFrozen);
      else expect(result.value.createdAt.getTime()).toBeLessThanOrEqual(frozenAt.getTime());
    }
    // Whatever the interleaving, the books hold (checked in afterEach) and the freeze stands.
    await expect(inWallet((wallet) => wallet.transfer('alice', 'bob', 1n))).rejects.toBeInstanceOf(AccountFrozen);
  });

  it('a freeze tells the application: held for each queued withdrawal, released on unfreeze', async () => {
    await fundAccount(ledger, 'main', 'alice', 1_000_000n);
    const first = await inWallet((wallet) => wallet.withdraw('alice', EXTERNAL, 40_000n));
    const second = await inWallet((wallet) => wallet.withdraw('alice', EXTERNAL, 50_000n));
    const changes = async () =>
      (await ledger.app.events.after(0n, 1000))
        .filter((event) => event.data.transactionType === 'broadcast')
        .map((event) => `${event.data.transactionId}:${event.data.change}:${event.data.state}`);
    await inWallet((wallet) => wallet.freezeAccount('alice'));
    await inWallet((wallet) => wallet.freezeAccount('alice')); // already frozen: nothing new
    await inWallet((wallet) => wallet.unfreezeAccount('alice'));
    expect(await changes()).toEqual([
      `${first.id}:queued:pending`,
      `${second.id}:queued:pending`,
      `${first.id}:held:pending`,
      `${second.id}:held:pending`,
      `${first.id}:released:pending`,
      `${second.id}:released:pending`,
    ]);
  });

  it('a freeze racing a broadcast: each withdrawal is either held (and stays queued) or in the broadcast (no held event)', async () => {
    await fundAccount(ledger, 'main', 'alice', 10_000_000n);
    for (let round = 0; round < 12; round++) {
      const withdrawal = await inWallet((wallet) => wallet.withdraw('alice', EXTERNAL, 30_000n));
      // Started in turn one before the other; no ordering is forced, either may commit first.
      const freeze = () => inWallet((wallet) => wallet.freezeAccount('alice'));
      const open = () => inWallet((wallet) => wallet.openBroadcast());
      const opened = round % 2 === 0 ? (await Promise.all([freeze(), open()]))[1] : (await Promise.all([open(), freeze()]))[0];
      const events = (await ledger.app.events.after(0n, 10_000)).filter((event) => event.data.transactionId === withdrawal.id);
      const held = events.some((event) => event.data.change === 'held');
      const now = await inWallet((wallet) => wallet.getTransaction(withdrawal.id));
      if (opened) {
        // The broadcast came first: the freeze saw the withdrawal leave the queue and did not call it held.
        expect({ round, held, state: now.state }).toEqual({ round, held: false, state: 'broadcasting' });
        await inWallet((wallet) => wallet.returnBroadcast(opened.broadcast.id, { quiet: true }));
      } else {
        expect({ round, held, state: now.state }).toEqual({ round, held: true, state: 'pending' });
      }
      await inWallet((wallet) => wallet.unfreezeAccount('alice'));
      await inWallet((wallet) => wallet.cancelWithdrawal(withdrawal.id));
    }
  });

  it('lists transactions of a wallet or an account, filtered, newest first, with a cursor', async () => {
    await fundAccount(ledger, 'main', 'alice', 1_000_000n);
    await inWallet((wallet) => wallet.createAccount('bob'));
    const start = new Date();
    for (let i = 1; i <= 5; i++) await inWallet((wallet) => wallet.transfer('alice', 'bob', BigInt(i)));
    const withdrawal = await inWallet((wallet) => wallet.withdraw('alice', EXTERNAL, 60_000n));

    const all = await inWallet((wallet) => wallet.listTransactions());
    expect(all.items.map((t) => t.type)).toEqual(['withdrawal', 'internal', 'internal', 'internal', 'internal', 'internal', 'deposit']);
    expect(all.next).toBeNull();

    const seen: number[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await inWallet((wallet) => wallet.listTransactions({ account: 'bob', limit: 2, ...(cursor ? { cursor } : {}) }));
      seen.push(...page.items.map((t) => Number(t.amount)));
      if (page.next === null) break;
      cursor = page.next;
      // A transaction written between pages appears on a new first page, not on the next ones.
      await inWallet((wallet) => wallet.transfer('alice', 'bob', 100n));
    }
    expect(seen).toEqual([5, 4, 3, 2, 1]);

    expect(
      (await inWallet((wallet) => wallet.listTransactions({ type: 'withdrawal', state: ['pending', 'refused'] }))).items.map((t) => t.id),
    ).toEqual([withdrawal.id]);
    expect((await inWallet((wallet) => wallet.listTransactions({ type: ['deposit'], account: 'alice' }))).items).toHaveLength(1);
    expect((await inWallet((wallet) => wallet.listTransactions({ from: new Date(Date.now() + 60_000) }))).items).toEqual([]);
    expect((await inWallet((wallet) => wallet.listTransactions({ to: start, type: 'internal' }))).items).toEqual([]);
    const since = await inWallet((wallet) => wallet.listTransactions({ from: start, type: 'internal', account: 'bob' }));
    expect(since.items.length).toBeGreaterThanOrEqual(5);

    for (const bad of [{ cursor: 'x' }, { state: ['nope' as 'pending'] }, { type: [] }, { from: new Date('nope') }]) {
      await expect(inWallet((wallet) => wallet.listTransactions(bad))).rejects.toBeInstanceOf(InvalidArgument);
    }
  });

  it('lists the journal of a wallet oldest first, page by page, with account names, types and txids', async () => {
    await fundAccount(ledger, 'main', 'alice', 1_000_000n);
    await inWallet((wallet) => wallet.createAccount('bob'));
    for (let i = 1; i <= 3; i++) await inWallet((wallet) => wallet.transfer('alice', 'bob', BigInt(i)));
    await fundAccount(ledger, 'other', 'carol', 5n); // another wallet: not listed
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await inWallet((wallet) => wallet.listEntries({ limit: 3, ...(after ? { after } : {}) }));
      seen.push(...page.items.map((e) => `${e.accountName}:${e.kind}:${e.amount}:${e.transactionType}:${e.txid === null ? '-' : 'txid'}`));
      if (page.next === null) break;
      after = page.next;
    }
    expect(seen).toEqual([
      'alice:deposit_credit:1000000:deposit:txid',
      'alice:transfer_out:-1:internal:-',
      'bob:transfer_in:1:internal:-',
      'alice:transfer_out:-2:internal:-',
      'bob:transfer_in:2:internal:-',
      'alice:transfer_out:-3:internal:-',
      'bob:transfer_in:3:internal:-',
    ]);
    await expect(inWallet((wallet) => wallet.listEntries({ after: 'x' }))).rejects.toBeInstanceOf(InvalidArgument);
  });

  it('events are readable without a helper service: after() sequences what is committed, each once, in order', async () => {
    await fundAccount(ledger, 'main', 'alice', 1_000_000n);
    await inWallet((wallet) => wallet.withdraw('alice', EXTERNAL, 50_000n));
    const first = await ledger.app.events.after(0n);
    expect(first.length).toBeGreaterThanOrEqual(2);
    expect(first.map((event) => event.id)).toEqual(first.map((_, i) => String(i + 1)));
    expect(await ledger.app.events.latestId()).toBe(BigInt(first.length));

    // Readers and a sequencer at once (as a service would run it): no event twice, no gap.
    await inWallet((wallet) => wallet.withdraw('alice', EXTERNAL, 60_000n));
    await inWallet((wallet) => wallet.withdraw('alice', EXTERNAL, 70_000n));
    const racing = await Promise.all([
      ledger.app.events.after(BigInt(first.length)),
      sequenceEvents(ledger.app.database),
      ledger.app.events.after(BigInt(first.length)),
    ]);
    const all = await ledger.app.events.after(0n, 1000);
    expect(all.map((event) => event.id)).toEqual(all.map((_, i) => String(i + 1)));
    const rows = await ledger.app.database.transaction('read', (tx) =>
      tx.get<{ n: unknown }>('SELECT COUNT(*) AS n FROM cryptoassets_event'),
    );
    expect(all).toHaveLength(Number(rows?.n)); // every event, each with one id
    for (const batch of [racing[0], racing[2]]) {
      for (const event of batch) expect(all.find((other) => other.id === event.id)).toEqual(event);
    }
    expect(await ledger.app.events.after(0n, 100, { sequence: false })).toEqual(all);
  });

  it('is at schema version 4 on SQLite, 6 (the ledger functions, 5 and 6) on PostgreSQL', async () => {
    const expected = engine === 'postgres' ? 6 : 4;
    expect(latestSchemaVersion(ledger.app.database, 'btc')).toBe(expected);
    expect(await schemaVersions(ledger.app.database, ['btc'])).toMatchObject({ btc: expected });
  });
});

describe('ErrorCode', () => {
  it('is the union of every code the typed errors carry', () => {
    expectTypeOf<CryptoAssetsError['code']>().toEqualTypeOf<ErrorCode>();
    expectTypeOf<'account_frozen'>().toMatchTypeOf<ErrorCode>();
    expect(new AccountFrozen(1, 'x').code satisfies ErrorCode).toBe('account_frozen');
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const code of ['insufficient_balance', 'not_found', 'invalid_argument', 'outcome_unknown', 'wallet_locked'] as const) {
      expect(ERROR_CODES).toContain(code);
    }
  });
});

describe.each(engines)('schema 3 to 4 on %s', (engine) => {
  it('adds frozen_at to existing accounts (not frozen), keeps their balances, and the freeze works after it', async () => {
    const database = await createTestDatabase(engine);
    const raw = openDatabase(database.options);
    try {
      const sqlite = engine === 'sqlite';
      const coin = (sqlite ? SQLITE_COIN_MIGRATIONS : POSTGRES_COIN_MIGRATIONS).filter((m) => m.version <= 3);
      const global = sqlite ? SQLITE_GLOBAL_MIGRATIONS : POSTGRES_GLOBAL_MIGRATIONS;
      const now = new Date().toISOString();
      await raw.transaction('schema', async (tx) => {
        await tx.run(`CREATE TABLE cryptoassets_migration (scope TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,
          applied_at ${sqlite ? 'TEXT' : 'TIMESTAMPTZ'} NOT NULL, PRIMARY KEY (scope, version))`);
        for (const [scope, tables, migrations] of [
          ['_global', coinTables('cryptoassets'), global],
          ['btc', coinTables('btc'), coin],
        ] as const) {
          for (const migration of migrations) {
            for (const statement of migration.statements(tables)) await tx.run(statement);
            await tx.run('INSERT INTO cryptoassets_migration (scope, version, name, applied_at) VALUES (?, ?, ?, ?)', [
              scope,
              migration.version,
              migration.name,
              now,
            ]);
          }
        }
        await tx.run(`INSERT INTO btc_wallet (name, created_at, updated_at) VALUES ('main', ?, ?)`, [now, now]);
        await tx.run(
          `INSERT INTO btc_account (wallet_id, name, kind, balance, created_at, updated_at) VALUES (1, 'alice', 'user', 0, ?, ?)`,
          [now, now],
        );
      });
    } finally {
      await raw.close();
    }
    const app = await CryptoAssets.open({ database: database.options, coins: [{ coin: BTC, network: regtest }], migrate: true });
    try {
      expect(await schemaVersions(app.database, ['btc'])).toMatchObject({ btc: engine === 'postgres' ? 6 : 4 });
      const btc = app.coin('btc');
      expect(await btc.read(async (book) => (await book.wallet('main')).getAccount('alice'))).toMatchObject({
        name: 'alice',
        balance: 0n,
        frozenAt: null,
      });
      const frozen = await btc.transaction(async (book) => (await book.wallet('main')).freezeAccount('alice'));
      expect(frozen.frozenAt).toBeInstanceOf(Date);
      // Transfers after the upgrade (on PostgreSQL through the functions of schema 5).
      await btc.transaction(async (book) => (await book.wallet('main')).unfreezeAccount('alice'));
      const bob = await btc.transaction(async (book) => (await book.wallet('main')).createAccount('bob'));
      const moved = await btc.transfer('main', 'alice', bob, 700n, null, { allowNegativeBalance: true });
      expect(moved).toMatchObject({ type: 'internal', amount: 700n, receivingAccountId: bob.id });
      expect((await app.verifyLedger()).ok).toBe(true);
    } finally {
      await app.close();
      await database.drop();
    }
  });
});
