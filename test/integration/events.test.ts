/**
 * Events on both engines: written with their change or not at all, sequenced without gaps,
 * delivered in order at least once, retried, dead-lettered and redelivered; resent until the
 * application marks a deposit processed.
 */
import { createServer, type Server } from 'node:http';
import pg from 'pg';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventDispatcher } from '../../src/events/dispatcher.js';
import { sequenceEvents } from '../../src/events/event-store.js';
import { verifySignature, WebhookHandler } from '../../src/events/handlers/index.js';
import type { CryptoAssetsEvent, EventHandler } from '../../src/events/types.js';
import type { LedgerLog } from '../../src/ledger/coin-ledger.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { openTestLedger, randomTxid, type TestLedger } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const quiet: LedgerLog = { info() {}, warn() {}, error: (f, m) => process.env.DEBUG_EVENTS && console.error(m, f) };

/** An in-process handler that records what it got and fails on demand. */
class RecordingHandler implements EventHandler {
  readonly received: CryptoAssetsEvent[] = [];
  failuresLeft = 0;
  constructor(
    readonly name: string,
    readonly maxAttempts = 3,
  ) {}
  async deliver(event: CryptoAssetsEvent): Promise<void> {
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      throw new Error('application unavailable');
    }
    this.received.push(event);
  }
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(engines)('events on %s', (engine) => {
  let ledger: TestLedger;
  const dispatchers: EventDispatcher[] = [];

  beforeEach(async () => {
    ledger = await openTestLedger(engine);
  });
  afterEach(async () => {
    for (const dispatcher of dispatchers.splice(0)) await dispatcher.stop();
    await ledger.finish();
  });

  function dispatch(handlers: EventHandler[], retryBaseMs = 10): EventDispatcher {
    const dispatcher = new EventDispatcher(ledger.app.database, handlers, quiet, { pollMs: 20, retryBaseMs, retryMaxMs: 50 });
    dispatchers.push(dispatcher);
    dispatcher.start();
    return dispatcher;
  }

  async function depositLife(): Promise<{ txid: string; address: string }> {
    const btc = ledger.app.coin('btc');
    const alice = await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).createAccount('alice'));
    const { address } = await btc.createReceivingAddress('main', alice);
    const txid = randomTxid();
    for (const confirmations of [0, 0, 1, 3, 3, 4]) {
      await btc.transaction((book) => book.recordDeposit({ txid, confirmations, outputs: [{ address, amount: 120_000n }] }));
    }
    return { txid, address };
  }

  it("delivers every change of a deposit's life in order, with increasing ids and exact state", async () => {
    const { txid, address } = await depositLife();
    const handler = new RecordingHandler('app');
    dispatch([handler]);
    await until(() => handler.received.length === 4, 'four events');
    const events = handler.received;
    expect(events.map((e) => e.id)).toEqual(['1', '2', '3', '4']);
    expect(events.map((e) => [e.data.change, e.data.confirmations, e.data.credited])).toEqual([
      ['created', 0, false],
      ['confirmations', 1, false],
      ['credited', 3, true],
      ['confirmations', 4, true],
    ]);
    expect(events[2]!.data).toMatchObject({
      coin: 'btc',
      network: 'regtest',
      transactionType: 'deposit',
      txid,
      address,
      wallet: 'main',
      account: { name: 'alice' },
      amount: '120000',
      amountDecimal: '0.00120000',
      state: 'credited',
      confirmationThreshold: 3,
      reversed: false,
      conflicted: false,
      processed: false,
    });
    expect(events[2]!.data.creditedAt).toMatch(/Z$/);
    expect(events.every((e) => e.name === 'txupdate')).toBe(true);
  });

  it('reports a reversal and withdrawals from queue to broadcast', async () => {
    const btc = ledger.app.coin('btc');
    const { txid, address } = await depositLife();
    await btc.transaction((book) => book.recordDeposit({ txid, confirmations: -1, outputs: [{ address, amount: 120_000n }] }));
    await btc.transaction((book) => book.recordDeposit({ txid, confirmations: 5, outputs: [{ address, amount: 120_000n }] }));
    ledger.chain.fund(ledger.backend, 1_000_000n);
    await btc.transaction(async (book) => {
      const wallet = await book.wallet('main');
      await wallet.withdraw(await wallet.getAccount('alice'), ledger.chain.externalAddress(), 10_000n);
    });
    await btc.broadcastPending('main');
    const handler = new RecordingHandler('app');
    dispatch([handler]);
    await until(() => handler.received.length === 9, 'nine events');
    const tail = handler.received
      .slice(4)
      .map((e) => [e.data.transactionType, e.data.change, e.data.credited, e.data.reversed, e.data.conflicted]);
    expect(tail).toEqual([
      ['deposit', 'reversed', false, true, true],
      ['deposit', 'credited', true, false, false],
      ['broadcast', 'queued', false, false, false],
      ['broadcast', 'broadcasting', false, false, false],
      ['broadcast', 'broadcasted', false, false, false],
    ]);
    expect(handler.received[8]!.data.txid).toMatch(/^[0-9a-f]{64}$/);
  });

  it.runIf(engine === 'postgres')(
    'sequencing events does not make a concurrent ledger transaction abort (no predicate locks from the sequencer)',
    async () => {
      // The dangerous structure of PostgreSQL's serializable snapshot isolation, built by hand:
      // `writer` reads a row and writes an event; `other` then changes that row and commits; a
      // sequencer run reads the unsequenced events while `writer` is open. Had the sequencer run
      // SERIALIZABLE, its read (rw → writer) and writer's read (rw → other, committed first) would
      // make writer the pivot, and writer's commit would fail with 40001.
      const url = ledger.database.location;
      const setup = new pg.Client({ connectionString: url });
      const writer = new pg.Client({ connectionString: url });
      const other = new pg.Client({ connectionString: url });
      await Promise.all([setup.connect(), writer.connect(), other.connect()]);
      const insertEvent = `INSERT INTO cryptoassets_event (name, coin, transaction_type, transaction_id, payload, created_at)
        VALUES ('txupdate', 'btc', 'deposit', 1, '{}', now())`;
      try {
        await setup.query('CREATE TABLE probe (id int PRIMARY KEY, v int)');
        await setup.query('INSERT INTO probe VALUES (1, 0)');
        await setup.query(insertEvent); // committed and unsequenced: the sequencer has work to write
        await writer.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
        await writer.query('SELECT v FROM probe WHERE id = 1');
        await writer.query(insertEvent);
        await other.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
        await other.query('UPDATE probe SET v = 1 WHERE id = 1');
        await other.query('COMMIT');
        expect(await sequenceEvents(ledger.app.database)).toBe(1);
        await expect(writer.query('COMMIT')).resolves.toBeDefined();
        expect(await sequenceEvents(ledger.app.database)).toBe(1); // the writer's event, next in line
      } finally {
        await writer.query('ROLLBACK').catch(() => undefined);
        await setup.query('DROP TABLE IF EXISTS probe').catch(() => undefined);
        await Promise.all([setup.end(), writer.end(), other.end()]);
      }
    },
  );

  it('writes no event for a change that rolled back', async () => {
    const btc = ledger.app.coin('btc');
    const alice = await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).createAccount('alice'));
    const { address } = await btc.createReceivingAddress('main', alice);
    let runs = 0;
    await expect(
      ledger.app.transaction(async (tx) => {
        runs++;
        await tx.coin('btc').recordDeposit({ txid: randomTxid(), confirmations: 0, outputs: [{ address, amount: 5n }] });
        // A conflict on the first run (re-run, rolled back), an error on the second (rolled back).
        if (runs === 1) throw Object.assign(new Error('conflict'), { code: engine === 'postgres' ? '40001' : 'SQLITE_BUSY' });
        throw new Error('the application changed its mind');
      }),
    ).rejects.toThrow('changed its mind');
    expect(runs).toBe(2);
    await sequenceEvents(ledger.app.database);
    expect(await ledger.app.events.after(0n)).toEqual([]);
  });

  it('retries a failing handler in order, dead-letters after its attempts, and redelivers on request', async () => {
    await depositLife();
    const flaky = new RecordingHandler('flaky', 3);
    const steady = new RecordingHandler('steady');
    flaky.failuresLeft = 2; // event 1 fails twice, then succeeds on the third attempt
    dispatch([flaky, steady]);
    await until(() => flaky.received.length === 4 && steady.received.length === 4, 'all events to both');
    expect(flaky.received.map((e) => e.id)).toEqual(['1', '2', '3', '4']);

    // Now a new event fails every attempt: it goes to dead-letter and later ones still arrive.
    const btc = ledger.app.coin('btc');
    flaky.failuresLeft = 3;
    const alice = await btc.read(async (book) => (await book.wallet('main')).getAccount('alice'));
    const { address } = await btc.createReceivingAddress('main', alice);
    await btc.transaction((book) => book.recordDeposit({ txid: randomTxid(), confirmations: 0, outputs: [{ address, amount: 7n }] }));
    await btc.transaction((book) => book.recordDeposit({ txid: randomTxid(), confirmations: 0, outputs: [{ address, amount: 8n }] }));
    await until(() => flaky.received.length === 5, 'the event after the dead one');
    expect(flaky.received.at(-1)!.id).toBe('6');
    const dead = await ledger.app.events.deadLetters('flaky');
    expect(dead.map((d) => [d.eventId, d.attempts])).toEqual([['5', 3]]);
    expect(dead[0]!.lastError).toContain('application unavailable');
    expect(steady.received.map((e) => e.id)).toEqual(['1', '2', '3', '4', '5', '6']);

    expect(await ledger.app.events.redeliver('flaky')).toBe(1);
    await until(() => flaky.received.length === 6, 'the redelivery');
    expect(flaky.received.at(-1)!.id).toBe('5');
    await until(async () => (await ledger.app.events.deadLetters('flaky')).length === 0, 'the dead letter to go');
  });

  it('resumes from the stored cursor after a restart, delivering nothing twice when it was recorded', async () => {
    await depositLife();
    const first = new RecordingHandler('app');
    const dispatcher = dispatch([first]);
    await until(() => first.received.length === 4, 'first delivery');
    await dispatcher.stop();
    const btc = ledger.app.coin('btc');
    const alice = await btc.read(async (book) => (await book.wallet('main')).getAccount('alice'));
    const { address } = await btc.createReceivingAddress('main', alice);
    await btc.transaction((book) => book.recordDeposit({ txid: randomTxid(), confirmations: 0, outputs: [{ address, amount: 9n }] }));
    const second = new RecordingHandler('app');
    dispatch([second]);
    await until(() => second.received.length === 1, 'the new event');
    expect(second.received.map((e) => e.id)).toEqual(['5']);
  });

  it('resends a credited deposit until it is marked processed, without a storm', async () => {
    const btc = ledger.app.coin('btc');
    await depositLife();
    await sequenceEvents(ledger.app.database);
    // Quiet periods far longer than the gap between two calls, however slow the machine.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await btc.transaction((book) => book.resendUnprocessed(1_000))).toBe(1);
    expect(await btc.transaction((book) => book.resendUnprocessed(1_000))).toBe(0); // just resent: quiet again
    const deposit = await btc.read(async (book) => (await (await book.wallet('main')).deposits())[0]!);
    await btc.transaction(async (book) => (await book.wallet('main')).markProcessed(deposit.id));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await btc.transaction((book) => book.resendUnprocessed(1_000))).toBe(0);
    await sequenceEvents(ledger.app.database);
    const events = await ledger.app.events.after(0n);
    expect(events.map((e) => e.data.change)).toEqual(['created', 'confirmations', 'credited', 'confirmations', 'resent']);
  });

  describe('to a real HTTP receiver', () => {
    let server: Server;
    let url: string;
    let behaviour: 'ok' | 'down' | 'error' | 'hang' = 'ok';
    const bodies: { id: string; body: string; signature: string }[] = [];
    const attempts: string[] = [];

    beforeEach(async () => {
      bodies.length = 0;
      attempts.length = 0;
      behaviour = 'ok';
      server = createServer((request, response) => {
        let body = '';
        request.on('data', (chunk: Buffer) => (body += chunk.toString()));
        request.on('end', () => {
          const id = String(request.headers['cryptoassets-event-id']);
          attempts.push(`${behaviour}:${id}`);
          if (behaviour === 'down') return request.socket.destroy();
          if (behaviour === 'hang') return; // never answers
          if (behaviour === 'error') return response.writeHead(500).end('oops');
          bodies.push({ id, body, signature: String(request.headers['cryptoassets-signature']) });
          response.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
    });
    afterEach(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('gets every event, signed, in order, through outages, 500s and timeouts', async () => {
      await depositLife();
      const webhook = new WebhookHandler('app', { url, secret: 'shh', timeoutMs: 200, maxAttempts: 100 });
      behaviour = 'down';
      dispatch([webhook], 20);
      await until(() => attempts.length >= 2, 'attempts while down');
      behaviour = 'error';
      await until(() => attempts.filter((a) => a.startsWith('error')).length >= 2, 'attempts answered 500');
      behaviour = 'hang';
      await until(() => attempts.filter((a) => a.startsWith('hang')).length >= 1, 'an attempt that times out');
      behaviour = 'ok';
      await until(() => bodies.length === 4, 'all four events');
      expect(bodies.map((b) => b.id)).toEqual(['1', '2', '3', '4']);
      for (const { body, signature, id } of bodies) {
        expect(verifySignature('shh', body, signature)).toMatchObject({ ok: true });
        expect((JSON.parse(body) as CryptoAssetsEvent).id).toBe(id);
      }
      // Every failed attempt was at the first event: nothing was skipped while the receiver was away.
      expect(new Set(attempts.filter((a) => !a.startsWith('ok')).map((a) => a.split(':')[1]))).toEqual(new Set(['1']));
    });
  });
});
