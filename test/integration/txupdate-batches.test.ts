/**
 * Review mend: freeze, unfreeze, `openBroadcast` and `refuseBroadcast` wrote their txupdate events
 * one at a time (a payload query and an INSERT per withdrawal). They now write them in one batch
 * per operation: a freeze costs the same statements for 5 or 50 queued withdrawals, and every
 * event carries the payload the payload query gives for it, in the same order as before.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BTC } from '../../src/domain/coins.js';
import { buildPayload, type TxUpdateChange } from '../../src/events/outbox.js';
import { freezeAccount, unfreezeAccount } from '../../src/ledger/accounts.js';
import { closeBroadcast, openBroadcast, refuseBroadcast, returnBroadcast } from '../../src/ledger/broadcasts.js';
import type { CoinBook } from '../../src/ledger/coin-book.js';
import type { CoinLedger } from '../../src/ledger/coin-ledger.js';
import type { WalletScope } from '../../src/ledger/context.js';
import type { SqlExecutor } from '../../src/store/database.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { openTestLedger, type TestLedger } from '../helpers/ledger.js';

const engines = await enginesUnderTest();

/**
 * A scope of wallet main in `book`'s transaction, counting every statement sent through it, and
 * apart those that write events or read their payloads.
 */
async function counting(book: CoinBook): Promise<{ scope: WalletScope; statements: () => number; eventStatements: () => number }> {
  const tx = book.executor;
  let statements = 0;
  let eventStatements = 0;
  const count = (sql: string) => {
    statements++;
    if (sql.includes('cryptoassets_event') || sql.includes('AS reversals')) eventStatements++;
  };
  const counted: SqlExecutor = {
    all: (sql, params) => (count(sql), tx.all(sql, params)),
    get: (sql, params) => (count(sql), tx.get(sql, params)),
    run: (sql, params) => (count(sql), tx.run(sql, params)),
  };
  const walletId = (await book.wallet('main')).id;
  return { scope: { tx: counted, context: book.context, walletId }, statements: () => statements, eventStatements: () => eventStatements };
}

describe.each(engines)('txupdate events in batches on %s', (engine) => {
  let ledger: TestLedger;
  let btc: CoinLedger;
  let seen = 0;

  beforeEach(async () => {
    ledger = await openTestLedger(engine, BTC);
    btc = ledger.app.coin('btc');
    seen = 0;
  });
  afterEach(async () => {
    await ledger.finish();
  });

  /** Accounts of wallet main with that many withdrawals queued each; returns their ids per account. */
  async function queue(withdrawals: Record<string, number>): Promise<Record<string, number[]>> {
    const total = Object.values(withdrawals).reduce((sum, n) => sum + n, 0);
    ledger.chain.fund(ledger.backend, BigInt(total) * 1_000n);
    const address = ledger.chain.externalAddress();
    return btc.transaction(async (book) => {
      const wallet = await book.getOrCreateWallet('main');
      const house = await wallet.createAccount('house');
      await wallet.importUnaccountedBalance(house, BigInt(total) * 1_000n, 'test funds');
      const ids: Record<string, number[]> = {};
      for (const [name, count] of Object.entries(withdrawals)) {
        const account = await wallet.createAccount(name);
        await wallet.transfer(house, account, BigInt(count) * 1_000n, 'funds');
        const queued = await wallet.withdrawMany(Array.from({ length: count }, () => ({ from: account, address, amount: 1_000n })));
        ids[name] = queued.map((withdrawal) => withdrawal.id);
      }
      return ids;
    });
  }

  /**
   * The events written since the last call, checked inside `book`'s transaction right after the
   * operation: each payload equals what the payload query gives for its transaction now, which is
   * what the per-event path wrote. Returns their transaction ids, in event order.
   */
  async function newEvents(book: CoinBook, change: TxUpdateChange): Promise<number[]> {
    const events = await book.executor.all<{ id: unknown; transaction_id: unknown; payload: string }>(
      `SELECT id, transaction_id, payload FROM cryptoassets_event WHERE id > ? ORDER BY id`,
      [seen],
    );
    const ids: number[] = [];
    for (const event of events) {
      const payload = JSON.parse(event.payload) as { change: TxUpdateChange };
      expect(payload.change).toBe(change);
      expect(payload).toEqual(await buildPayload({ tx: book.executor, context: book.context }, Number(event.transaction_id), change));
      ids.push(Number(event.transaction_id));
      seen = Number(event.id);
    }
    return ids;
  }

  async function skipEvents(): Promise<void> {
    const row = await ledger.app.database.transaction('read', (tx) =>
      tx.get<{ id: unknown }>(`SELECT MAX(id) AS id FROM cryptoassets_event`),
    );
    seen = Number(row?.id ?? 0);
  }

  it('freezes and unfreezes an account of 5 or 50 queued withdrawals in the same statements, with the same events', async () => {
    const ids = await queue({ small: 5, large: 50 });
    await skipEvents();
    const cost: Record<string, { freeze: number; unfreeze: number }> = {};
    for (const name of ['small', 'large']) {
      cost[name] = await btc.transaction(async (book) => {
        const { scope, statements } = await counting(book);
        await freezeAccount(scope, name);
        const freeze = statements();
        expect(await newEvents(book, 'held')).toEqual(ids[name]);
        await unfreezeAccount(scope, name);
        const unfreeze = statements() - freeze;
        expect(await newEvents(book, 'released')).toEqual(ids[name]);
        return { freeze, unfreeze };
      });
    }
    // Before, each event cost a payload query and an INSERT: 3 + 2 × 50 statements for the large one.
    expect(cost.large).toEqual(cost.small);
    expect(cost.large!.freeze).toBeLessThanOrEqual(5);
    expect(cost.large!.unfreeze).toBeLessThanOrEqual(5);
  });

  it('writes more events than one INSERT takes in id order, with their payloads', async () => {
    const ids = await queue({ many: 501 });
    await skipEvents();
    const freeze = await btc.transaction(async (book) => {
      const { scope, statements } = await counting(book);
      await freezeAccount(scope, 'many');
      expect(await newEvents(book, 'held')).toEqual(ids.many);
      return statements();
    });
    expect(freeze).toBeLessThanOrEqual(7);
  });

  it('opens and refuses broadcasts with the events the per-event path wrote, in its order', async () => {
    const ids = await queue({ alice: 3, bob: 4 });
    await skipEvents();
    const all = [...ids.alice!, ...ids.bob!].sort((a, b) => a - b);
    // Three of them first; the others join the next broadcast. Each operation writes its events
    // with one payload query and one INSERT (before: two statements per withdrawal).
    const first = await btc.transaction(async (book) => {
      const { scope, eventStatements } = await counting(book);
      const opened = (await openBroadcast(scope, { withdrawalIds: all.slice(0, 3) }))!;
      expect(await newEvents(book, 'broadcasting')).toEqual(all.slice(0, 3));
      expect(eventStatements()).toBe(2);
      return opened;
    });
    const refused = await btc.transaction(async (book) => {
      const { scope, eventStatements } = await counting(book);
      const transactions = await refuseBroadcast(scope, first.broadcast.id, 'insufficient funds');
      expect(transactions.map((withdrawal) => withdrawal.state)).toEqual(['refused', 'refused', 'refused']);
      expect(await newEvents(book, 'refused')).toEqual(transactions.map((withdrawal) => withdrawal.id));
      expect(eventStatements()).toBe(2);
      return transactions.map((withdrawal) => withdrawal.id);
    });
    expect([...refused].sort((a, b) => a - b)).toEqual(all.slice(0, 3));
    await btc.transaction(async (book) => {
      const { scope, eventStatements } = await counting(book);
      const opened = (await openBroadcast(scope))!;
      expect(opened.withdrawals.map((withdrawal) => withdrawal.id)).toEqual(all.slice(3));
      expect(await newEvents(book, 'broadcasting')).toEqual(all.slice(3));
      expect(eventStatements()).toBe(2);
      await returnBroadcast(scope, opened.broadcast.id, { quiet: true });
    });
    // Tried again: no second `broadcasting` event.
    await btc.transaction(async (book) => {
      expect((await (await book.wallet('main')).openBroadcast())!.withdrawals).toHaveLength(4);
      expect(await newEvents(book, 'broadcasting')).toEqual([]);
    });
  });

  it('returns and closes broadcasts with one batch of events each, in withdrawal id order', async () => {
    const ids = await queue({ carol: 6 });
    await skipEvents();
    const all = ids.carol!;
    await btc.transaction(async (book) => {
      const { scope, eventStatements } = await counting(book);
      const opened = (await openBroadcast(scope))!;
      await newEvents(book, 'broadcasting');
      const before = eventStatements();
      await returnBroadcast(scope, opened.broadcast.id);
      expect(await newEvents(book, 'requeued')).toEqual(all);
      expect(eventStatements() - before).toBe(2);
    });
    await btc.transaction(async (book) => {
      const { scope, eventStatements } = await counting(book);
      const opened = (await openBroadcast(scope))!;
      await newEvents(book, 'broadcasting');
      const before = eventStatements();
      await closeBroadcast(scope, opened.broadcast.id, 'ab'.repeat(32), 150n);
      expect(await newEvents(book, 'broadcasted')).toEqual(all);
      expect(eventStatements() - before).toBe(2);
    });
  });
});
