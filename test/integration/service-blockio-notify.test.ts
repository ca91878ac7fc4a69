/**
 * The helper service with block.io notification channels, on the in-memory chain and both
 * engines: with a poll period of an hour, a deposit is recorded and credited through block.io's
 * notifications alone (the fake sender's webhook deliveries, or its WebSocket messages), while the
 * sync task has run only its start-up round. The webhook's notification is created at start and
 * deleted at stop through the API the service is given.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { BTC } from '../../src/domain/coins.js';
import { HelperService, type HelperServiceOptions } from '../../src/service/helper-service.js';
import { FakeBlockioSocketServer, FakeWebhookPoster, managedWebhookNotify } from '../fakes/blockio-notify/index.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { openTestLedger, type TestLedger } from '../helpers/ledger.js';
import { recordingLog, type RecordingLog } from '../helpers/recording-log.js';
import { eventually, freePort } from '../helpers/waiting.js';

const engines = await enginesUnderTest();
const KEY = 'blockio-key-s3cret';
const SECRET = '0123456789abcdef0123456789abcdef';
/** Derived by the configuration from the coin (btc) and its network (regtest, a test network). */
const NETWORK = 'BTCTEST';

function serviceConfig(walletnotify: Record<string, unknown>): Config {
  return parseConfig(
    {
      database: { url: 'sqlite::memory:' },
      coins: { btc: { network: 'regtest', backend: { type: 'memory' }, walletnotify } },
      status_server: { enabled: false },
      // An hour: within a test, only the start-up sync runs; everything later comes by notification.
      service: { broadcast_period: 3600, poll_period: 3600, log_level: 'silent' },
    },
    { BLOCKIO_KEY: KEY, BLOCKIO_SECRET: SECRET },
  );
}

describe.each(engines)('helper service with block.io notifications on %s (in-memory chain)', (engine) => {
  let ledger: TestLedger;
  let log: RecordingLog;
  const services: HelperService[] = [];
  const servers: FakeBlockioSocketServer[] = [];

  beforeEach(async () => {
    log = recordingLog();
    ledger = await openTestLedger(engine, BTC, { log });
  });
  afterEach(async () => {
    for (const service of services.splice(0)) await service.stop();
    for (const server of servers.splice(0)) await server.stop();
    await ledger.finish();
  });

  async function runningService(config: Config, options: HelperServiceOptions = {}): Promise<HelperService> {
    const service = new HelperService(ledger.app, config, log, { leaseTtlMs: 2_000, ...options });
    services.push(service);
    await service.start();
    await eventually(async () => (await service.status()).coins[0]!.startupRescanDone, 'the start-up sync');
    return service;
  }

  async function syncRuns(service: HelperService): Promise<number> {
    return (await service.status()).tasks.find((task) => task.name === 'btc:sync')!.runs;
  }

  /**
   * Pay alice, let `notify` tell the service (unconfirmed, then at the threshold), and show the
   * deposit recorded and then credited with the sync task still at its start-up round.
   */
  async function depositByNotification(service: HelperService, notify: (txid: string, confirmations: number) => Promise<void>) {
    const btc = ledger.app.coin('btc');
    const alice = await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).createAccount('alice'));
    const address = await btc.createReceivingAddress('main', alice);
    const runsBefore = await syncRuns(service);

    const txid = ledger.chain.pay(address.address, 70_000n);
    await notify(txid, 0);
    const incoming = await eventually(
      async () => (await btc.read(async (book) => (await book.wallet('main')).deposits()))[0],
      'the notified deposit to be recorded',
    );
    expect(incoming).toMatchObject({ state: 'incoming', amount: 70_000n, txid });

    ledger.chain.mine(BTC.confirmationThreshold);
    await notify(txid, BTC.confirmationThreshold);
    await eventually(
      async () => (await btc.read(async (book) => (await book.wallet('main')).getAccount(alice))).balance === 70_000n,
      'crediting by notification',
    );
    // No poll found it: the sync task ran only its start-up round.
    expect(await syncRuns(service)).toBe(runsBefore);
    const metrics = await service.metrics.registry.getSingleMetricAsString('cryptoassets_notifications_total');
    expect(metrics).toContain('result="applied"} 2');
  }

  it('credits a deposit by block.io webhook deliveries, repeated ones included, before any poll', async () => {
    const poster = new FakeWebhookPoster();
    const config = serviceConfig(managedWebhookNotify(await freePort()));
    const service = await runningService(config, { blockioNotificationApi: () => poster });
    expect(poster.list()).toHaveLength(1); // created at start, after block.io's ping was answered

    await depositByNotification(service, async (txid, confirmations) => {
      const tx = { txid, network: NETWORK, amountReceived: '0.00070000', confirmations };
      expect(await poster.deliver(tx)).toEqual([1]);
      // block.io did not see our 200 and delivers again: answered, not applied twice.
      const [notification] = poster.list();
      expect(await poster.deliverAttempt(notification!, tx, 2)).toBe(200);
    });
    expect((await service.status()).coins[0]!.listener).toMatchObject({ kind: 'blockio-webhook', received: 2, state: 'listening' });

    await service.stop();
    expect(poster.list()).toEqual([]); // deleted at stop
    expect(JSON.stringify(log.lines)).not.toContain(SECRET);
  });

  it('credits a deposit by block.io WebSocket messages before any poll, also after a dropped socket', async () => {
    const server = new FakeBlockioSocketServer({ apiKey: KEY, network: NETWORK });
    servers.push(server);
    await server.start();
    const service = await runningService(serviceConfig({ type: 'blockio-websocket', url: server.url, api_key: '${BLOCKIO_KEY}' }));
    server.dropAll();
    await server.subscribed(2);
    await eventually(async () => (await service.status()).coins[0]!.listener?.reconnects === 1, 'the listener to report its reconnect');

    await depositByNotification(service, (txid, confirmations) => {
      server.sendTransaction({ txid, network: NETWORK, amountReceived: '0.00070000', confirmations });
      return Promise.resolve();
    });
    const status = (await service.status()).coins[0]!.listener!;
    expect(status).toMatchObject({ kind: 'blockio-websocket', state: 'listening', listening: true, reconnects: 1 });
    const metrics = await service.metrics.registry.metrics();
    expect(metrics).toContain('cryptoassets_notification_listener_up{coin="btc",kind="blockio-websocket"} 1');
    expect(metrics).toContain('cryptoassets_notification_listener_reconnects{coin="btc",kind="blockio-websocket"} 1');
    expect(JSON.stringify(log.lines)).not.toContain(KEY);
  });
});
