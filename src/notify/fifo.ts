/**
 * Creating and checking the named pipe. Node has no mkfifo(), so the `mkfifo` program (coreutils)
 * makes it; `-m 0600` sets the mode without the umask, so only our user can write notifications.
 */
import { execFile } from 'node:child_process';
import { closeSync, constants, fstat, open as openCallback, type Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { NotificationListenerError, describeError } from './errors.js';

/** Mode of a FIFO we create: read and write for the owner only. */
export const FIFO_MODE = 0o600;

/** The path exists and is something other than a named pipe; waiting will not fix it. */
export class NotAFifo extends NotificationListenerError {}

/** What `ensureFifo` found or did. */
export interface FifoInfo {
  /** True when we created it (and so may remove it on stop). */
  readonly created: boolean;
  readonly stats: Stats;
}

/**
 * Make sure `path` is a FIFO: reuse one that exists, create one where nothing is, refuse anything
 * else with an error that says what is there and what to do.
 */
export async function ensureFifo(path: string): Promise<FifoInfo> {
  const existing = await lstatOrNull(path);
  if (existing) return { created: false, stats: requireFifo(path, existing) };
  try {
    await mkfifo(path);
  } catch (error) {
    // Someone else (another instance, an admin) made it meanwhile: judge what is there now.
    const raced = await lstatOrNull(path);
    if (raced) return { created: false, stats: requireFifo(path, raced) };
    throw new NotificationListenerError(`walletnotify: cannot create the named pipe ${path}: ${describeError(error)}`, { cause: error });
  }
  const stats = await lstat(path);
  return { created: true, stats: requireFifo(path, stats) };
}

/** Stats of `path` without following a symlink, or null when nothing is there. */
export async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new NotificationListenerError(`walletnotify: cannot inspect ${path}: ${describeError(error)}`, { cause: error });
  }
}

/**
 * Open the FIFO for reading and writing, without blocking. Read-only would block until a writer
 * appears and return end-of-file each time the last writer (every `echo`) closes; holding a write
 * end ourselves means there is always a writer, so the reader never sees end-of-file.
 */
export async function openFifo(path: string): Promise<{ fd: number; stats: Stats }> {
  // The callback API gives a plain descriptor; a FileHandle would close it when garbage-collected.
  const fd = await openRaw(path, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  try {
    const stats = await fstatRaw(fd);
    // The path could have been swapped between our lstat and open.
    return { fd, stats: requireFifo(path, stats) };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

function openRaw(path: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => openCallback(path, flags, (error, fd) => (error ? reject(error) : resolve(fd))));
}

function fstatRaw(fd: number): Promise<Stats> {
  return new Promise((resolve, reject) => fstat(fd, (error, stats) => (error ? reject(error) : resolve(stats))));
}

function requireFifo(path: string, stats: Stats): Stats {
  if (stats.isFIFO()) return stats;
  const what = stats.isFile()
    ? 'a regular file'
    : stats.isDirectory()
      ? 'a directory'
      : stats.isSymbolicLink()
        ? 'a symbolic link'
        : 'a socket or device';
  throw new NotAFifo(
    `walletnotify: ${path} exists and is ${what}, not a named pipe (FIFO). ` +
      'A walletnotify hook that wrote to it while no pipe existed may have created it; remove it and start again.',
  );
}

function mkfifo(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('mkfifo', ['-m', FIFO_MODE.toString(8), '--', path], (error, _stdout, stderr) => {
      if (error) reject(new Error(stderr.trim() || error.message, { cause: error }));
      else resolve();
    });
  });
}
