/**
 * The named-pipe walletnotify listener, written to by the node's own line:
 * `sh -c 'echo %s > FIFO'`, one shell per notification.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/notify/line-splitter.js';
import {
  createListener,
  NotAFifo,
  NotificationListenerError,
  PipeNotificationListener,
  type PipeListenerOptions,
} from '../../src/notify/index.js';
import { recordingLog } from '../helpers/recording-log.js';
import { randomTxid } from '../helpers/ledger.js';

/** The node's walletnotify line, run the way the node runs it: a fresh shell each time. */
function shellEcho(text: string, fifo: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('sh', ['-c', `echo ${text} > '${fifo}'`], { timeout: 10_000 }, (error) => (error ? reject(error) : resolve())),
  );
}

async function waitFor(predicate: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let dir: string;
let fifo: string;
const listeners: PipeNotificationListener[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cryptoassets-notify-pipe-'));
  fifo = join(dir, 'walletnotify');
});
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((listener) => listener.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function startListener(
  handler: (txid: string) => void | Promise<void>,
  options: PipeListenerOptions = {},
): Promise<{ listener: PipeNotificationListener; log: ReturnType<typeof recordingLog> }> {
  const log = recordingLog();
  const listener = new PipeNotificationListener({ type: 'pipe', path: fifo }, handler, log, options);
  listeners.push(listener);
  await listener.start();
  return { listener, log };
}

describe('named-pipe walletnotify listener', () => {
  it('creates the FIFO with mode 0600', async () => {
    await startListener(() => undefined);

    const stats = lstatSync(fifo);
    expect(stats.isFIFO()).toBe(true);
    expect((stats.mode & 0o777).toString(8)).toBe('600');
  });

  it('receives 500 notifications, each from its own `echo TXID > FIFO` shell', async () => {
    const got: string[] = [];
    const { listener } = await startListener((txid) => void got.push(txid));
    const txids = Array.from({ length: 500 }, randomTxid);

    // Sequential on purpose: every writer opens, writes and closes, so the reader sees the last
    // writer go away 500 times.
    for (const [index, txid] of txids.entries()) await shellEcho(index % 2 === 0 ? txid : txid.toUpperCase(), fifo);

    await waitFor(() => got.length === 500);
    expect(got).toEqual(txids);
    expect(listener.status()).toMatchObject({ state: 'listening', received: 500, rejected: 0, reconnects: 0 });
  });

  it('receives notifications from concurrent writers without mixing lines', async () => {
    const got: string[] = [];
    const { listener } = await startListener((txid) => void got.push(txid));
    const txids = Array.from({ length: 40 }, randomTxid);

    await Promise.all(txids.map((txid) => shellEcho(txid, fifo)));

    await waitFor(() => got.length === 40);
    expect([...got].sort()).toEqual([...txids].sort());
    expect(listener.status().rejected).toBe(0);
  });

  it('rejects garbage lines and overlong lines, and carries on', async () => {
    const got: string[] = [];
    const { listener, log } = await startListener((txid) => void got.push(txid), { lineBytesMax: 200 });
    const txid = randomTxid();

    await shellEcho('hello', fifo);
    await shellEcho(`${txid}0`, fifo);
    await shellEcho('x'.repeat(1_000), fifo);
    await shellEcho('', fifo); // a blank line carries nothing and is ignored
    await shellEcho(txid, fifo);

    await waitFor(() => got.length === 1);
    expect(got).toEqual([txid]);
    expect(listener.status()).toMatchObject({ received: 1, rejected: 3 });
    const reasons = log.lines
      .filter((line) => line.msg === 'walletnotify: rejected a notification')
      .map((line) => (line.obj as { reason: string }).reason);
    expect(reasons).toEqual(['not a transaction id', 'not a transaction id', 'line too long']);
  });

  it('keeps reading after the handler throws', async () => {
    const got: string[] = [];
    const { listener } = await startListener((txid) => {
      if (got.length === 0) {
        got.push('threw');
        throw new Error('handler exploded');
      }
      got.push(txid);
    });
    const [a, b] = [randomTxid(), randomTxid()];

    await shellEcho(a, fifo);
    await shellEcho(b, fifo);

    await waitFor(() => got.length === 2);
    expect(got).toEqual(['threw', b]);
    expect(listener.status()).toMatchObject({ state: 'listening', received: 2, handlerErrors: 1 });
  });

  it('refuses to start when the path is a regular file, and leaves the file alone', async () => {
    writeFileSync(fifo, 'not a pipe\n');
    const listener = new PipeNotificationListener({ type: 'pipe', path: fifo }, () => undefined, recordingLog());
    listeners.push(listener);

    const started = listener.start();

    await expect(started).rejects.toBeInstanceOf(NotAFifo);
    await expect(started).rejects.toBeInstanceOf(NotificationListenerError);
    await expect(started).rejects.toThrow(`walletnotify: ${fifo} exists and is a regular file, not a named pipe (FIFO)`);
    expect(listener.status()).toMatchObject({ state: 'failed', listening: false });
    await listener.stop();
    expect(lstatSync(fifo).isFile()).toBe(true);
  });

  it('refuses to start when the path is a directory', async () => {
    mkdirSync(fifo);
    const listener = new PipeNotificationListener({ type: 'pipe', path: fifo }, () => undefined, recordingLog());
    listeners.push(listener);

    await expect(listener.start()).rejects.toThrow('exists and is a directory, not a named pipe');
  });

  it('stop() resolves promptly, removes the FIFO it created, and is idempotent', async () => {
    const { listener } = await startListener(() => undefined);
    expect(existsSync(fifo)).toBe(true);
    const started = Date.now();

    await Promise.all([listener.stop(), listener.stop()]);

    expect(Date.now() - started).toBeLessThan(1_000);
    expect(existsSync(fifo)).toBe(false);
    expect(listener.status()).toMatchObject({ state: 'stopped', listening: false });
  });

  it('reuses an existing FIFO, reads a line written before it started, and leaves the FIFO on stop', async () => {
    execFileSync('mkfifo', ['-m', '0600', fifo]);
    const early = randomTxid();
    // With no reader yet, this shell blocks in open() — as the node's hook does while we are down.
    const writer = spawn('sh', ['-c', `echo ${early} > '${fifo}'`]);
    const writerDone = new Promise<number | null>((resolve) => writer.once('exit', resolve));
    const got: string[] = [];

    const { listener, log } = await startListener((txid) => void got.push(txid));

    expect(await writerDone).toBe(0);
    await waitFor(() => got.length === 1);
    expect(got).toEqual([early]);
    expect(log.lines.some((line) => line.level === 'warn')).toBe(false);
    await listener.stop();
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  });

  it('refuses to start when the directory does not exist, naming the path', async () => {
    const missing = join(dir, 'no-such-dir', 'walletnotify');
    const listener = new PipeNotificationListener({ type: 'pipe', path: missing }, () => undefined, recordingLog());
    listeners.push(listener);

    await expect(listener.start()).rejects.toThrow(`walletnotify: cannot create the named pipe ${missing}: mkfifo:`);
    expect(existsSync(missing)).toBe(false);
  });

  it('accepts an existing FIFO shared with a group without warning', async () => {
    execFileSync('mkfifo', ['-m', '0620', fifo]);
    const { log } = await startListener(() => undefined);

    expect(log.lines.filter((line) => line.level === 'warn')).toEqual([]);
  });

  it('warns when an existing FIFO is open to other users', async () => {
    execFileSync('mkfifo', ['-m', '0622', fifo]);
    const { log } = await startListener(() => undefined);

    expect(log.lines.filter((line) => line.level === 'warn').map((line) => (line.obj as { mode: string }).mode)).toEqual(['622']);
  });

  it('recreates the FIFO when it is removed while running', async () => {
    const got: string[] = [];
    const { listener } = await startListener((txid) => void got.push(txid), { checkIntervalMs: 50 });
    unlinkSync(fifo);

    await waitFor(() => listener.status().reconnects === 1 && listener.status().state === 'listening');
    const txid = randomTxid();
    await shellEcho(txid, fifo);

    await waitFor(() => got.length === 1);
    expect(got).toEqual([txid]);
    expect(listener.status().lastError?.message).toBe(`${fifo} was removed`);
    await listener.stop();
    expect(existsSync(fifo)).toBe(false);
  });

  it('reports a path replaced by a regular file as fatal', async () => {
    const fatal: Error[] = [];
    const log = recordingLog();
    const listener = createListener({ type: 'pipe', path: fifo }, () => undefined, log, {
      onFatal: (error) => void fatal.push(error),
      pipe: { checkIntervalMs: 50 },
    }) as PipeNotificationListener;
    listeners.push(listener);
    await listener.start();
    unlinkSync(fifo);
    writeFileSync(fifo, 'written by a hook while no pipe was there\n');

    await waitFor(() => fatal.length === 1);
    expect(fatal[0]).toBeInstanceOf(NotAFifo);
    expect(fatal[0]!.message).toBe(
      `walletnotify: ${fifo} was replaced by something that is not a named pipe; notifications written to it are lost`,
    );
    expect(listener.status()).toMatchObject({ state: 'failed', listening: false });
    expect(log.lines.filter((line) => line.level === 'error').map((line) => line.msg)).toEqual([
      'walletnotify: the pipe listener cannot go on',
    ]);
    await listener.stop();
    expect(lstatSync(fifo).isFile()).toBe(true);
  });
});

describe('LineSplitter', () => {
  it('joins lines split across chunks and bounds line length', () => {
    const lines: string[] = [];
    const overlong: string[] = [];
    const splitter = new LineSplitter(
      8,
      (line) => void lines.push(line),
      (start) => void overlong.push(start),
    );

    splitter.push(Buffer.from('ab'));
    splitter.push(Buffer.from('c\nde\n0123'));
    splitter.push(Buffer.from('456789'));
    splitter.push(Buffer.from('abc\nok\n'));

    expect(lines).toEqual(['abc', 'de', 'ok']);
    expect(overlong).toEqual(['0123456789']);
  });
});
