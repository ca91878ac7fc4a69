/**
 * What `createReceivingAddress` costs the database, counted at the drivers, and every way it is
 * refused, on both engines (and on PostgreSQL under a lease fence): a refusal writes nothing,
 * throws the same typed error as ever, and never calls the backend when the wallet, the account
 * or a requested label is wrong.
 */
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeAddress } from '../../src/domain/address.js';
import { BTC } from '../../src/domain/coins.js';
import { AlreadyExists, InvalidAddress, InvalidName, InvalidState, LeaseLost, NotFound } from '../../src/domain/errors.js';
import type { CoinLedger } from '../../src/ledger/coin-ledger.js';
import type { WriteFence } from '../../src/ledger/context.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { fundAccount, openTestLedger, rowCounts, type TestLedger } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const EXTERNAL = encodeAddress('p2wpkh', new Uint8Array(20).fill(9), BTC.networks.regtest!);
const CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|START\s+TRANSACTION|SET)\b/i;

/** What the drivers were asked to run: every call (round trips on PostgreSQL) and the statements among them. */
interface Cost {
  calls: number;
  statements: number;
  transactions: number;
}

type Methods = Record<string, (...args: unknown[]) => unknown>;

function textOf(argument: unknown): string {
  if (typeof argument === 'string') return argument;
  const text = (argument as { text?: unknown } | null)?.text;
  return typeof text === 'string' ? text : '';
}

/**
 * Run `step` with the engine's driver spied on (nothing else may use the database meanwhile):
 * on PostgreSQL every `pg.Client#query` is one round trip; on SQLite every execution of a prepared
 * statement is one statement, and transaction control goes through `exec`.
 */
async function counted<T>(engine: string, step: () => Promise<T>): Promise<{ cost: Cost; outcome: PromiseSettledResult<T> }> {
  const texts: (() => string[])[] = [];
  const spies: { mockRestore(): void }[] = [];
  if (engine === 'postgres') {
    const query = vi.spyOn(pg.Client.prototype as unknown as Methods, 'query');
    spies.push(query);
    texts.push(() => query.mock.calls.map((args) => textOf(args[0])));
  } else {
    const db = new BetterSqlite3(':memory:');
    const statement = Object.getPrototypeOf(db.prepare('SELECT 1')) as Methods;
    db.close();
    for (const name of ['run', 'get', 'all', 'iterate']) {
      const spy = vi.spyOn(statement, name);
      spies.push(spy);
      texts.push(() => spy.mock.contexts.map((self) => (self as { source?: string }).source ?? ''));
    }
    const exec = vi.spyOn(BetterSqlite3.prototype as unknown as Methods, 'exec');
    spies.push(exec);
    texts.push(() => exec.mock.calls.map((args) => textOf(args[0])));
  }
  try {
    const [outcome] = await Promise.allSettled([step()]);
    const sent = texts.flatMap((read) => read());
    const cost: Cost = {
      calls: sent.length,
      statements: sent.filter((sql) => !CONTROL.test(sql)).length,
      transactions: sent.filter((sql) => /^\s*BEGIN\b/i.test(sql)).length,
    };
    return { cost, outcome: outcome! };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

/** A fence that holds, and runs one statement in every write transaction as the real one does. */
function holdingFence(): WriteFence & { checks: number } {
  return {
    generation: 3,
    checks: 0,
    async check(tx) {
      this.checks++;
      await tx.get('SELECT 1 AS one');
    },
    sendDeadline: () => Number.POSITIVE_INFINITY,
    now: () => 0,
  };
}

const variants = engines.flatMap((engine) => [{ engine, fenced: false }, ...(engine === 'postgres' ? [{ engine, fenced: true }] : [])]);

describe.each(variants)('createReceivingAddress on $engine (fenced: $fenced)', ({ engine, fenced }) => {
  let ledger: TestLedger;
  let btc: CoinLedger;
  let fence: ReturnType<typeof holdingFence>;
  let alice: number;
  let bob: number;
  beforeEach(async () => {
    ledger = await openTestLedger(engine);
    fence = holdingFence();
    const plain = ledger.app.coin('btc');
    btc = fenced ? plain.fenced(fence) : plain;
    alice = (await plain.transaction(async (book) => (await book.getOrCreateWallet('main')).createAccount('alice'))).id;
    bob = (await plain.transaction(async (book) => (await book.getOrCreateWallet('other')).createAccount('bob'))).id;
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await ledger.finish();
  });

  /** The backend's createAddress, spied on (and, with `returns`, answering that address once). */
  const spyBackend = (returns?: string) => {
    const spy = vi.spyOn(ledger.backend, 'createAddress');
    if (returns !== undefined) spy.mockResolvedValueOnce(returns);
    return spy;
  };

  /** Expect `step` to fail with exactly `error` (class and message) and to write nothing. */
  const expectRefused = async (step: () => Promise<unknown>, error: Error) => {
    const before = await rowCounts(ledger.app);
    const { outcome } = await counted(engine, step);
    expect(outcome.status).toBe('rejected');
    const reason = (outcome as PromiseRejectedResult).reason as Error;
    expect(reason).toBeInstanceOf(error.constructor);
    expect(reason.message).toBe(error.message);
    expect(await rowCounts(ledger.app)).toEqual(before);
  };

  it('costs two statements (one each side of the backend call); on PostgreSQL without a fence, two round trips', async () => {
    for (const [account, options] of [
      [alice, {}],
      ['alice', {}],
      [{ id: alice }, { label: 'named' }],
      ['alice', { label: 'by name' }],
    ] as const) {
      const { cost, outcome } = await counted(engine, () => btc.createReceivingAddress('main', account, options));
      expect(outcome.status).toBe('fulfilled');
      if (engine === 'postgres' && !fenced) expect(cost).toEqual({ calls: 2, statements: 2, transactions: 0 });
      else if (engine === 'postgres') {
        // The look-up outside a transaction; BEGIN, the fence, the insert, COMMIT.
        expect(cost).toEqual({ calls: 5, statements: 3, transactions: 1 });
      } else {
        // A read transaction with the look-up, a write transaction with the insert.
        expect(cost).toEqual({ calls: 6, statements: 2, transactions: 2 });
      }
    }
    expect(fence.checks).toBe(fenced ? 4 : 0);
  });

  it('returns the address as recorded, with the requested or an automatic label', async () => {
    const backend = spyBackend();
    const named = await btc.createReceivingAddress('main', 'alice', { label: 'first' });
    const automatic = await btc.createReceivingAddress('main', alice);
    const listed = await btc.read(async (book) => (await book.wallet('main')).listReceivingAddresses());
    expect(listed).toEqual([named, automatic]);
    const wallet = await btc.read(async (book) => (await book.wallet('main')).wallet);
    expect(named).toMatchObject({ walletId: wallet.id, accountId: alice, label: 'first', archivedAt: null });
    expect(named.createdAt).toBeInstanceOf(Date);
    expect(automatic.label).toMatch(new RegExp(`^account-${alice}-[0-9a-z]+-[0-9a-z]{6}$`));
    // The backend made each address under the label the ledger recorded.
    expect(backend.mock.calls).toEqual([['first'], [automatic.label]]);
    expect(await Promise.all(backend.mock.results.map((result) => result.value as Promise<string>))).toEqual([
      named.address,
      automatic.address,
    ]);
  });

  it('refuses an unknown wallet, an unknown account, or an account of another wallet, without calling the backend', async () => {
    const backend = spyBackend();
    await expectRefused(() => btc.createReceivingAddress('nowhere', 'alice'), new NotFound('wallet', 'nowhere'));
    await expectRefused(() => btc.createReceivingAddress('nowhere', alice, { label: 'x' }), new NotFound('wallet', 'nowhere'));
    // An invalid account name is still reported after an unknown wallet, as before.
    await expectRefused(() => btc.createReceivingAddress('nowhere', ''), new NotFound('wallet', 'nowhere'));
    await expectRefused(() => btc.createReceivingAddress('main', ''), new InvalidName('account name', 'must not be empty'));
    await expectRefused(() => btc.createReceivingAddress('', 'alice'), new InvalidName('wallet name', 'must not be empty'));
    await expectRefused(() => btc.createReceivingAddress('main', 'carol'), new NotFound('account', 'carol'));
    await expectRefused(() => btc.createReceivingAddress('main', 'bob'), new NotFound('account', 'bob'));
    await expectRefused(() => btc.createReceivingAddress('main', bob), new NotFound('account', bob));
    await expectRefused(() => btc.createReceivingAddress('main', { id: bob }, { label: 'x' }), new NotFound('account', bob));
    await expectRefused(() => btc.createReceivingAddress('main', 987_654), new NotFound('account', 987_654));
    expect(backend).not.toHaveBeenCalled();
  });

  it('refuses a label the wallet already uses, in one look-up and without calling the backend', async () => {
    await btc.createReceivingAddress('main', alice, { label: 'mine' });
    // Another wallet may use the same label.
    await btc.createReceivingAddress('other', bob, { label: 'mine' });
    const backend = spyBackend();
    await expectRefused(() => btc.createReceivingAddress('main', 'alice', { label: 'mine' }), new AlreadyExists('address label', 'mine'));
    const { cost } = await counted(engine, () => btc.createReceivingAddress('main', alice, { label: 'mine' }).catch(() => undefined));
    expect(cost.statements).toBe(1);
    expect(backend).not.toHaveBeenCalled();
  });

  it('refuses an address that is already a receiving address of another wallet, or of this one', async () => {
    const theirs = await btc.createReceivingAddress('other', bob);
    spyBackend(theirs.address);
    await expectRefused(() => btc.createReceivingAddress('main', alice, { label: 'new' }), new AlreadyExists('address', theirs.address));
    // The backend's answer is taken in canonical form.
    spyBackend(theirs.address.toUpperCase());
    await expectRefused(() => btc.createReceivingAddress('main', alice), new AlreadyExists('address', theirs.address));
    const ours = await btc.createReceivingAddress('main', alice);
    spyBackend(ours.address);
    await expectRefused(() => btc.createReceivingAddress('main', alice, { label: 'again' }), new AlreadyExists('address', ours.address));
  });

  it('refuses an address known as an external withdrawal destination', async () => {
    await fundAccount(ledger, 'main', 'alice', 50_000n);
    await ledger.app.coin('btc').withdraw('main', 'alice', EXTERNAL, 10_000n);
    spyBackend(EXTERNAL);
    await expectRefused(() => btc.createReceivingAddress('main', alice), new AlreadyExists('address', EXTERNAL));
  });

  it('refuses an address the backend answers that is not one of the network', async () => {
    spyBackend('not-an-address');
    const before = await rowCounts(ledger.app);
    await expect(btc.createReceivingAddress('main', alice)).rejects.toBeInstanceOf(InvalidAddress);
    expect(await rowCounts(ledger.app)).toEqual(before);
  });

  it('lets exactly one of two racing creations of the same label win', async () => {
    const create = ledger.backend.createAddress.bind(ledger.backend);
    let arrived = 0;
    let release!: () => void;
    const bothArrived = new Promise<void>((resolve) => (release = resolve));
    // Both calls pass the look-up before either records: they meet at the backend.
    vi.spyOn(ledger.backend, 'createAddress').mockImplementation(async (label) => {
      if (++arrived === 2) release();
      await bothArrived;
      return create(label);
    });
    const outcomes = await Promise.allSettled([
      btc.createReceivingAddress('main', alice, { label: 'race' }),
      btc.createReceivingAddress('main', 'alice', { label: 'race' }),
    ]);
    expect(arrived).toBe(2);
    const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const lost = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(AlreadyExists);
    expect((lost[0]!.reason as Error).message).toBe(new AlreadyExists('address label', 'race').message);
    const listed = await btc.read(async (book) => (await book.wallet('main')).listReceivingAddresses());
    expect(listed).toEqual([won[0]!.value]);
  });

  it('draws another automatic label when one is taken, a bounded number of times', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_700_000_000_000);
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const first = await btc.createReceivingAddress('main', alice);
    // The same draw again is taken: the next one is used, and the backend hears only that one.
    random.mockReturnValueOnce(0.5).mockReturnValue(0.25);
    const backend = spyBackend();
    const { cost, outcome } = await counted(engine, () => btc.createReceivingAddress('main', alice));
    expect(outcome.status).toBe('fulfilled');
    const second = (outcome as PromiseFulfilledResult<Awaited<ReturnType<CoinLedger['createReceivingAddress']>>>).value;
    expect(second.label).not.toBe(first.label);
    expect(second.label).toMatch(new RegExp(`^account-${alice}-`));
    expect(backend.mock.calls).toEqual([[second.label]]);
    expect(cost.statements).toBe(engine === 'postgres' && fenced ? 4 : 3);
    // Every draw taken: refused, and the backend not called.
    random.mockReturnValue(0.5);
    backend.mockClear();
    await expectRefused(
      () => btc.createReceivingAddress('main', alice),
      new InvalidState('no free automatic address label after 5 attempts'),
    );
    expect(backend).not.toHaveBeenCalled();
  });

  it('writes nothing when the lease is lost before the insert', async () => {
    if (!fenced) return;
    fence.check = async () => {
      throw new LeaseLost('generation 3 no longer holds the lease');
    };
    await expectRefused(() => btc.createReceivingAddress('main', alice), new LeaseLost('generation 3 no longer holds the lease'));
  });
});
