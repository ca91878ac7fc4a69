/**
 * The balance audit's accounting (`compareWithNode`), on figures made up to reach every branch,
 * including the states the in-memory chain tests do not produce (conflicted broadcasts).
 */
import { describe, expect, it } from 'vitest';
import { compareWithNode } from '../../src/ledger/node-audit.js';
import type { NodeBookFigures } from '../../src/ledger/node-figures.js';

/** Books where 1000 was credited and nothing else happened, with `changes` on top. */
function figures(changes: Partial<NodeBookFigures> = {}): NodeBookFigures {
  const base = {
    creditedDeposits: 1000n,
    imports: 0n,
    sentWithdrawals: 0n,
    conflictedWithdrawals: 0n,
    inDoubtWithdrawals: 0n,
    queuedWithdrawals: 0n,
    fees: 0n,
    conflictedFees: 0n,
    incomingDeposits: 0n,
    accountsTotal: 1000n,
    inDoubtBroadcasts: [],
    conflictedBroadcastCount: 0,
    conflictedBroadcastIds: [],
    ...changes,
  };
  const expected =
    base.creditedDeposits + base.imports - base.sentWithdrawals - base.conflictedWithdrawals - base.inDoubtWithdrawals - base.fees;
  return { ...base, expected };
}

describe('compareWithNode', () => {
  it('is ok with no explanation when the node holds exactly what the books expect', () => {
    const audit = compareWithNode('btc', figures(), 1000n);
    expect(audit).toMatchObject({ ok: true, difference: 0n, shortfall: 0n, unaccounted: 0n, explanations: [], problems: [] });
  });

  it('fails on any shortfall, even of one base unit, whatever the books could explain as an excess', () => {
    const audit = compareWithNode('btc', figures({ incomingDeposits: 500n, queuedWithdrawals: 100n }), 999n);
    expect(audit).toMatchObject({ ok: false, difference: -1n, shortfall: 1n, unaccounted: 0n });
    expect(audit.problems).toEqual(['btc: the node wallet holds 1 base units less than the ledger expects']);
    expect(audit.explanations.map((item) => item.kind)).toEqual(['queued_withdrawals', 'incoming_deposits', 'shortfall']);
    expect(audit.explanations.at(-1)!.text).not.toContain('broadcast in doubt');
  });

  it('counts conflicted broadcasts as sent and lets their withdrawals and fees explain an excess', () => {
    const books = figures({
      sentWithdrawals: 200n,
      conflictedWithdrawals: 300n,
      fees: 30n,
      conflictedFees: 20n,
      accountsTotal: 470n,
      conflictedBroadcastCount: 23,
      conflictedBroadcastIds: Array.from({ length: 20 }, (_, i) => i + 1),
    });
    expect(books.expected).toBe(470n);
    const back = compareWithNode('btc', books, 470n + 320n + 5n);
    expect(back).toMatchObject({ ok: true, difference: 325n, unaccounted: 5n });
    const conflicted = back.explanations.find((item) => item.kind === 'conflicted_broadcasts')!;
    expect(conflicted).toMatchObject({ amount: 320n, excessUpTo: 320n });
    expect(conflicted.text).toContain('1, 2, 3');
    expect(conflicted.text).toContain('20 and 3 more');
  });

  it('names every broadcast in doubt, and says a shortfall may be its unbooked fee', () => {
    const books = figures({
      inDoubtWithdrawals: 400n,
      accountsTotal: 600n,
      inDoubtBroadcasts: [
        { id: 7, wallet: 'main', state: 'vetting' },
        { id: 9, wallet: 'other', state: 'opened' },
      ],
    });
    const notLeft = compareWithNode('btc', books, 1000n);
    expect(notLeft).toMatchObject({ ok: true, difference: 400n, unaccounted: 0n });
    expect(notLeft.explanations[0]!.text).toContain('7 (main, vetting), 9 (other, opened)');
    const left = compareWithNode('btc', books, 590n);
    expect(left).toMatchObject({ ok: false, shortfall: 10n });
    expect(left.explanations.at(-1)!.text).toContain('unbooked fee of a broadcast in doubt');
  });

  it('reports an excess beyond every explanation as unaccounted, a failure only with unaccountedFails', () => {
    const books = figures({ incomingDeposits: 50n });
    expect(compareWithNode('ltc', books, 1070n)).toMatchObject({ ok: true, unaccounted: 20n, problems: [] });
    const strict = compareWithNode('ltc', books, 1070n, 1, { unaccountedFails: true });
    expect(strict).toMatchObject({ ok: false, unaccounted: 20n });
    expect(strict.problems).toEqual(['ltc: the node wallet holds 20 base units that the ledger does not account for']);
    expect(compareWithNode('ltc', books, 1050n, 1, { unaccountedFails: true })).toMatchObject({ ok: true, unaccounted: 0n });
  });
});
