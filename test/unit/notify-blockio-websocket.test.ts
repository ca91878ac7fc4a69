/**
 * The block.io WebSocket client against the fake notification server over a real WebSocket on
 * 127.0.0.1: subscription with the key, transaction messages fed, a dropped socket and a silent
 * one replaced and subscribed again (counted in subscriptions, never timed), a refused key.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BlockioWebSocketConfig } from '../../src/config/types.js';
import { BlockioWebSocketListener, NotificationListenerError, type BlockioWebSocketOptions } from '../../src/notify/index.js';
import { FakeBlockioSocketServer } from '../fakes/blockio-notify/index.js';
import { randomTxid } from '../helpers/ledger.js';
import { recordingLog } from '../helpers/recording-log.js';

const KEY = 'fake-api-key-s3cret';
const NETWORK = 'LTCTEST';
const servers: FakeBlockioSocketServer[] = [];
const listeners: BlockioWebSocketListener[] = [];
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((listener) => listener.stop()));
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

async function startServer(pingEveryMs = 0): Promise<FakeBlockioSocketServer> {
  const server = new FakeBlockioSocketServer({ apiKey: KEY, network: NETWORK, pingEveryMs });
  servers.push(server);
  await server.start();
  return server;
}

function client(server: FakeBlockioSocketServer, overrides: Partial<BlockioWebSocketConfig> = {}, options: BlockioWebSocketOptions = {}) {
  const fed: string[] = [];
  const log = recordingLog();
  const config: BlockioWebSocketConfig = {
    type: 'blockio-websocket',
    url: overrides.url ?? server.url,
    apiKey: KEY,
    network: NETWORK,
    keepalivePeriodMs: 60_000,
    missedKeepalives: 3,
    ...overrides,
  };
  const listener = new BlockioWebSocketListener(config, (txid) => void fed.push(txid), log, { reconnectDelayMsMax: 100, ...options });
  listeners.push(listener);
  return { listener, fed, log };
}

/** Wait until `probe` holds, checking after each turn of the event loop's timers (no deadline: the test's own timeout is it). */
async function until(probe: () => boolean): Promise<void> {
  while (!probe()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('block.io WebSocket client', () => {
  it('subscribes with the key, then feeds the txid of each transaction message', async () => {
    const server = await startServer();
    const { listener, fed } = client(server);
    await listener.start();
    expect(server.requests).toEqual([{ network: NETWORK, type: 'account', api_key: KEY }]);
    expect(listener.status()).toMatchObject({ kind: 'blockio-websocket', state: 'listening', listening: true, reconnects: 0 });
    const txid = randomTxid();
    server.sendTransaction({ txid, network: NETWORK, amountReceived: '0.50000000' });
    server.ping();
    server.broadcast({ type: 'new-blocks', data: {} });
    await until(() => fed.length === 1);
    expect(fed).toEqual([txid]);
    expect(listener.status().lastMessageAt).not.toBeNull();
  });

  it('reconnects and subscribes again when the server drops the socket, and goes on feeding', async () => {
    const server = await startServer();
    const { listener, fed } = client(server);
    await listener.start();
    server.dropAll();
    await server.subscribed(2);
    await until(() => listener.status().state === 'listening' && listener.status().reconnects === 1);
    server.dropAll();
    await server.subscribed(3);
    await until(() => listener.status().reconnects === 2);
    expect(server.requests).toHaveLength(3);
    expect(listener.subscriptions).toBe(3);
    const txid = randomTxid();
    server.sendTransaction({ txid, network: NETWORK });
    await until(() => fed.length === 1);
    expect(fed).toEqual([txid]);
  });

  it('replaces a connection that hears no keep-alive for the configured number of periods', async () => {
    const server = await startServer(); // sends no pings
    const { listener, log } = client(server, { keepalivePeriodMs: 20, missedKeepalives: 2 });
    await listener.start();
    await server.subscribed(2);
    await until(() => listener.status().reconnects === 1);
    expect(log.lines.some((line) => line.msg.includes('no message from block.io for 2 keep-alive periods'))).toBe(true);
    expect(server.connections).toBeGreaterThanOrEqual(2);
  });

  it('replaces a connection whose subscription is never answered, and subscribes once the server answers again', async () => {
    const server = await startServer();
    const { listener, log } = client(server, { keepalivePeriodMs: 20, missedKeepalives: 2 });
    await listener.start();
    server.ignoreSubscriptions = true;
    server.dropAll();
    // Two more connections whose subscription got no answer: each was given up and replaced.
    await until(() => server.requests.length >= 3);
    expect(server.subscriptions).toBe(1);
    expect(listener.status().state).toBe('reconnecting');
    server.ignoreSubscriptions = false;
    await server.subscribed(2);
    await until(() => listener.status().state === 'listening');
    expect(log.lines.some((line) => line.msg.includes('did not confirm the subscription'))).toBe(true);
  });

  it('keeps a connection that hears its keep-alives', async () => {
    // Pings every 10 ms against a 1 s window: 200 pings span it twice over, and only a 1 s stall of this process could break the link.
    const server = await startServer(10);
    const { listener } = client(server, { keepalivePeriodMs: 500, missedKeepalives: 2 });
    await listener.start();
    await until(() => server.pings >= 200);
    expect(server.subscriptions).toBe(1);
    expect(listener.status()).toMatchObject({ state: 'listening', reconnects: 0 });
  });

  it('fails to start when block.io refuses the key, and never logs the key', async () => {
    const server = await startServer();
    const { listener, log } = client(server, { apiKey: 'wrong-key-s3cret' });
    const failure = await listener.start().then(
      () => new Error('started'),
      (error: unknown) => error as Error,
    );
    expect(failure).toBeInstanceOf(NotificationListenerError);
    expect(failure.message).toContain('refused');
    expect(failure.message).not.toContain('s3cret');
    expect(listener.status().state).toBe('failed');
    expect(server.refusals).toBe(1);
    expect(JSON.stringify(log.lines)).not.toContain('s3cret');
    expect(JSON.stringify(listener.status())).not.toContain('s3cret');
  });

  it('fails to start when nothing answers within the start timeout', async () => {
    const server = await startServer();
    const url = server.url;
    await server.stop();
    const { listener } = client(server, { url }, { startTimeoutMs: 300 });
    await expect(listener.start()).rejects.toThrow(/cannot subscribe to block.io notifications .*not subscribed within 300 ms/);
  });

  it('never logs the key while reconnecting and subscribing again', async () => {
    const server = await startServer();
    const { listener, log } = client(server);
    await listener.start();
    server.broadcast('not json');
    server.dropAll();
    await server.subscribed(2);
    await listener.stop();
    expect(log.lines.length).toBeGreaterThan(2);
    expect(JSON.stringify(log.lines)).not.toContain(KEY);
    expect(listener.status().state).toBe('stopped');
  });
});
