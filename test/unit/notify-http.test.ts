/**
 * The HTTP walletnotify listener, driven by real requests: fetch, raw sockets, and the exact
 * `curl --silent --data txid=%s URL` line a node runs.
 */
import { execFile, execFileSync } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createListener,
  HttpNotificationListener,
  NotificationListenerError,
  type HttpListenerOptions,
  type ListenerLog,
} from '../../src/notify/index.js';
import { recordingLog } from '../helpers/recording-log.js';
import { randomTxid } from '../helpers/ledger.js';

const CURL = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
})();

const listeners: HttpNotificationListener[] = [];
const blockers: Server[] = [];
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((listener) => listener.stop()));
  await Promise.all(blockers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function startListener(
  handler: (txid: string) => void | Promise<void> = () => undefined,
  options: HttpListenerOptions = {},
  host = '127.0.0.1',
): Promise<{ listener: HttpNotificationListener; log: ReturnType<typeof recordingLog> }> {
  const log = recordingLog();
  const listener = new HttpNotificationListener({ type: 'http', host, port: 0 }, handler, log, options);
  listeners.push(listener);
  await listener.start();
  return { listener, log };
}

function post(
  listener: HttpNotificationListener,
  body: NonNullable<RequestInit['body']>,
  init: RequestInit = {},
  path = '/',
): Promise<Response> {
  return fetch(`http://127.0.0.1:${listener.port}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body,
    ...init,
  });
}

/** Resolves once `predicate` holds, or fails after `ms`. */
async function waitFor(predicate: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('HTTP walletnotify listener', () => {
  it('delivers a posted txid in lowercase and answers 200', async () => {
    const got: string[] = [];
    const { listener } = await startListener((txid) => void got.push(txid));
    const txid = randomTxid();

    const response = await post(listener, `txid=${txid.toUpperCase()}`);

    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok\n');
    expect(got).toEqual([txid]);
    const status = listener.status();
    expect(status).toMatchObject({ kind: 'http', state: 'listening', listening: true, received: 1, rejected: 0, handlerErrors: 0 });
    expect(status.endpoint).toBe(`http://127.0.0.1:${listener.port}/`);
    expect(Date.parse(status.lastNotificationAt!)).toBeGreaterThan(Date.now() - 10_000);
  });

  it('accepts a bare txid as text/plain and on /walletnotify', async () => {
    const got: string[] = [];
    const { listener } = await startListener((txid) => void got.push(txid));
    const [a, b] = [randomTxid(), randomTxid()];

    const plain = await post(listener, `${a}\n`, { headers: { 'Content-Type': 'text/plain' } });
    const onPath = await post(listener, `txid=${b}`, {}, '/walletnotify');

    expect([plain.status, onPath.status]).toEqual([200, 200]);
    expect(got).toEqual([a, b]);
  });

  it.runIf(CURL !== null)('receives the exact curl line a node runs', async () => {
    const got: string[] = [];
    const { listener } = await startListener((txid) => void got.push(txid));
    const txid = randomTxid();
    const command = `curl --silent --data txid=${txid} http://127.0.0.1:${listener.port}/`;

    const output = await new Promise<string>((resolve, reject) =>
      execFile('sh', ['-c', command], (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );

    expect(output).toBe('ok\n');
    expect(got).toEqual([txid]);
  });
  if (CURL === null) console.warn("curl is not installed: the test of the node's own curl line is skipped");

  it('answers 400 to a malformed txid and does not deliver it', async () => {
    const got: string[] = [];
    const { listener, log } = await startListener((txid) => void got.push(txid));
    const bodies = [
      'txid=xyz',
      `txid=${randomTxid().slice(1)}`,
      `txid=${randomTxid()}0`,
      `txid=${randomTxid()}&txid=${randomTxid()}`,
      'other=1',
      '',
    ];

    const statuses = [];
    for (const body of bodies) statuses.push((await post(listener, body)).status);

    expect(statuses).toEqual([400, 400, 400, 400, 400, 400]);
    expect(got).toEqual([]);
    expect(listener.status()).toMatchObject({ received: 0, rejected: 6 });
    expect(log.lines.filter((line) => line.msg === 'walletnotify: rejected a notification')).toHaveLength(6);
  });

  it('answers 413 to an oversized body, whether declared or streamed', async () => {
    const got: string[] = [];
    const { listener } = await startListener((txid) => void got.push(txid));
    const big = `txid=${randomTxid()}&pad=${'x'.repeat(2_000)}`;

    const declared = await post(listener, big);
    const streamed = await post(listener, new Blob([big]).stream(), { duplex: 'half' });

    expect([declared.status, streamed.status]).toEqual([413, 413]);
    expect(got).toEqual([]);
    expect(listener.status().rejected).toBe(2);
  });

  it('answers 405 to GET with a txid in the query, 404 to other paths, 415 to JSON', async () => {
    const got: string[] = [];
    const { listener } = await startListener((txid) => void got.push(txid));
    const txid = randomTxid();

    const get = await fetch(`http://127.0.0.1:${listener.port}/?txid=${txid}`);
    const put = await post(listener, `txid=${txid}`, { method: 'PUT' });
    const elsewhere = await post(listener, `txid=${txid}`, {}, '/other');
    const json = await post(listener, JSON.stringify({ txid }), { headers: { 'Content-Type': 'application/json' } });

    expect([get.status, put.status, elsewhere.status, json.status]).toEqual([405, 405, 404, 415]);
    expect(get.headers.get('allow')).toBe('POST');
    expect(got).toEqual([]);
    expect(listener.status()).toMatchObject({ received: 0, rejected: 4 });
  });

  it('delivers 50 concurrent notifications', async () => {
    const got: string[] = [];
    // A slow asynchronous handler: the listener must not wait for it before answering.
    const { listener } = await startListener(async (txid) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      got.push(txid);
    });
    const txids = Array.from({ length: 50 }, randomTxid);

    const statuses = await Promise.all(txids.map(async (txid) => (await post(listener, `txid=${txid}`)).status));

    expect(statuses).toEqual(txids.map(() => 200));
    await waitFor(() => got.length === 50);
    expect([...got].sort()).toEqual([...txids].sort());
    expect(listener.status().received).toBe(50);
  });

  it('keeps delivering after the handler throws or rejects', async () => {
    const got: string[] = [];
    let calls = 0;
    const { listener, log } = await startListener((txid) => {
      calls++;
      if (calls === 1) throw new Error('handler exploded');
      if (calls === 2) return Promise.reject(new Error('handler rejected'));
      got.push(txid);
    });
    const txids = [randomTxid(), randomTxid(), randomTxid()];

    const statuses = [];
    for (const txid of txids) statuses.push((await post(listener, `txid=${txid}`)).status);

    expect(statuses).toEqual([200, 200, 200]);
    await waitFor(() => listener.status().handlerErrors === 2);
    expect(got).toEqual([txids[2]]);
    expect(listener.status()).toMatchObject({ state: 'listening', received: 3, handlerErrors: 2 });
    expect(listener.status().lastError?.message).toBe('handler rejected');
    expect(log.lines.filter((line) => line.level === 'error').map((line) => line.msg)).toEqual([
      'walletnotify: the txid handler failed',
      'walletnotify: the txid handler failed',
    ]);
  });

  it('rejects start() when the port is taken', async () => {
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const listener = new HttpNotificationListener({ type: 'http', host: '127.0.0.1', port }, () => undefined, recordingLog());
    listeners.push(listener);

    const started = listener.start();

    await expect(started).rejects.toBeInstanceOf(NotificationListenerError);
    await expect(started).rejects.toThrow(`walletnotify: cannot listen for HTTP notifications on 127.0.0.1:${port}: listen EADDRINUSE`);
    expect(listener.status()).toMatchObject({ state: 'failed', listening: false });
    await listener.stop();
  });

  it('binds 127.0.0.1 by default and refuses connections to other addresses', async () => {
    const { DEFAULTS } = await import('../../src/config/defaults.js');
    const listener = createListener({ type: 'http', host: DEFAULTS.walletnotify.http.host, port: 0 }, () => undefined, recordingLog());
    expect(listener).toBeInstanceOf(HttpNotificationListener);
    const http = listener as HttpNotificationListener;
    listeners.push(http);
    await listener.start();

    expect(DEFAULTS.walletnotify.http.host).toBe('127.0.0.1');
    expect(http.address.address).toBe('127.0.0.1');
    expect(listener.status().endpoint).toBe(`http://127.0.0.1:${http.port}/`);
    // All of 127/8 reaches this host; a server bound to every address (0.0.0.0) would answer here.
    const other = await new Promise<string>((resolve) => {
      const socket = connect(http.port, '127.0.0.2');
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    expect(other).toBe('ECONNREFUSED');
  });

  it('drops a client that never finishes its headers (slowloris)', async () => {
    const { listener } = await startListener(() => undefined, { headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const socket = connect(listener.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const started = Date.now();
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n');

    await new Promise<void>((resolve) => socket.once('close', () => resolve()));

    // The server gives up once the headers timeout passes, not after Node's default minute.
    expect(answer.startsWith('HTTP/1.1 408 ')).toBe(true);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('stops promptly with an idle keep-alive connection open, and stop() is idempotent', async () => {
    const { listener } = await startListener();
    const socket = connect(listener.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const started = Date.now();

    await Promise.all([listener.stop(), listener.stop()]);
    await listener.stop();

    expect(Date.now() - started).toBeLessThan(1_000);
    expect(listener.status()).toMatchObject({ state: 'stopped', listening: false });
    socket.destroy();
  });

  it('accepts a pino logger as its log', () => {
    const log: ListenerLog = pino({ level: 'silent' });
    expect(typeof log.warn).toBe('function');
  });
});
