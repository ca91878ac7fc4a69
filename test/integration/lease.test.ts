/**
 * The fenced service lease on both engines: the database's clock decides, generations grow at
 * every change of holder, every fenced write of an older generation is refused, and a dead
 * holder is taken over early only when it provably ran on this very machine.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaseLost } from '../../src/domain/errors.js';
import { fencedDatabase } from '../../src/store/fenced-database.js';
import { sequenceEvents } from '../../src/events/event-store.js';
import { acquireLease, checkLease, holderProcessIsGone, instanceId, readLease, releaseLease } from '../../src/service/lease.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { openTestLedger, type TestLedger } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const NAME = 'helper-service';

describe.each(engines)('service lease on %s', (engine) => {
  let ledger: TestLedger;

  beforeEach(async () => {
    ledger = await openTestLedger(engine);
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await ledger.finish();
  });

  it('keeps its generation on renewal and increments it at every change of holder', async () => {
    const db = ledger.app.database;
    const first = await acquireLease(db, NAME, 'a', 60_000);
    expect('held' in first && first.held.generation).toBe(1);
    const renewed = await acquireLease(db, NAME, 'a', 60_000);
    expect('held' in renewed && renewed.held.generation).toBe(1);
    const refused = await acquireLease(db, NAME, 'b', 60_000);
    expect('other' in refused && refused.other).toMatchObject({ holder: 'a', generation: 1 });
    await releaseLease(db, NAME, 'a');
    const taken = await acquireLease(db, NAME, 'b', 60_000);
    expect('held' in taken && taken.held.generation).toBe(2);
    expect('held' in taken && taken.held.previousExpiredAtMs).not.toBeNull();
  });

  // SQLite's clock is the one machine's that holds the file; machines with different clocks meet
  // only on PostgreSQL.
  it.runIf(engine === 'postgres')('decides by the database clock: a machine whose clock runs ahead cannot take a live lease', async () => {
    const db = ledger.app.database;
    await acquireLease(db, NAME, 'a', 3_000);
    // This process's clock now runs 4 s ahead of the database's (and of the holder's).
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 4_000);
    const outcome = await acquireLease(db, NAME, 'b', 3_000);
    expect('other' in outcome && outcome.other.holder).toBe('a');
  });

  it('re-takes its own expired lease under a new generation, fencing off the old one', async () => {
    const db = ledger.app.database;
    await acquireLease(db, NAME, 'a', 50);
    await new Promise((resolve) => setTimeout(resolve, 120));
    const again = await acquireLease(db, NAME, 'a', 60_000);
    expect('held' in again && again.held.generation).toBe(2);
    await expect(db.transaction('write', (tx) => checkLease(tx, db.engine, NAME, 'a', 1))).rejects.toBeInstanceOf(LeaseLost);
    await db.transaction('write', (tx) => checkLease(tx, db.engine, NAME, 'a', 2));
  });

  it('refuses every fenced write of a generation that lost the lease, and writes nothing', async () => {
    const db = ledger.app.database;
    await acquireLease(db, NAME, 'a', 60_000);
    const fenceOfA = (generation: number) => (tx: Parameters<typeof checkLease>[0]) => checkLease(tx, db.engine, NAME, 'a', generation);
    const btc = ledger.app.coin('btc').fenced({ generation: 1, check: fenceOfA(1), sendDeadline: () => Infinity, now: () => 0 });
    await btc.transaction((book) => book.getOrCreateWallet('main'));
    // B takes over (A's lease expired while it was paused).
    await releaseLease(db, NAME, 'a');
    await acquireLease(db, NAME, 'b', 60_000);
    const write = btc.transaction(async (book) => (await book.wallet('main')).createAccount('late'));
    await expect(write).rejects.toBeInstanceOf(LeaseLost);
    const accounts = await ledger.app.coin('btc').read(async (book) => (await book.wallet('main')).listAccounts());
    expect(accounts.map((a) => a.name)).not.toContain('late');
    // The event sequencer is fenced the same way.
    await expect(sequenceEvents(fencedDatabase(db, fenceOfA(1)))).rejects.toBeInstanceOf(LeaseLost);
    expect((await readLease(db, NAME))?.generation).toBe(2);
  });
});

describe('early takeover of a dead holder', () => {
  const host = hostname();
  const ours = instanceId(host, 'abcdef');
  const [, , , namespace, boot] = ours.split(':');

  it('identifies a holder by host, pid, nonce, pid namespace and boot id', () => {
    expect(ours.split(':')).toHaveLength(5);
    expect(namespace).toBe(/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1]);
    expect(boot).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replaceAll('-', ''));
  });

  it('takes over early only from a gone process of this very boot of this machine', () => {
    const gonePid = 4_194_303; // above any pid this machine has handed out in a test run
    expect(holderProcessIsGone(`${host}:${gonePid}:x:${namespace}:${boot}`, host)).toBe(true);
    // Another machine with the same host name (another boot id): wait for expiry.
    expect(holderProcessIsGone(`${host}:${gonePid}:x:${namespace}:${'0'.repeat(32)}`, host)).toBe(false);
    // Another container on this machine (another pid namespace): wait for expiry.
    expect(holderProcessIsGone(`${host}:${gonePid}:x:1:${boot}`, host)).toBe(false);
    // A live process (ours), or a holder id of the old four-part format: wait for expiry.
    expect(holderProcessIsGone(`${host}:${process.pid}:x:${namespace}:${boot}`, host)).toBe(false);
    expect(holderProcessIsGone(`${host}:${gonePid}:x:${namespace}`, host)).toBe(false);
  });
});
