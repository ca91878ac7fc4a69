/**
 * The dashboard's HTML, the readiness reasons and the log level choice, without a service: a
 * status snapshot in, what a person reads out.
 */
import { describe, expect, it } from 'vitest';
import { chooseLogLevel } from '../../src/cli/logger.js';
import type { HandlerStatus } from '../../src/events/dispatcher.js';
import { renderDashboard } from '../../src/service/dashboard.js';
import {
  durationText,
  readinessReasons,
  type CoinStatus,
  type ServiceStatus,
  type WalletStatus,
} from '../../src/service/helper-service.js';

const NOW = new Date('2026-01-02T12:00:00.000Z');
const TXID = 'ab'.repeat(32);

function wallet(overrides: Partial<WalletStatus> = {}): WalletStatus {
  return {
    wallet: 'main',
    queuedWithdrawals: 0,
    queuedBaseUnits: '0',
    oldestQueuedAgeSeconds: null,
    heldWithdrawals: 0,
    stuckWithdrawals: 0,
    pending: [],
    recentBroadcasts: [],
    recentDeposits: [],
    openBroadcasts: [],
    broadcastsToVet: [],
    refusedWithdrawals: [],
    refused: [],
    backoffUntil: null,
    conflictedBroadcasts: [],
    ...overrides,
  };
}

function coin(overrides: Partial<CoinStatus> = {}): CoinStatus {
  return {
    coin: 'ltc',
    network: 'regtest',
    backend: 'bitcoind',
    nodeReachable: true,
    blockHeight: 120,
    tipSeenAt: '2026-01-02T11:59:30.000Z',
    tipAgeSeconds: 30,
    lastNodeError: null,
    startupRescanDone: true,
    trackedTransactions: 1,
    listener: null,
    wallets: [wallet()],
    cursor: { hash: '00'.repeat(32), height: 120 },
    audit: {
      at: '2026-01-02T11:59:00.000Z',
      status: 'checked',
      ok: true,
      difference: '0',
      shortfall: '0',
      unaccounted: '0',
      problems: [],
      missedInRow: 0,
      unsettledInRow: 0,
      lastTriedAt: '2026-01-02T11:59:00.000Z',
    },
    ...overrides,
  };
}

const LEASE = { held: true, holder: 'host:1', expiresAt: '2026-01-02T12:01:00.000Z', generation: 3 };

function status(coins: CoinStatus[], handlers: HandlerStatus[] = [], state: ServiceStatus['state'] = 'running'): ServiceStatus {
  const reasons = readinessReasons(state, LEASE, coins, handlers, 3_600_000);
  return {
    state,
    readiness: { ready: reasons.length === 0, reasons },
    instance: 'host:1',
    startedAt: '2026-01-02T11:00:00.000Z',
    lease: LEASE,
    coins,
    events: { latestId: '7', handlers },
    tasks: [{ name: 'ltc:sync', runs: 3, failures: 0, consecutiveFailures: 0, lastRunAt: '2026-01-02T11:59:58.000Z', lastError: null }],
  };
}

describe('readiness', () => {
  it('is ready when running with a reachable node, a done first sync, a passing audit and nothing waiting', () => {
    expect(readinessReasons('running', LEASE, [coin()], [], 3_600_000)).toEqual([]);
  });

  it('names every reason, per coin and wallet', () => {
    const handler: HandlerStatus = {
      name: 'app',
      deliveredId: '3',
      behind: '4',
      attempts: 12,
      nextAttemptAt: null,
      lastError: 'HTTP 500',
      deadLetters: 2,
    };
    const reasons = readinessReasons(
      'running',
      LEASE,
      [
        coin({
          nodeReachable: false,
          lastNodeError: 'connect ECONNREFUSED 127.0.0.1:1',
          startupRescanDone: false,
          audit: {
            at: NOW.toISOString(),
            status: 'checked',
            ok: false,
            difference: '-5',
            shortfall: '5',
            unaccounted: '0',
            problems: ['the node holds 5 less'],
            missedInRow: 0,
            unsettledInRow: 0,
            lastTriedAt: NOW.toISOString(),
          },
          wallets: [
            wallet({
              queuedWithdrawals: 2,
              oldestQueuedAgeSeconds: 7300,
              pending: [
                {
                  id: 9,
                  amount: '0.1',
                  amountBaseUnits: '10000000',
                  address: 'x',
                  createdAt: NOW.toISOString(),
                  ageSeconds: 7300,
                  held: false,
                },
                {
                  id: 10,
                  amount: '0.1',
                  amountBaseUnits: '10000000',
                  address: 'x',
                  createdAt: NOW.toISOString(),
                  ageSeconds: 10,
                  held: false,
                },
              ],
              broadcastsToVet: [17],
              refusedWithdrawals: [42],
              conflictedBroadcasts: [5],
            }),
          ],
        }),
      ],
      [handler],
      3_600_000,
    );
    expect(reasons).toEqual([
      'ltc: the node is unreachable: connect ECONNREFUSED 127.0.0.1:1',
      'ltc: the first sync with the chain is not finished',
      'ltc: the balance audit failed (the node holds 5 less)',
      'ltc/main: broadcast 17 waits for a person (vetting)',
      'ltc/main: withdrawal 42 refused by the node, waits for a person',
      'ltc/main: broadcast 5 conflicted on the network',
      'ltc/main: 1 withdrawal queued for over 1 h (oldest 2 h 1 min)',
      'events: handler app has 2 dead letters',
    ]);
  });

  it('a withdrawal held by a frozen account is not stuck: it waits for a person on purpose', () => {
    const held = { id: 9, amount: '0.1', amountBaseUnits: '10000000', address: 'x', createdAt: NOW.toISOString(), ageSeconds: 7300 };
    const heldOnly = wallet({ queuedWithdrawals: 1, heldWithdrawals: 1, oldestQueuedAgeSeconds: null, pending: [{ ...held, held: true }] });
    expect(readinessReasons('running', LEASE, [coin({ wallets: [heldOnly] })], [], 3_600_000)).toEqual([]);
    const sendable = wallet({ queuedWithdrawals: 1, oldestQueuedAgeSeconds: 7300, pending: [{ ...held, held: false }] });
    expect(readinessReasons('running', LEASE, [coin({ wallets: [sendable] })], [], 3_600_000)).toEqual([
      'ltc/main: 1 withdrawal queued for over 1 h (oldest 2 h 1 min)',
    ]);
    const html = renderDashboard(status([coin({ wallets: [heldOnly] })]), { explorerUrl: null, now: NOW });
    expect(html).toContain('held: account frozen');
    expect(html).toContain('1 held by frozen accounts');
  });

  it('a task failing three rounds in a row makes it not ready, unless its node is already named as out', () => {
    const task = (name: string, consecutiveFailures: number) => ({
      name,
      runs: 9,
      failures: 9,
      consecutiveFailures,
      lastRunAt: NOW.toISOString(),
      lastError: 'SQLITE_FULL: database or disk is full',
    });
    expect(readinessReasons('running', LEASE, [coin()], [], 3_600_000, [task('ltc:sync', 2)])).toEqual([]);
    expect(readinessReasons('running', LEASE, [coin()], [], 3_600_000, [task('ltc:sync', 3)])).toEqual([
      'task ltc:sync failed 3 rounds in a row: SQLITE_FULL: database or disk is full',
    ]);
    const down = coin({ nodeReachable: false, lastNodeError: 'connect ECONNREFUSED' });
    expect(readinessReasons('running', LEASE, [down], [], 3_600_000, [task('ltc:sync', 30)])).toEqual([
      'ltc: the node is unreachable: connect ECONNREFUSED',
    ]);
  });

  it('an audit not taken leaves the last result standing; three not taken for moving books make it not ready', () => {
    const base = coin().audit!;
    const missed = (unsettledInRow: number, missedInRow = unsettledInRow) =>
      coin({ audit: { ...base, unsettledInRow, missedInRow, lastTriedAt: NOW.toISOString() } });
    expect(readinessReasons('running', LEASE, [missed(2)], [], 3_600_000)).toEqual([]);
    expect(readinessReasons('running', LEASE, [missed(0, 5)], [], 3_600_000)).toEqual([]); // node silent: said by the node reason
    expect(readinessReasons('running', LEASE, [missed(3)], [], 3_600_000)).toEqual([
      'ltc: the balance audit could not be taken 3 times in a row: the books kept changing while the node was read',
    ]);
    const html = renderDashboard(status([missed(2)]), { explorerUrl: null, now: NOW });
    expect(html).toContain('<span class="ok">ok</span>');
    expect(html).toContain('not taken since');
    const first = coin({
      audit: { ...base, status: 'unsettled', ok: false, difference: null, shortfall: null, unaccounted: null, unsettledInRow: 1 },
    });
    expect(renderDashboard(status([first]), { explorerUrl: null, now: NOW })).toContain('not taken yet');
  });

  it('a standby is not ready, and says who holds the lease', () => {
    expect(
      readinessReasons(
        'standby',
        { held: false, holder: 'other:2', expiresAt: null, generation: null },
        [coin({ nodeReachable: false })],
        [],
        1,
      ),
    ).toEqual(['standing by: the lease is held by other:2']);
  });

  it('writes durations for people', () => {
    expect([durationText(0), durationText(59.9), durationText(60), durationText(3600), durationText(3660), durationText(90_000)]).toEqual([
      '0 s',
      '59 s',
      '1 min',
      '1 h',
      '1 h 1 min',
      '1 d 1 h',
    ]);
  });
});

describe('the dashboard page', () => {
  it('reloads itself without a script, fits a phone, and says ready', () => {
    const html = renderDashboard(status([coin()]), { explorerUrl: null, now: NOW });
    expect(html).toContain('<meta http-equiv="refresh" content="5">');
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).not.toMatch(/<script|\son\w+=/i);
    expect(html).toContain('<h1 id="headline" class="ready">Ready');
    expect(html).toContain('<span class="ok">reachable</span>');
    expect(html).toContain('>30 s ago</time>');
  });

  it("shows a block.io WebSocket's state, the age of its last message and its reconnects", () => {
    const listener = {
      kind: 'blockio-websocket' as const,
      state: 'reconnecting' as const,
      listening: false,
      endpoint: 'wss://n.block.io/ network LTCTEST',
      received: 4,
      rejected: 0,
      handlerErrors: 0,
      lastNotificationAt: '2026-01-02T11:50:00.000Z',
      lastMessageAt: '2026-01-02T11:59:15.000Z',
      reconnects: 2,
      lastError: null,
    };
    const html = renderDashboard(status([coin({ listener })]), { explorerUrl: null, now: NOW });
    expect(html).toContain('blockio-websocket wss://n.block.io/ network LTCTEST: <span class="warn">reconnecting</span>, 4 received');
    expect(html).toMatch(/last message <time[^>]*>45 s ago<\/time>, 2 reconnects/);
  });

  it('lists pending withdrawals with amounts and ages, links txids to the explorer, escapes everything', () => {
    const html = renderDashboard(
      status([
        coin({
          wallets: [
            wallet({
              wallet: '<b>hot</b>',
              queuedWithdrawals: 1,
              queuedBaseUnits: '150000000',
              oldestQueuedAgeSeconds: 90,
              pending: [
                {
                  id: 4,
                  amount: '1.5',
                  amountBaseUnits: '150000000',
                  address: 'rltc1"><x>',
                  createdAt: '2026-01-02T11:58:30.000Z',
                  ageSeconds: 90,
                  held: false,
                },
              ],
              recentDeposits: [{ id: 2, state: 'credited', txid: TXID, amount: '2', address: 'a', at: '2026-01-02T11:50:00.000Z' }],
            }),
          ],
        }),
      ]),
      { explorerUrl: 'https://explorer.example/ltc/tx/{txid}?x=1&y=2', now: NOW },
    );
    expect(html).toContain('&lt;b&gt;hot&lt;/b&gt;');
    expect(html).not.toContain('<b>hot</b>');
    expect(html).toContain('rltc1&quot;&gt;&lt;x&gt;');
    expect(html).toContain('<td class="num">1.5</td>');
    expect(html).toContain('>1 min ago</time>');
    expect(html).toContain(`href="https://explorer.example/ltc/tx/${TXID}?x=1&amp;y=2"`);
  });

  it('says not ready with the reasons in the headline', () => {
    const html = renderDashboard(status([coin({ nodeReachable: false, lastNodeError: 'connect ECONNREFUSED' })]), {
      explorerUrl: null,
      now: NOW,
    });
    expect(html).toContain('<h1 id="headline" class="notready">Not ready');
    expect(html).toContain('<li>ltc: the node is unreachable: connect ECONNREFUSED</li>');
    expect(html).toContain('<title>NOT READY · cryptoassets</title>');
  });
});

describe('the log level', () => {
  it('is --log-level, else CRYPTOASSETS_LOG_LEVEL, else the configuration', () => {
    expect(chooseLogLevel('debug', { CRYPTOASSETS_LOG_LEVEL: 'warn' }, 'info')).toBe('debug');
    expect(chooseLogLevel(undefined, { CRYPTOASSETS_LOG_LEVEL: 'warn' }, 'info')).toBe('warn');
    expect(chooseLogLevel(undefined, { CRYPTOASSETS_LOG_LEVEL: '' }, 'error')).toBe('error');
    expect(() => chooseLogLevel('loud', {}, 'info')).toThrow("--log-level: 'loud' is not a log level");
    expect(() => chooseLogLevel(undefined, { CRYPTOASSETS_LOG_LEVEL: 'LOUD' }, 'info')).toThrow(
      "CRYPTOASSETS_LOG_LEVEL: 'LOUD' is not a log level",
    );
  });
});
