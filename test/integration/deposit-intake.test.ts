/**
 * Deposit intake in batches (issue 11): a node reading's deposits are recorded in a number of
 * statements that does not grow with the reading, and the events written from what is in hand
 * carry exactly the payload the payload query gives (docs/events.md).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NetworkTransactionInfo } from '../../src/backends/backend.js';
import { BTC } from '../../src/domain/coins.js';
import { sequenceEvents } from '../../src/events/event-store.js';
import { buildPayload, type TxUpdateChange } from '../../src/events/outbox.js';
import type { CoinBook } from '../../src/ledger/coin-book.js';
import type { CoinLedger } from '../../src/ledger/coin-ledger.js';
import type { CoinScope } from '../../src/ledger/context.js';
import { applyReading } from '../../src/ledger/tracking.js';
import type { SqlExecutor } from '../../src/store/database.js';
import { measureCost } from '../../bench/lib/wire-count.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { openTestLedger, randomTxid, type TestLedger } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const threshold = BTC.confirmationThreshold;

/** The executor of `book`, counting every statement sent through it. */
function counting(book: CoinBook): { scope: CoinScope; statements: () => number } {
  const tx = book.executor;
  let statements = 0;
  const counted: SqlExecutor = {
    all: (sql, params) => (statements++, tx.all(sql, params)),
    get: (sql, params) => (statements++, tx.get(sql, params)),
    run: (sql, params) => (statements++, tx.run(sql, params)),
  };
  return { scope: { tx: counted, context: book.context }, statements: () => statements };
}

describe.each(engines)('deposit intake in batches on %s', (engine) => {
  let ledger: TestLedger;
  let btc: CoinLedger;

  beforeEach(async () => {
    ledger = await openTestLedger(engine);
    btc = ledger.app.coin('btc');
  });
  afterEach(async () => {
    await ledger.finish();
  });

  /** `count` receiving addresses spread over `accounts` accounts of wallet main. */
  async function addresses(count: number, accounts: number): Promise<string[]> {
    const owners = [];
    for (let i = 0; i < accounts; i++) {
      owners.push(await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount(`customer-${i}`)));
    }
    const created: string[] = [];
    for (let i = 0; i < count; i++) created.push((await btc.createReceivingAddress('main', owners[i % accounts]!)).address);
    return created;
  }

  /** Apply a reading of these transactions; returns the statements it cost. */
  async function apply(transactions: readonly NetworkTransactionInfo[]): Promise<number> {
    const tip = await ledger.backend.chainTip();
    return btc.transaction(async (book) => {
      const { scope, statements } = counting(book);
      const { seq } = await book.readingRegister();
      await applyReading(scope, { tip, transactions }, seq);
      return statements();
    });
  }

  const paying = (txids: readonly string[], to: readonly string[], confirmations: number): NetworkTransactionInfo[] =>
    txids.map((txid, i) => ({
      txid,
      confirmations,
      received: [{ address: to[i]!, amount: 1_000n + BigInt(i), vout: 0 }],
      sent: [],
      fee: 0n,
    }));

  it('records 20 or 200 deposits of a reading in the same number of statements, however they change', async () => {
    const to = await addresses(220, 10);
    const small = to.slice(0, 20).map(() => randomTxid());
    const large = to.slice(20).map(() => randomTxid());
    const cost = async (confirmations: number) => ({
      small: await apply(paying(small, to.slice(0, 20), confirmations)),
      large: await apply(paying(large, to.slice(20), confirmations)),
    });
    const created = await cost(0);
    const confirmed = await cost(1);
    const credited = await cost(threshold);
    const reversed = await cost(-1);
    for (const step of [created, confirmed, credited, reversed]) {
      expect(step.large).toBe(step.small);
      // Before issue 11 a new deposit alone cost 13 statements.
      expect(step.large).toBeLessThanOrEqual(12);
    }
    const deposits = await btc.read(async (book) => (await book.wallet('main')).deposits());
    expect(deposits).toHaveLength(220);
    expect(deposits.every((deposit) => deposit.state === 'incoming')).toBe(true);
    const counts = await ledger.app.database.transaction('read', (tx) =>
      tx.all<{ kind: string; n: unknown }>(`SELECT kind, COUNT(*) AS n FROM btc_entry GROUP BY kind ORDER BY kind`),
    );
    expect(counts.map((row) => [row.kind, Number(row.n)])).toEqual([
      ['deposit_credit', 220],
      ['deposit_reversal', 220],
    ]);
  });

  it('sequences the events of a large reading in a few statements, in id order', async () => {
    const to = await addresses(600, 3);
    await apply(
      paying(
        to.map(() => randomTxid()),
        to,
        threshold,
      ),
    );
    const cost = await measureCost(engine, 1, () => sequenceEvents(ledger.app.database));
    // Before issue 11 each event took its own UPDATE: 600 and more.
    expect(cost.statements).toBeLessThanOrEqual(5);
    const events = await ledger.app.database.transaction('read', (tx) =>
      tx.all<{ id: unknown; seq: unknown }>(`SELECT id, seq FROM cryptoassets_event ORDER BY id`),
    );
    expect(events).toHaveLength(600);
    expect(events.map((event) => Number(event.seq))).toEqual(events.map((_, i) => i + 1));
  });

  it('writes every deposit event with the payload the payload query gives for it', async () => {
    const [alice, bob, carol] = await addresses(3, 2);
    const both = randomTxid();
    const single = randomTxid();
    const steps: [number, number][] = [
      [0, 0],
      [1, 1],
      [threshold, threshold],
      [threshold + 1, threshold + 1],
      [-1, threshold + 2],
      [threshold, threshold + 3],
    ];
    let seen = 0;
    for (const [index, [bothConfirmations, singleConfirmations]] of steps.entries()) {
      if (index === 3) {
        // Processed deposits still get events; the flag shows in them.
        await btc.transaction(async (book) => {
          const main = await book.wallet('main');
          for (const deposit of await main.deposits()) await main.markProcessed(deposit.id);
        });
      }
      await apply([
        {
          txid: both,
          confirmations: bothConfirmations,
          received: [
            { address: alice!, amount: 700n, vout: 0 },
            { address: bob!, amount: 300n, vout: 1 },
            { address: alice!, amount: 5n, vout: 2 },
          ],
          sent: [],
          fee: 0n,
        },
        { txid: single, confirmations: singleConfirmations, received: [{ address: carol!, amount: 42n, vout: 0 }], sent: [], fee: 0n },
      ]);
      await btc.transaction(async (book) => {
        const events = await book.executor.all<{ id: unknown; transaction_id: unknown; payload: string }>(
          `SELECT id, transaction_id, payload FROM cryptoassets_event WHERE id > ? ORDER BY id`,
          [seen],
        );
        expect(events.length).toBeGreaterThan(0);
        for (const event of events) {
          const payload = JSON.parse(event.payload) as { change: TxUpdateChange };
          const scope: CoinScope = { tx: book.executor, context: book.context };
          expect(payload).toEqual(await buildPayload(scope, Number(event.transaction_id), payload.change));
          seen = Number(event.id);
        }
      });
    }
    const changes = await ledger.app.database.transaction('read', (tx) =>
      tx.all<{ payload: string }>(`SELECT payload FROM cryptoassets_event ORDER BY id`),
    );
    const summary = changes.map((row) => {
      const data = JSON.parse(row.payload) as { address: string; amount: string; change: string; reversed: boolean; processed: boolean };
      return `${data.address === alice ? 'alice' : data.address === bob ? 'bob' : 'carol'} ${data.amount} ${data.change}${data.reversed ? ' reversed' : ''}${data.processed ? ' processed' : ''}`;
    });
    expect(summary).toEqual([
      'alice 705 created',
      'bob 300 created',
      'carol 42 created',
      'alice 705 confirmations',
      'bob 300 confirmations',
      'carol 42 confirmations',
      'alice 705 credited',
      'bob 300 credited',
      'carol 42 credited',
      'alice 705 confirmations processed',
      'bob 300 confirmations processed',
      'carol 42 confirmations processed',
      'alice 705 reversed reversed processed',
      'bob 300 reversed reversed processed',
      'carol 42 confirmations processed',
      'alice 705 credited processed',
      'bob 300 credited processed',
      'carol 42 confirmations processed',
    ]);
  });
});
