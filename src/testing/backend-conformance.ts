/**
 * A conformance suite for `CoinBackend` implementations. Every backend (the memory chain,
 * bitcoind on regtest, an API service's testnet) runs the same tests through a small harness, so
 * the ledger can rely on the documented behaviour whichever backend it talks to.
 *
 * The tests only assume what a real node on a private network gives: payments from somebody
 * else's wallet, blocks on demand, a wallet that can be funded. They compare exact amounts and
 * balance deltas rather than absolute balances, because a real wallet may hold coinbase outputs
 * and earlier funding.
 *
 * Usage, in a test file:
 * ```ts
 * defineBackendConformanceSuite('memory', async () => { ... return harness; });
 * ```
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChainTip, CoinBackend, NetworkTransactionInfo, SendOutputRequest } from '../backends/backend.js';
import { DEADLINE_PASSED, TXID_PATTERN } from '../backends/backend.js';
import { validateAddress } from '../domain/address.js';
import type { NetworkParams } from '../domain/coins.js';
import { BackendError, InvalidTxid, NotFound } from '../domain/errors.js';

/** What a backend under test provides to the suite; one fresh harness per test. */
export interface ConformanceHarness {
  /** The backend under test, with its own wallet. */
  readonly backend: CoinBackend;
  /** The network the backend's addresses belong to. */
  readonly network: NetworkParams;
  /** Somebody else pays `amount` to `address` (unconfirmed); returns the txid. */
  pay(address: string, amount: bigint): Promise<string>;
  /**
   * Optional: somebody else pays all `outputs` in one transaction; returns the txid. Without it
   * the "two outputs in one transaction" test sends from the backend's own wallet to itself.
   */
  payMany?(outputs: readonly SendOutputRequest[]): Promise<string>;
  /** Mine `blocks` blocks, confirming what is in the mempool. */
  mine(blocks: number): Promise<void>;
  /** A valid address of the network that is NOT in the backend's wallet. */
  externalAddress(): Promise<string>;
  /** Make the backend's wallet hold at least `amount` more, confirmed. */
  fund(amount: bigint): Promise<void>;
  /**
   * Optional: disconnect the last `depth` blocks and mine `depth + 1` new blocks that do not
   * contain their transactions (those return to the mempool). Without it the reorganisation
   * test is skipped.
   */
  reorg?(depth: number): Promise<void>;
  /** Release everything the harness made (also closes the backend). */
  teardown(): Promise<void>;
}

/** Tuning for slow or picky backends. */
export interface ConformanceOptions {
  /** Per-test timeout in milliseconds, also used for setup and teardown. Default 60 000. */
  readonly timeoutMs?: number;
  /**
   * The unit test amounts are multiples of, in base units. Default 1 000 000 (0.01 of a coin of
   * 8 decimals): far above dust limits, and the funding (200 units) stays small on regtest.
   */
  readonly unit?: bigint;
  /**
   * Whether `changesSince` lists in `removed` the wallet transactions of blocks disconnected
   * since the cursor (bitcoind and the memory chain do; the contract allows a backend that
   * cannot). Default true.
   */
  readonly reportsRemovals?: boolean;
}

/**
 * Declare the conformance tests for one backend inside a `describe` named after `name`.
 * `setup` runs before every test and must give a fresh harness; its `teardown` runs after.
 */
export function defineBackendConformanceSuite(
  name: string,
  setup: () => Promise<ConformanceHarness>,
  options: ConformanceOptions = {},
): void {
  const timeout = options.timeoutMs ?? 60_000;
  const unit = options.unit ?? 1_000_000n;
  const reportsRemovals = options.reportsRemovals ?? true;

  describe(`CoinBackend conformance: ${name}`, () => {
    let harness: ConformanceHarness | undefined;
    /** The current harness; a getter so tests fail clearly if setup failed. */
    const h = (): ConformanceHarness => {
      if (!harness) throw new Error('conformance harness was not set up');
      return harness;
    };

    beforeEach(async () => {
      harness = await setup();
    }, timeout);

    afterEach(async () => {
      const current = harness;
      harness = undefined;
      await current?.teardown();
    }, timeout);

    /** Every page of listReceived from the start, with the number of pages. */
    async function scanReceived(pageSize: number): Promise<{ transactions: NetworkTransactionInfo[]; pages: number }> {
      const transactions: NetworkTransactionInfo[] = [];
      let next: string | null = null;
      let pages = 0;
      do {
        const page = await h().backend.listReceived(next, pageSize);
        expect(page.transactions.length).toBeLessThanOrEqual(pageSize);
        transactions.push(...page.transactions);
        next = page.next;
        pages++;
        // A backend that never ends its scan would otherwise hang the test until the timeout.
        expect(pages).toBeLessThan(10_000);
      } while (next !== null);
      return { transactions, pages };
    }

    /** The error a promise rejects with; fails the test if it resolves. */
    async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
      return promise.then(
        (value) => {
          throw new Error(`expected a rejection, got ${String(value)}`);
        },
        (error: unknown) => error,
      );
    }

    /** The transaction with `txid` in a reading, or undefined. */
    function find(transactions: readonly NetworkTransactionInfo[], txid: string): NetworkTransactionInfo | undefined {
      return transactions.find((tx) => tx.txid === txid);
    }

    function expectTip(tip: ChainTip): void {
      expect(tip.hash).toMatch(TXID_PATTERN);
      expect(Number.isSafeInteger(tip.height) && tip.height >= 0, `height ${tip.height}`).toBe(true);
    }

    it(
      'creates distinct addresses that are valid for the network',
      async () => {
        const { backend, network } = h();
        const addresses = [
          await backend.createAddress('conf-a'),
          await backend.createAddress('conf-b'),
          await backend.createAddress('conf-c'),
        ];
        for (const address of addresses) {
          const check = validateAddress(address, network);
          expect(check, `${address} on ${network.name}`).toMatchObject({ ok: true, address });
        }
        expect(new Set(addresses).size).toBe(3);
      },
      timeout,
    );

    it(
      'reports a payment at 0 confirmations and counts confirmations as blocks are mined',
      async () => {
        const { backend } = h();
        const address = await backend.createAddress('conf-deposit');
        const txid = await h().pay(address, 3n * unit);
        expect(txid).toMatch(TXID_PATTERN);

        const pending = await backend.getTransaction(txid);
        expect(pending.txid).toBe(txid);
        expect(pending.confirmations).toBe(0);
        expect(pending.blockHash).toBeUndefined();
        expect(pending.received).toHaveLength(1);
        expect(pending.received[0]).toMatchObject({ address, amount: 3n * unit });
        const vout = pending.received[0]?.vout;
        expect(Number.isInteger(vout) && (vout ?? -1) >= 0, `vout ${vout}`).toBe(true);
        expect(pending.sent).toEqual([]);
        expect(pending.fee).toBe(0n);

        await h().mine(1);
        const mined = await backend.getTransaction(txid);
        expect(mined.confirmations).toBe(1);
        expect(mined.blockHash).toMatch(TXID_PATTERN);
        expect(Number.isInteger(mined.blockHeight)).toBe(true);
        expect(mined.received).toEqual(pending.received);

        await h().mine(2);
        const deeper = await backend.getTransaction(txid);
        expect(deeper.confirmations).toBe(3);
        expect(deeper.blockHash).toBe(mined.blockHash);
        expect(deeper.blockHeight).toBe(mined.blockHeight);
      },
      timeout,
    );

    it(
      'reports both outputs of one transaction paying two of its addresses',
      async () => {
        const { backend } = h();
        const first = await backend.createAddress('conf-two-1');
        const second = await backend.createAddress('conf-two-2');
        const outputs = [
          { address: first, amount: 4n * unit },
          { address: second, amount: 5n * unit },
        ];
        let txid: string;
        if (h().payMany) {
          txid = await h().payMany!(outputs);
        } else {
          await h().fund(20n * unit);
          txid = (await backend.sendMany(outputs, { comment: 'conformance two outputs' })).txid;
        }
        const info = await backend.getTransaction(txid);
        const received = [...info.received].sort((a, b) => Number(a.amount - b.amount));
        expect(received).toHaveLength(2);
        expect(received[0]).toMatchObject({ address: first, amount: 4n * unit });
        expect(received[1]).toMatchObject({ address: second, amount: 5n * unit });
        expect(received[0]?.vout).not.toBe(received[1]?.vout);
      },
      timeout,
    );

    it(
      'pages through every received transaction, oldest first, without skips or repeats',
      async () => {
        const { backend } = h();
        const paid: { txid: string; address: string; amount: bigint }[] = [];
        for (let i = 1; i <= 5; i++) {
          const address = await backend.createAddress(`conf-page-${i}`);
          const amount = BigInt(i) * unit;
          paid.push({ txid: await h().pay(address, amount), address, amount });
          // One block per payment makes "oldest first" unambiguous on any backend.
          await h().mine(1);
        }

        const full = await scanReceived(2);
        const txids = full.transactions.map((tx) => tx.txid);
        expect(new Set(txids).size, 'no transaction repeated').toBe(txids.length);
        expect(full.pages).toBeGreaterThanOrEqual(3);
        const positions = paid.map((payment) => txids.indexOf(payment.txid));
        expect(
          positions.every((position) => position >= 0),
          `all 5 payments listed: ${positions.join(',')}`,
        ).toBe(true);
        expect([...positions].sort((a, b) => a - b)).toEqual(positions);
        for (const payment of paid) {
          const listed = full.transactions.find((tx) => tx.txid === payment.txid);
          expect(listed?.received).toEqual([expect.objectContaining({ address: payment.address, amount: payment.amount })]);
        }

        // A cursor is a resumable position: asking twice gives the same page.
        const firstPage = await backend.listReceived(null, 2);
        expect(firstPage.next).not.toBeNull();
        const again = await backend.listReceived(firstPage.next, 2);
        const twice = await backend.listReceived(firstPage.next, 2);
        expect(twice.transactions.map((tx) => tx.txid)).toEqual(again.transactions.map((tx) => tx.txid));

        // A payment arriving in the middle of a scan must not make the scan skip or repeat anything.
        const seen = firstPage.transactions.map((tx) => tx.txid);
        const lateAddress = await backend.createAddress('conf-page-late');
        const late = await h().pay(lateAddress, 7n * unit);
        await h().mine(1);
        let next: string | null = firstPage.next;
        while (next !== null) {
          const page = await backend.listReceived(next, 2);
          seen.push(...page.transactions.map((tx) => tx.txid));
          next = page.next;
          expect(seen.length).toBeLessThan(10_000);
        }
        expect(new Set(seen).size, 'no transaction repeated across the interrupted scan').toBe(seen.length);
        for (const payment of paid) expect(seen).toContain(payment.txid);

        const rescan = await scanReceived(2);
        expect(rescan.transactions.map((tx) => tx.txid)).toContain(late);
      },
      timeout,
    );

    it(
      'sends three outputs in one transaction with one positive fee and keeps the comment',
      async () => {
        const { backend } = h();
        await h().fund(20n * unit);
        const outputs = [
          { address: await h().externalAddress(), amount: 1n * unit },
          { address: await h().externalAddress(), amount: 2n * unit },
          { address: await h().externalAddress(), amount: 3n * unit },
        ];
        const comment = 'conformance batch 1';
        const result = await backend.sendMany(outputs, { comment });
        expect(result.txid).toMatch(TXID_PATTERN);
        expect(result.fee).toBeGreaterThan(0n);

        const info = await backend.getTransaction(result.txid);
        expect(info.txid).toBe(result.txid);
        expect(info.received).toEqual([]);
        expect(info.fee).toBe(result.fee);
        expect(info.sent).toHaveLength(3);
        const sent = [...info.sent].sort((a, b) => Number(a.amount - b.amount));
        sent.forEach((output, i) => expect(output).toMatchObject(outputs[i]!));
        expect(new Set(info.sent.map((output) => output.vout)).size).toBe(3);
        if (info.comment !== undefined) expect(info.comment).toBe(comment);
      },
      timeout,
    );

    it(
      'reports a send to its own address as both sent and received',
      async () => {
        const { backend } = h();
        await h().fund(20n * unit);
        const own = await backend.createAddress('conf-self');
        const before = await backend.getBalance(1);
        const result = await backend.sendMany([{ address: own, amount: 4n * unit }], { comment: 'conformance self' });
        const info = await backend.getTransaction(result.txid);
        expect(info.received).toEqual([expect.objectContaining({ address: own, amount: 4n * unit })]);
        expect(info.sent).toEqual([expect.objectContaining({ address: own, amount: 4n * unit })]);
        expect(info.sent[0]?.vout).toBe(info.received[0]?.vout);
        expect(info.fee).toBe(result.fee);

        await h().mine(1);
        expect(await backend.getBalance(1)).toBe(before - result.fee);
      },
      timeout,
    );

    it(
      'moves the balance by what is received, sent and paid in fees, the fee counted once',
      async () => {
        const { backend } = h();
        await h().fund(20n * unit);
        const start = await backend.getBalance(1);
        expect(start).toBeGreaterThanOrEqual(20n * unit);

        const address = await backend.createAddress('conf-balance');
        await h().pay(address, 5n * unit);
        expect(await backend.getBalance(1), 'unconfirmed receive not counted at minconf 1').toBe(start);
        await h().mine(1);
        const received = await backend.getBalance(1);
        expect(received).toBe(start + 5n * unit);

        const result = await backend.sendMany(
          [
            { address: await h().externalAddress(), amount: 1n * unit },
            { address: await h().externalAddress(), amount: 2n * unit },
            { address: await h().externalAddress(), amount: 3n * unit },
          ],
          { comment: 'conformance balance' },
        );
        await h().mine(1);
        expect(await backend.getBalance(1)).toBe(received - 6n * unit - result.fee);
        expect(await backend.getBalance(0)).toBe(received - 6n * unit - result.fee);
      },
      timeout,
    );

    it(
      'throws NotFound for an unknown txid and InvalidTxid for a malformed one',
      async () => {
        const { backend } = h();
        await expect(backend.getTransaction('0123456789abcdef'.repeat(4))).rejects.toBeInstanceOf(NotFound);
        for (const malformed of ['', 'not-a-txid', 'ab'.repeat(31), 'ab'.repeat(33), `${'ab'.repeat(31)}zz`]) {
          await expect(backend.getTransaction(malformed), JSON.stringify(malformed)).rejects.toBeInstanceOf(InvalidTxid);
        }
      },
      timeout,
    );

    it(
      'refuses a send beyond the balance with a retryable BackendError and sends nothing',
      async () => {
        const { backend } = h();
        await h().fund(10n * unit);
        const confirmed = await backend.getBalance(1);
        const all = await backend.getBalance(0);
        const attempt = backend.sendMany([{ address: await h().externalAddress(), amount: all + 100n * unit }], {
          comment: 'conformance too much',
        });
        const error: unknown = await attempt.then(
          () => undefined,
          (thrown: unknown) => thrown,
        );
        expect(error).toBeInstanceOf(BackendError);
        expect(error).toMatchObject({ retryable: true, code: 'insufficient_funds' });
        expect(await backend.getBalance(1)).toBe(confirmed);
        expect(await backend.getBalance(0)).toBe(all);
      },
      timeout,
    );
    it(
      'reports the chain tip, which moves with mining',
      async () => {
        const { backend } = h();
        const start = await backend.chainTip();
        expectTip(start);
        expect(await backend.chainTip(), 'nothing mined, same tip').toEqual(start);
        await h().mine(1);
        const one = await backend.chainTip();
        expectTip(one);
        expect(one.height).toBe(start.height + 1);
        expect(one.hash).not.toBe(start.hash);
        await h().mine(2);
        const three = await backend.chainTip();
        expect(three.height).toBe(start.height + 3);
        expect(new Set([start.hash, one.hash, three.hash]).size).toBe(3);
      },
      timeout,
    );

    it(
      'reads known and unknown txids in one reading, at the tip',
      async () => {
        const { backend } = h();
        const address = await backend.createAddress('conf-read');
        const mined = await h().pay(address, 2n * unit);
        await h().mine(2);
        const pending = await h().pay(address, 3n * unit);
        const unknown = '0123456789abcdef'.repeat(4);

        const before = await backend.chainTip();
        const reading = await backend.readTransactions([mined, unknown, pending]);
        const after = await backend.chainTip();
        expect(after, 'nothing mined during the reading').toEqual(before);
        expect(reading.tip).toEqual(before);
        expect(reading.unknown).toEqual([unknown]);
        expect(reading.transactions.map((tx) => tx.txid).sort()).toEqual([mined, pending].sort());
        expect(find(reading.transactions, mined)).toMatchObject({
          confirmations: 2,
          received: [expect.objectContaining({ address, amount: 2n * unit })],
        });
        expect(find(reading.transactions, mined)).toEqual(await backend.getTransaction(mined));
        expect(find(reading.transactions, pending)).toMatchObject({ confirmations: 0 });

        const empty = await backend.readTransactions([]);
        expect(empty).toEqual({ tip: before, transactions: [], unknown: [] });
      },
      timeout,
    );

    it(
      'refuses a malformed txid among good ones with InvalidTxid',
      async () => {
        const { backend } = h();
        const txid = await h().pay(await backend.createAddress('conf-read-bad'), 1n * unit);
        for (const malformed of ['', 'not-a-txid', 'ab'.repeat(31), 'ab'.repeat(33), `${'ab'.repeat(31)}zz`]) {
          const error = await rejectionOf(backend.readTransactions([txid, malformed]));
          expect(error, JSON.stringify(malformed)).toBeInstanceOf(InvalidTxid);
        }
      },
      timeout,
    );

    it(
      'lists every receive and send of the wallet in changesSince(null)',
      async () => {
        const { backend } = h();
        await h().fund(20n * unit);
        const paid: string[] = [];
        for (let i = 1; i <= 3; i++) {
          paid.push(await h().pay(await backend.createAddress(`conf-history-${i}`), BigInt(i) * unit));
          await h().mine(1);
        }
        const sent = await backend.sendMany([{ address: await h().externalAddress(), amount: 1n * unit }], {
          comment: 'conformance history',
        });
        const pending = await h().pay(await backend.createAddress('conf-history-pending'), 4n * unit);

        const changes = await backend.changesSince(null, 1);
        expect(changes.tip).toEqual(await backend.chainTip());
        expect(changes.removed).toEqual([]);
        for (const txid of [...paid, pending, sent.txid]) {
          expect(find(changes.transactions, txid), txid).toBeDefined();
        }
        expect(find(changes.transactions, paid[0]!)).toMatchObject({
          confirmations: 3,
          received: [expect.objectContaining({ amount: 1n * unit })],
        });
        expect(find(changes.transactions, pending)).toMatchObject({ confirmations: 0 });
        expect(find(changes.transactions, sent.txid)).toMatchObject({ confirmations: 0, fee: sent.fee });
        // The whole history, against the other way of reading it.
        const scanned = (await scanReceived(100)).transactions.map((tx) => tx.txid);
        const listed = new Set(changes.transactions.map((tx) => tx.txid));
        for (const txid of scanned) expect(listed.has(txid), `${txid} from listReceived`).toBe(true);
      },
      timeout,
    );

    it(
      'lists, after a cursor, new payments and what is within depth, not older settled ones',
      async () => {
        const { backend } = h();
        const address = await backend.createAddress('conf-since');
        const settled = await h().pay(address, 1n * unit);
        await h().mine(6);
        const recent = await h().pay(address, 2n * unit);
        await h().mine(2);
        const cursor = (await backend.changesSince(null, 3)).tip;
        expect(cursor).toEqual(await backend.chainTip());

        const quiet = await backend.changesSince(cursor, 3);
        expect(quiet.tip).toEqual(cursor);
        expect(find(quiet.transactions, settled), '8 confirmations is beyond depth 3').toBeUndefined();
        expect(find(quiet.transactions, recent)).toMatchObject({ confirmations: 2 });

        const arriving = await h().pay(await backend.createAddress('conf-since-new'), 3n * unit);
        const inMempool = await backend.changesSince(cursor, 3);
        expect(inMempool.tip).toEqual(cursor);
        expect(find(inMempool.transactions, arriving)).toMatchObject({
          confirmations: 0,
          received: [expect.objectContaining({ amount: 3n * unit })],
        });

        await h().mine(1);
        const mined = await backend.changesSince(cursor, 3);
        expect(mined.tip.height).toBe(cursor.height + 1);
        expect(mined.tip).toEqual(await backend.chainTip());
        expect(mined.removed).toEqual([]);
        expect(find(mined.transactions, arriving)).toMatchObject({ confirmations: 1 });
        expect(find(mined.transactions, recent), 'confirmations refreshed within depth').toMatchObject({ confirmations: 3 });
        expect(find(mined.transactions, settled)).toBeUndefined();

        // From the new tip, with depth 0, only what is newer than the tip is left: nothing.
        const fromTip = await backend.changesSince(mined.tip, 0);
        expect(fromTip.transactions.map((tx) => tx.txid)).not.toContain(arriving);
        expect(fromTip.transactions.map((tx) => tx.txid)).not.toContain(recent);
      },
      timeout,
    );

    it(
      'reads listReceived pages at a tip',
      async () => {
        const { backend } = h();
        await h().pay(await backend.createAddress('conf-page-tip'), 1n * unit);
        await h().mine(1);
        const page = await backend.listReceived(null, 10);
        expectTip(page.tip);
        expect(page.tip).toEqual(await backend.chainTip());
        await h().mine(1);
        expect((await backend.listReceived(null, 10)).tip.height).toBe(page.tip.height + 1);
      },
      timeout,
    );

    it(
      'refuses a send whose deadline has passed, sending nothing; sends before it',
      async () => {
        const { backend } = h();
        await h().fund(10n * unit);
        const confirmed = await backend.getBalance(1);
        const all = await backend.getBalance(0);
        const history = (await backend.changesSince(null, 1)).transactions.map((tx) => tx.txid).sort();
        const late = backend.sendMany([{ address: await h().externalAddress(), amount: 1n * unit }], {
          comment: 'conformance too late',
          notAfter: performance.now() - 1_000,
        });
        const error = await rejectionOf(late);
        expect(error).toBeInstanceOf(BackendError);
        expect(error).toMatchObject({ code: DEADLINE_PASSED, retryable: true });
        expect(await backend.getBalance(1)).toBe(confirmed);
        expect(await backend.getBalance(0)).toBe(all);
        expect((await backend.changesSince(null, 1)).transactions.map((tx) => tx.txid).sort()).toEqual(history);

        const inTime = await backend.sendMany([{ address: await h().externalAddress(), amount: 1n * unit }], {
          comment: 'conformance in time',
          notAfter: performance.now() + 60_000,
        });
        expect(await backend.getBalance(0)).toBe(all - 1n * unit - inTime.fee);
      },
      timeout,
    );

    it(
      'lists the transactions of blocks a reorganisation disconnected since the cursor',
      async (context) => {
        const reorg = h().reorg?.bind(h());
        if (!reorg) {
          context.skip();
          return;
        }
        const { backend } = h();
        const address = await backend.createAddress('conf-reorg');
        const settled = await h().pay(address, 1n * unit);
        await h().mine(3);
        const lower = await h().pay(address, 2n * unit);
        await h().mine(1);
        const upper = await h().pay(address, 3n * unit);
        await h().mine(1);
        const cursor = await backend.chainTip();

        await reorg(2);
        const tip = await backend.chainTip();
        expect(tip.height).toBe(cursor.height + 1);
        const changes = await backend.changesSince(cursor, 0);
        expect(changes.tip).toEqual(tip);
        expect(find(changes.transactions, lower)).toMatchObject({ confirmations: 0 });
        expect(find(changes.transactions, upper)).toMatchObject({ confirmations: 0 });
        expect(find(changes.transactions, lower)?.blockHash).toBeUndefined();
        expect(find(changes.transactions, settled), 'below the fork point').toBeUndefined();
        if (reportsRemovals) {
          expect([...changes.removed].sort()).toEqual([lower, upper].sort());
        }
        expect(changes.removed).not.toContain(settled);
      },
      timeout,
    );
  });
}
