/**
 * block.io notifications end to end: the helper service with a `type: blockio` backend on the fake
 * block.io, and the fake's own notifications. With a poll period of an hour only the start-up
 * sync runs, so a deposit recorded and credited here came by notification:
 * - `blockio-webhook` with `manage: true`: the service creates its notification through the
 *   backend (configuration alone), the fake pings it, delivers every change of the payment (a
 *   duplicate and a reversed pair included), and the notification is deleted at stop;
 * - `blockio-websocket` on the fake's stream, with the socket dropped between the payment and its
 *   confirmations.
 * `verifyLedger` holds after each, on every engine under test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { createBackend } from '../../src/backends/factory.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { LTC } from '../../src/domain/coins.js';
import { NOTIFY_UNTIL_CONFIRMATIONS } from '../../src/devtools/blockio-fake/notifier.js';
import { HelperService } from '../../src/service/helper-service.js';
import { createTestDatabase, enginesUnderTest, type TestDatabase } from '../helpers/engines.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { recordingLog, type RecordingLog } from '../helpers/recording-log.js';
import { eventually, freePort } from '../helpers/waiting.js';
import { FAKE_API_KEY, FAKE_PIN } from '../fakes/blockio/harness.js';
import { managedWebhookNotify } from '../fakes/blockio-notify/index.js';
import { startFakeBlockio, type FakeBlockio } from '../fakes/blockio/server.js';

const engines = await enginesUnderTest();
const SECRET = '0123456789abcdef0123456789abcdef';
const NETWORK = LTC.networks.testnet!;
const THRESHOLD = LTC.confirmationThreshold;

describe.each(engines)('block.io notifications end to end on %s (fake block.io)', (engine) => {
  let database: TestDatabase;
  let fake: FakeBlockio;
  let app: CryptoAssets | undefined;
  let service: HelperService | undefined;
  let log: RecordingLog;

  beforeEach(async () => {
    log = recordingLog();
    database = await createTestDatabase(engine);
    fake = await startFakeBlockio({ coin: LTC, network: NETWORK, apiKey: FAKE_API_KEY, pin: FAKE_PIN });
    // block.io's tip comes from a confirmed transaction of the account; buried deep enough that
    // the fake no longer announces it, so every announcement below is about the test's payment.
    fake.fund(1_000n);
    fake.mine(NOTIFY_UNTIL_CONFIRMATIONS);
  });

  afterEach(async () => {
    try {
      await service?.stop();
      if (app) await expectLedgerConsistent(app);
    } finally {
      service = undefined;
      await app?.close();
      app = undefined;
      await fake.close();
      await database.drop();
    }
  });

  function serviceConfig(walletnotify: Record<string, unknown>): Config {
    return parseConfig(
      {
        database: { url: 'sqlite::memory:' }, // the test's own database is opened below
        coins: {
          ltc: {
            network: 'testnet',
            backend: { type: 'blockio', api_key: '${BLOCKIO_KEY}', pin: '${BLOCKIO_PIN}', api_url: fake.apiUrl, timeout_ms: 2_000 },
            walletnotify,
          },
        },
        status_server: { enabled: false },
        // An hour: within a test, only the start-up sync runs; everything later comes by notification.
        service: { broadcast_period: 3600, poll_period: 3600, log_level: 'silent' },
      },
      { BLOCKIO_KEY: FAKE_API_KEY, BLOCKIO_PIN: FAKE_PIN, BLOCKIO_SECRET: SECRET },
    );
  }

  /** The ledger on the backend the configuration describes, and the service on it, started. */
  async function runningService(config: Config): Promise<HelperService> {
    const backend = await createBackend('ltc', config.coins.ltc!);
    app = await CryptoAssets.open({ database: database.options, coins: [{ coin: LTC, network: NETWORK, backend }], migrate: true, log });
    service = new HelperService(app, config, log, { leaseTtlMs: 5_000 });
    await service.start();
    await eventually(async () => (await service!.status()).coins[0]!.startupRescanDone, 'the start-up sync');
    return service;
  }

  async function syncRuns(): Promise<number> {
    return (await service!.status()).tasks.find((task) => task.name === 'ltc:sync')!.runs;
  }

  async function aliceBalance(): Promise<bigint> {
    return app!.coin('ltc').read(async (book) => (await (await book.wallet('main')).getAccount('alice')).balance);
  }

  /** A new address of alice's; the fake pays it 70 000 units. */
  async function payAlice(): Promise<string> {
    const ltc = app!.coin('ltc');
    const alice = await ltc.transaction(async (book) => (await book.getOrCreateWallet('main')).createAccount('alice'));
    const address = await ltc.createReceivingAddress('main', alice);
    return fake.pay(address.address, 70_000n);
  }

  async function recorded(txid: string): Promise<void> {
    const deposit = await eventually(
      async () => (await app!.coin('ltc').read(async (book) => (await book.wallet('main')).deposits()))[0],
      'the notified deposit to be recorded',
    );
    expect(deposit).toMatchObject({ state: 'incoming', amount: 70_000n, txid });
  }

  it('webhook with manage: true: created from configuration, deliveries record and credit the deposit, deleted at stop', async () => {
    const port = await freePort();
    await runningService(serviceConfig(managedWebhookNotify(port)));
    // Created through the backend's API: block.io pinged the URL first, and created it only then.
    expect(fake.requests.get('create_notification')).toBe(1);
    expect(fake.webhooks.list()).toEqual([expect.objectContaining({ type: 'account', url: `http://127.0.0.1:${port}/blockio/${SECRET}` })]);
    expect(fake.webhooks.posts[0]).toMatchObject({ body: { type: 'ping' }, status: 200 });
    const runsBefore = await syncRuns();

    fake.notifier.duplicateNext();
    const txid = await payAlice();
    await recorded(txid);
    await fake.notifier.settled();
    const deliveries = fake.webhooks.posts.filter((post) => post.body.type === 'account');
    expect(deliveries.map((post) => [post.body.delivery_attempt, (post.body.data as { txid: string }).txid])).toEqual([
      [1, txid],
      [1, txid],
    ]);

    // The last two announcements arrive in reverse: the credit comes first, the older count after it.
    fake.notifier.reverseNext(2);
    fake.mine(THRESHOLD - 1);
    expect(await aliceBalance()).toBe(0n);
    fake.mine(1);
    await fake.notifier.settled();
    await eventually(async () => (await aliceBalance()) === 70_000n, 'crediting by webhook');
    const confirmations = fake.webhooks.posts
      .filter((post) => post.body.type === 'account')
      .map((post) => (post.body.data as { confirmations: number }).confirmations);
    expect(confirmations).toEqual([0, 0, THRESHOLD, THRESHOLD - 1]);
    // No poll found it: the sync task ran only its start-up round.
    expect(await syncRuns()).toBe(runsBefore);
    expect((await service!.status()).coins[0]!.listener).toMatchObject({ kind: 'blockio-webhook', state: 'listening' });

    await service!.stop();
    expect(fake.requests.get('delete_notification')).toBe(1);
    expect(fake.webhooks.list()).toEqual([]);
    const logged = JSON.stringify(log.lines);
    expect(logged).not.toContain(SECRET);
    expect(logged).not.toContain(FAKE_API_KEY);
  });

  it('webhook with manage: true whose URL block.io cannot ping: no notification, and the service does not start', async () => {
    // The reverse proxy points elsewhere: block.io's ping finds nobody.
    const config = serviceConfig(managedWebhookNotify(await freePort(), await freePort()));
    await expect(runningService(config)).rejects.toThrow(/did not create the webhook notification.*ping/);
    expect(fake.webhooks.list()).toEqual([]);
    expect(JSON.stringify(log.lines)).not.toContain(SECRET);
  });

  it('WebSocket on the fake stream: the payment and its confirmations arrive as messages, also after a dropped socket', async () => {
    const config = serviceConfig({ type: 'blockio-websocket', url: fake.socketUrl, api_key: '${BLOCKIO_KEY}' });
    await runningService(config);
    expect(fake.sockets.requests).toEqual([{ network: 'LTCTEST', type: 'account', api_key: FAKE_API_KEY }]);
    const runsBefore = await syncRuns();
    const messagesBefore = fake.notifier.messages;

    const txid = await payAlice();
    await recorded(txid);

    fake.sockets.dropAll();
    await fake.sockets.subscribed(2);
    await eventually(async () => (await service!.status()).coins[0]!.listener?.reconnects === 1, 'the listener to report its reconnect');

    fake.mine(THRESHOLD);
    await eventually(async () => (await aliceBalance()) === 70_000n, 'crediting by WebSocket message');
    expect(await syncRuns()).toBe(runsBefore);
    expect(fake.notifier.messages - messagesBefore).toBe(2); // the payment, then the threshold
    expect((await service!.status()).coins[0]!.listener).toMatchObject({ kind: 'blockio-websocket', state: 'listening', reconnects: 1 });
    expect(JSON.stringify(log.lines)).not.toContain(FAKE_API_KEY);
  });
});
