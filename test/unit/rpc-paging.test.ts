/**
 * The oldest-first scan over `listtransactions` (received-scan.ts), against a model of the node's
 * listing: entries in the order the wallet first saw each transaction, `skip` counted from the
 * newest, a transaction's entries adjacent, receives of double-spent transactions hidden.
 */
import { describe, expect, it } from 'vitest';
import {
  countEntries,
  decodeCursor,
  encodeCursor,
  scanStep,
  type ListedEntry,
  type Listing,
  type ScanPosition,
} from '../../src/backends/bitcoind/received-scan.js';
import { BackendError } from '../../src/domain/errors.js';

interface ModelTx {
  readonly txid: string;
  readonly categories: readonly string[];
  conflicted: boolean;
}

/** A wallet's listing as bitcoind builds it; `beforeCall` lets tests change it between calls. */
class ModelWallet implements Listing {
  readonly txs: ModelTx[] = [];
  calls = 0;
  beforeCall: (() => void) | undefined;
  private counter = 0;

  add(categories: readonly string[] = ['receive']): string {
    const txid = (++this.counter).toString(16).padStart(64, '0');
    this.txs.push({ txid, categories, conflicted: false });
    return txid;
  }

  entries(): ListedEntry[] {
    return this.txs.flatMap((tx) =>
      tx.categories.filter((category) => !(tx.conflicted && category === 'receive')).map((category) => ({ txid: tx.txid, category })),
    );
  }

  async windows(requests: readonly { count: number; skip: number }[]): Promise<ListedEntry[][]> {
    return requests.map(({ count, skip }) => {
      this.calls++;
      this.beforeCall?.();
      const all = this.entries();
      const end = Math.max(0, all.length - skip);
      return all.slice(Math.max(0, end - count), end);
    });
  }
}

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomCategories(next: () => number): string[] {
  const shapes = [['receive'], ['send'], ['send', 'send', 'send'], ['receive', 'receive'], ['send', 'receive'], ['generate']];
  return shapes[Math.floor(next() * shapes.length)]!;
}

/** Scan to the end; `between` runs between steps. Returns the txids in the order handed out. */
async function scan(wallet: ModelWallet, pageSize: number, between?: () => void): Promise<{ txids: string[]; steps: number }> {
  const txids: string[] = [];
  let position: ScanPosition | null = null;
  let steps = 0;
  do {
    const step = await scanStep(wallet, position, pageSize);
    expect(step.txids.length).toBeLessThanOrEqual(pageSize);
    txids.push(...step.txids);
    // Through the opaque text form, as callers use it.
    position = step.next === null ? null : decodeCursor(encodeCursor(step.next));
    steps++;
    expect(steps).toBeLessThan(10_000);
    between?.();
  } while (position !== null);
  return { txids, steps };
}

describe('received-scan', () => {
  it('counts the entries of any listing', async () => {
    for (const size of [0, 1, 2, 3, 7, 8, 9, 255, 256, 257, 1000, 4096, 5000]) {
      const wallet = new ModelWallet();
      for (let i = 0; i < size; i++) wallet.add(['send']);
      expect(await countEntries(wallet), String(size)).toBe(size);
    }
  });

  it('hands out every transaction once, oldest first, whatever the page size', async () => {
    const next = random(1);
    const wallet = new ModelWallet();
    for (let i = 0; i < 40; i++) wallet.add(randomCategories(next));
    const expected = wallet.txs.map((tx) => tx.txid);
    for (const pageSize of [1, 2, 3, 5, 8, 13, 100]) {
      const { txids, steps } = await scan(wallet, pageSize);
      expect(txids, `page size ${pageSize}`).toEqual(expected);
      expect(steps).toBeGreaterThanOrEqual(Math.ceil(wallet.entries().length / pageSize));
    }
  });

  it('hands out a transaction with more entries than a page once', async () => {
    const wallet = new ModelWallet();
    const first = wallet.add(['receive']);
    const big = wallet.add(Array.from({ length: 11 }, (_, i) => (i % 2 ? 'send' : 'receive')));
    const last = wallet.add(['receive']);
    for (const pageSize of [1, 2, 3, 4]) expect((await scan(wallet, pageSize)).txids).toEqual([first, big, last]);
  });

  it('ends at once on an empty wallet', async () => {
    expect(await scanStep(new ModelWallet(), null, 5)).toEqual({ txids: [], next: null });
  });

  it('neither skips nor repeats while transactions arrive between and during steps', async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const next = random(seed);
      const wallet = new ModelWallet();
      for (let i = 0; i < Math.floor(next() * 30); i++) wallet.add(randomCategories(next));
      const initial = wallet.txs.map((tx) => tx.txid);
      // A budget of arrivals, so that the scan can catch up with the newest entry and end.
      let budget = 40;
      const arrive = (): void => {
        if (budget-- > 0) wallet.add(randomCategories(next));
      };
      // Arrivals race with the scan's own calls, one in five calls, sometimes several at once.
      wallet.beforeCall = () => {
        if (next() < 0.2) for (let i = 0, n = 1 + Math.floor(next() * 3); i < n; i++) arrive();
      };
      const pageSize = 1 + Math.floor(next() * 6);
      const { txids } = await scan(wallet, pageSize, () => {
        if (next() < 0.5) arrive();
      });
      wallet.beforeCall = undefined;
      expect(new Set(txids).size, `seed ${seed}: no repeats`).toBe(txids.length);
      for (const txid of initial) expect(txids, `seed ${seed}: ${txid} listed`).toContain(txid);
      // Oldest first: the order handed out is the wallet's order.
      const order = new Map(wallet.txs.map((tx, index) => [tx.txid, index]));
      const positions = txids.map((txid) => order.get(txid)!);
      expect(
        [...positions].sort((a, b) => a - b),
        `seed ${seed}: order`,
      ).toEqual(positions);
    }
  });

  it('keeps a cursor resumable: the same cursor gives the same step', async () => {
    const wallet = new ModelWallet();
    for (let i = 0; i < 9; i++) wallet.add();
    const first = await scanStep(wallet, null, 2);
    const again = await scanStep(wallet, first.next, 2);
    const twice = await scanStep(wallet, first.next, 2);
    expect(twice).toEqual(again);
  });

  it('does not skip when a transaction ahead of the cursor is double-spent and its receives vanish', async () => {
    const wallet = new ModelWallet();
    for (let i = 0; i < 12; i++) wallet.add();
    const first = await scanStep(wallet, null, 3);
    wallet.txs[6]!.conflicted = true;
    const rest: string[] = [...first.txids];
    let position = first.next;
    while (position !== null) {
      const step = await scanStep(wallet, position, 3);
      rest.push(...step.txids);
      position = step.next;
    }
    expect(rest).toEqual(wallet.txs.filter((tx) => !tx.conflicted).map((tx) => tx.txid));
  });

  it('recovers when the head transaction vanished', async () => {
    const wallet = new ModelWallet();
    for (let i = 0; i < 10; i++) wallet.add();
    const first = await scanStep(wallet, null, 4);
    wallet.txs[9]!.conflicted = true; // the newest: the cursor's head
    wallet.add();
    const rest = [...first.txids];
    let position = first.next;
    while (position !== null) {
      const step = await scanStep(wallet, position, 4);
      rest.push(...step.txids);
      position = step.next;
    }
    expect(rest).toEqual(wallet.txs.filter((tx) => !tx.conflicted).map((tx) => tx.txid));
  });

  it('never skips when the anchor itself vanished (it may repeat up to one page)', async () => {
    const wallet = new ModelWallet();
    for (let i = 0; i < 15; i++) wallet.add();
    const first = await scanStep(wallet, null, 4);
    // The anchor (last handed out) and one older transaction lose to double spends.
    wallet.txs[3]!.conflicted = true;
    wallet.txs[1]!.conflicted = true;
    const seen = [...first.txids];
    let position = first.next;
    while (position !== null) {
      const step = await scanStep(wallet, position, 4);
      seen.push(...step.txids);
      position = step.next;
    }
    for (const tx of wallet.txs.slice(4)) expect(seen).toContain(tx.txid);
    expect(seen.length - new Set(seen).size).toBeLessThanOrEqual(4);
  });

  it('stays cheap on a normal resume: a few calls per step', async () => {
    const wallet = new ModelWallet();
    for (let i = 0; i < 200; i++) wallet.add();
    const first = await scanStep(wallet, null, 10);
    wallet.calls = 0;
    await scanStep(wallet, first.next, 10);
    expect(wallet.calls).toBeLessThanOrEqual(2);
  });

  it('refuses foreign cursors and bad page sizes', async () => {
    for (const bad of ['', 'memory:3', 'bitcoind1.', 'bitcoind1.!!!', `bitcoind1.${Buffer.from('[1,2,3,4]').toString('base64url')}`]) {
      expect(() => decodeCursor(bad), bad).toThrow(BackendError);
      try {
        decodeCursor(bad);
      } catch (error) {
        expect(error).toMatchObject({ code: 'invalid_cursor', retryable: false });
      }
    }
    const position = { r: 3, h: 'a'.repeat(64), a: 'b'.repeat(64), k: 9 };
    expect(decodeCursor(encodeCursor(position))).toEqual(position);
    await expect(scanStep(new ModelWallet(), null, 0)).rejects.toThrow(RangeError);
    await expect(scanStep(new ModelWallet(), null, 1.5)).rejects.toThrow(RangeError);
  });
});
