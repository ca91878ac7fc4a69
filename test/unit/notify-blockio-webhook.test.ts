/**
 * The block.io webhook receiver, driven by the fake notification sender over real HTTP: the ping,
 * deliveries fed once however often and in whatever order block.io posts them, refusals, and the
 * notification it creates at start and deletes at stop.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BlockioWebhookConfig } from '../../src/config/types.js';
import { BlockioWebhookListener, createListener, NotificationListenerError, type BlockioNotificationApi } from '../../src/notify/index.js';
import { deliveryBody, FakeWebhookPoster, type FakeNotification } from '../fakes/blockio-notify/index.js';
import { randomTxid } from '../helpers/ledger.js';
import { recordingLog } from '../helpers/recording-log.js';
import { freePort } from '../helpers/waiting.js';

const SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const listeners: BlockioWebhookListener[] = [];
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((listener) => listener.stop()));
});

function webhookConfig(overrides: Partial<BlockioWebhookConfig> = {}): BlockioWebhookConfig {
  return {
    type: 'blockio-webhook',
    pathSecret: SECRET,
    host: '127.0.0.1',
    port: 0,
    maxBodyBytes: 4096,
    manage: false,
    publicUrl: null,
    ...overrides,
  };
}

async function startReceiver(overrides: Partial<BlockioWebhookConfig> = {}, api?: BlockioNotificationApi) {
  const fed: string[] = [];
  const log = recordingLog();
  const listener = createListener(webhookConfig(overrides), (txid) => void fed.push(txid), log, {
    ...(api ? { blockioWebhook: { api } } : {}),
  }) as BlockioWebhookListener;
  listeners.push(listener);
  await listener.start();
  return { listener, fed, log, notification: { id: 'n-1', url: listener.url, type: 'account' } as FakeNotification };
}

describe('block.io webhook receiver', () => {
  it('answers the ping with 200 and feeds nothing', async () => {
    const { listener, fed } = await startReceiver();
    const poster = new FakeWebhookPoster();
    expect(await poster.post(listener.url, { type: 'ping' })).toBe(200);
    expect(fed).toEqual([]);
    expect(listener.status().lastMessageAt).not.toBeNull();
    expect(listener.status().received).toBe(0);
  });

  it('feeds the txid of a delivery once, however often block.io repeats it', async () => {
    const { listener, fed, notification } = await startReceiver();
    const poster = new FakeWebhookPoster();
    const tx = { txid: randomTxid(), network: 'LTCTEST', amountReceived: '0.00070000' };
    expect(await poster.deliverAttempt(notification, tx, 1)).toBe(200);
    // The same delivery again (our 200 was lost), and a later attempt of it.
    expect(await poster.deliverAttempt(notification, tx, 1)).toBe(200);
    expect(await poster.deliverAttempt(notification, tx, 2)).toBe(200);
    expect(fed).toEqual([tx.txid]);
    expect(listener.duplicates).toBe(2);
    expect(listener.status()).toMatchObject({ received: 1, rejected: 0, state: 'listening' });
  });

  it('feeds the txid again when block.io reports a new confirmation count, once per count', async () => {
    const { fed, notification } = await startReceiver();
    const poster = new FakeWebhookPoster();
    const tx = { txid: randomTxid(), network: 'LTCTEST' };
    for (const confirmations of [0, 1, 1, 0, 6, 6])
      expect(await poster.deliverAttempt(notification, { ...tx, confirmations }, 1)).toBe(200);
    expect(fed).toEqual([tx.txid, tx.txid, tx.txid]);
  });

  it('takes deliveries out of order: a retried older one after a newer one', async () => {
    const { fed, notification } = await startReceiver();
    const poster = new FakeWebhookPoster();
    const first = { txid: randomTxid(), network: 'LTCTEST' };
    const second = { txid: randomTxid(), network: 'LTCTEST' };
    expect(await poster.deliverAttempt(notification, second, 1)).toBe(200);
    expect(await poster.deliverAttempt(notification, first, 3)).toBe(200);
    expect(fed).toEqual([second.txid, first.txid]);
  });

  it('answers another path with 404, feeds nothing and logs no secret', async () => {
    const { listener, fed, log, notification } = await startReceiver();
    const poster = new FakeWebhookPoster();
    const body = deliveryBody(notification, { txid: randomTxid(), network: 'LTCTEST' }, 1);
    const base = `http://127.0.0.1:${listener.port}`;
    expect(await poster.post(`${base}/blockio/${SECRET.slice(0, -1)}x`, body)).toBe(404);
    expect(await poster.post(`${base}/blockio/`, body)).toBe(404);
    expect(await poster.post(`${base}/`, body)).toBe(404);
    expect(await poster.post(`${listener.url}/`, body)).toBe(200); // a trailing slash is the same path
    expect(fed).toHaveLength(1);
    expect(listener.status().rejected).toBe(3);
    expect(listener.status().endpoint).not.toContain(SECRET);
    expect(JSON.stringify(log.lines)).not.toContain(SECRET);
  });

  it('refuses bad bodies with 400 and one log line each, oversized ones with 413, feeding nothing', async () => {
    const { listener, fed, log, notification } = await startReceiver({ maxBodyBytes: 1024 });
    const poster = new FakeWebhookPoster();
    const warnings = () => log.lines.filter((line) => line.level === 'warn').length;
    expect(await poster.post(listener.url, 'not json')).toBe(400);
    expect(warnings()).toBe(1);
    expect(await poster.post(listener.url, deliveryBody(notification, { txid: 'abc', network: 'LTCTEST' }, 1))).toBe(400);
    expect(await poster.post(listener.url, { type: 'account', data: {} })).toBe(400);
    expect(await poster.post(listener.url, { status: 'success' })).toBe(400);
    expect(warnings()).toBe(4);
    expect(await poster.post(listener.url, { type: 'ping', padding: 'x'.repeat(2000) })).toBe(413);
    expect(await poster.post(listener.url, `txid=${randomTxid()}`, 'application/x-www-form-urlencoded')).toBe(400);
    const get = await fetch(listener.url);
    expect(get.status).toBe(405);
    expect(fed).toEqual([]);
    expect(listener.status().rejected).toBe(7);
  });

  it('acknowledges notification types it has no use for (new blocks) without feeding', async () => {
    const { listener, fed } = await startReceiver();
    expect(await new FakeWebhookPoster().post(listener.url, { type: 'new-blocks', data: { block_no: 5 } })).toBe(200);
    expect(fed).toEqual([]);
  });

  it('with manage, creates its notification at start (after answering the ping) and deletes it at stop', async () => {
    const poster = new FakeWebhookPoster();
    const port = await freePort();
    // The public URL is the receiver itself here; in production it is the reverse proxy in front of it.
    const { listener } = await startReceiver({ port, manage: true, publicUrl: `http://127.0.0.1:${port}/` }, poster);
    expect(poster.posts).toEqual([{ url: listener.url, body: { type: 'ping' }, status: 200 }]);
    expect(poster.list()).toEqual([{ id: expect.any(String), url: listener.url, type: 'account' }]);
    expect(await poster.deliver({ txid: randomTxid(), network: 'LTCTEST' })).toEqual([1]);
    await listener.stop();
    expect(poster.list()).toEqual([]);
  });

  it('with manage, fails to start when block.io cannot reach the URL, naming the key but not the secret', async () => {
    const poster = new FakeWebhookPoster();
    const port = await freePort();
    const log = recordingLog();
    const listener = new BlockioWebhookListener(
      webhookConfig({ port, manage: true, publicUrl: `http://127.0.0.1:${port}/elsewhere` }),
      () => undefined,
      log,
      { api: poster },
    );
    listeners.push(listener);
    const failure = await listener.start().then(
      () => new Error('started'),
      (error: unknown) => error as Error,
    );
    expect(failure).toBeInstanceOf(NotificationListenerError);
    expect(failure.message).toContain('public_url');
    expect(failure.message).not.toContain(SECRET);
    expect(poster.posts.map((post) => post.status)).toEqual([404]);
    expect(poster.list()).toEqual([]);
    expect(JSON.stringify(log.lines)).not.toContain(SECRET);
  });

  it('the fake sender retries a delivery nobody answers with 2xx, up to its limit', async () => {
    const poster = new FakeWebhookPoster({ maxAttempts: 3, retryDelayMs: 1 });
    const { listener } = await startReceiver();
    await poster.createNotification(listener.url);
    await listener.stop();
    expect(await poster.deliver({ txid: randomTxid(), network: 'LTCTEST' })).toEqual([3]);
    expect(poster.posts.map((post) => [post.body.delivery_attempt, post.status])).toEqual([
      [undefined, 200],
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
  });

  it('with manage and no block.io API, refuses to start', async () => {
    const listener = new BlockioWebhookListener(
      webhookConfig({ manage: true, publicUrl: 'https://example.com' }),
      () => undefined,
      recordingLog(),
    );
    listeners.push(listener);
    await expect(listener.start()).rejects.toThrow(NotificationListenerError);
    expect(listener.status().state).toBe('failed');
  });
});
