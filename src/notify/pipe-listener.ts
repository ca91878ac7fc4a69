/**
 * Reads `echo %s > /path/to/fifo` from the node's walletnotify hook: one txid per line.
 *
 * Every notification is a separate shell that opens the pipe, writes a line and closes it. A
 * reader that opened the pipe read-only would see end-of-file each time, and a blocking read would
 * hold a libuv thread-pool thread. So the pipe is opened read-write and non-blocking and handed to
 * `net.Socket`, which polls it with epoll like any socket: we are a writer ourselves, end-of-file
 * never comes, and no thread is held. Lines up to PIPE_BUF (4096 bytes) are written atomically, so
 * concurrent hooks never interleave within a line.
 *
 * What could still kill the listener silently is someone removing or replacing the path; a
 * periodic check notices that, recreates the pipe when it is gone, and reports a path that is no
 * longer a pipe as fatal.
 */
import { Socket } from 'node:net';
import type { Stats } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { PipeWalletNotifyConfig } from '../config/types.js';
import { Delivery } from './delivery.js';
import { describeError, NotificationListenerError } from './errors.js';
import { ensureFifo, lstatOrNull, NotAFifo, openFifo } from './fifo.js';
import { LineSplitter } from './line-splitter.js';
import { ListenerBase } from './listener-base.js';
import type { CommonListenerOptions, ListenerLog, TxidHandler } from './types.js';

/** A txid line is 65 bytes; anything much longer is not a notification. */
export const PIPE_LINE_BYTES_MAX = 1024;
const CHECK_INTERVAL_MS = 5_000;
const REOPEN_DELAY_MS_MIN = 100;
const REOPEN_DELAY_MS_MAX = 5_000;
/** stop() does not wait longer than this for the descriptor to close. */
const CLOSE_WAIT_MS_MAX = 2_000;

/** Tuning of the pipe listener; the defaults suit production. */
export interface PipeListenerOptions extends CommonListenerOptions {
  /** Longest accepted line in bytes; longer ones are rejected. Default 1024. */
  lineBytesMax?: number;
  /** How often the path is checked to still be our pipe. Default 5000. */
  checkIntervalMs?: number;
}

/** The named-pipe style of walletnotify. */
export class PipeNotificationListener extends ListenerBase {
  readonly kind = 'pipe' as const;
  protected readonly delivery: Delivery;
  private readonly path: string;
  private socket: Socket | undefined;
  /** Identity (device, inode) of the pipe we hold open. */
  private opened: Stats | undefined;
  /** Whether we created the pipe now at the path, and so remove it on stop. */
  private created = false;
  private checkTimer: NodeJS.Timeout | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;

  constructor(
    config: PipeWalletNotifyConfig,
    onTxid: TxidHandler,
    private readonly log: ListenerLog,
    private readonly options: PipeListenerOptions = {},
  ) {
    super();
    this.path = config.path;
    this.delivery = new Delivery('pipe', config.path, onTxid, log);
  }

  protected async begin(): Promise<void> {
    this.delivery.state = 'starting';
    try {
      const fifo = await ensureFifo(this.path);
      this.created = fifo.created;
      if (!fifo.created) this.warnIfOpenToOthers(fifo.stats);
      await this.open();
    } catch (error) {
      this.delivery.state = 'failed';
      this.delivery.recordError(error);
      await this.removeIfOurs();
      if (error instanceof NotificationListenerError) throw error;
      throw new NotificationListenerError(`walletnotify: cannot open the named pipe ${this.path}: ${describeError(error)}`, {
        cause: error,
      });
    }
    if (this.stopping) return; // stop() was called while we were opening; it cleans up.
    this.checkTimer = setInterval(() => void this.check(), this.options.checkIntervalMs ?? CHECK_INTERVAL_MS);
    this.checkTimer.unref();
    this.delivery.state = 'listening';
    this.log.info({ listener: 'pipe', path: this.path, created: this.created }, 'walletnotify: reading notifications from the named pipe');
  }

  protected async close(): Promise<void> {
    // Let a start() in progress finish, so that whatever it opened is closed below.
    await this.starting?.catch(() => undefined);
    clearInterval(this.checkTimer);
    clearTimeout(this.reopenTimer);
    await this.closeSocket();
    await this.removeIfOurs();
    if (this.delivery.state !== 'failed') this.delivery.state = 'stopped';
    this.log.info({ listener: 'pipe', path: this.path }, 'walletnotify: pipe listener stopped');
  }

  private async open(): Promise<void> {
    const { fd, stats } = await openFifo(this.path);
    const socket = new Socket({ fd, readable: true, writable: false });
    const splitter = new LineSplitter(
      this.options.lineBytesMax ?? PIPE_LINE_BYTES_MAX,
      (line) => {
        // `echo` of an empty argument, or a stray newline: nothing was notified.
        if (line.trim() !== '') this.delivery.offer(line);
      },
      (start) => this.delivery.reject('line too long', start),
    );
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    socket.on('error', (error) => this.lost(socket, error));
    socket.on('close', () => this.lost(socket, new Error('the named pipe was closed unexpectedly')));
    this.socket = socket;
    this.opened = stats;
  }

  /** The pipe we read stopped working: note it and reopen, unless we are stopping. */
  private lost(socket: Socket, error: Error): void {
    if (this.socket !== socket || this.stopping) return;
    this.socket = undefined;
    socket.destroy();
    this.delivery.state = 'reconnecting';
    this.delivery.recordError(error);
    this.log.warn({ listener: 'pipe', path: this.path, err: error }, 'walletnotify: lost the named pipe, reopening it');
    this.scheduleReopen(0);
  }

  private scheduleReopen(attempt: number): void {
    const delay = Math.min(REOPEN_DELAY_MS_MIN * 2 ** attempt, REOPEN_DELAY_MS_MAX);
    this.reopenTimer = setTimeout(() => void this.reopen(attempt), delay);
  }

  private async reopen(attempt: number): Promise<void> {
    if (this.stopping) return;
    try {
      const fifo = await ensureFifo(this.path);
      if (fifo.created) this.created = true;
      if (this.stopping) return;
      await this.open();
    } catch (error) {
      if (this.stopping) return;
      this.delivery.recordError(error);
      // A path that is now something else will not fix itself; anything else may (permissions, a full disk).
      if (error instanceof NotAFifo) return this.fatal(error);
      this.log.warn({ listener: 'pipe', path: this.path, err: error, attempt }, 'walletnotify: cannot reopen the named pipe yet');
      return this.scheduleReopen(attempt + 1);
    }
    if (this.stopping) return void (await this.closeSocket());
    this.delivery.reconnects++;
    this.delivery.state = 'listening';
    this.log.info({ listener: 'pipe', path: this.path }, 'walletnotify: named pipe reopened');
  }

  /** Periodic: is the path still the pipe we hold open? */
  private async check(): Promise<void> {
    if (this.stopping || this.delivery.state !== 'listening' || !this.socket || !this.opened) return;
    let now: Stats | null;
    try {
      now = await lstatOrNull(this.path);
    } catch (error) {
      this.delivery.recordError(error);
      return;
    }
    if (this.stopping || !this.socket) return;
    if (now && !now.isFIFO()) {
      return this.fatal(
        new NotAFifo(`walletnotify: ${this.path} was replaced by something that is not a named pipe; notifications written to it are lost`),
      );
    }
    if (!now || now.ino !== this.opened.ino || now.dev !== this.opened.dev) {
      // Writers open the path, so the pipe we hold is no longer reachable: switch to what is there.
      if (!now) this.created = false; // Ours is gone; a new one made by reopen() counts as created again.
      this.lost(this.socket, new Error(now ? `${this.path} was replaced by another named pipe` : `${this.path} was removed`));
    }
  }

  private fatal(error: Error): void {
    clearInterval(this.checkTimer);
    clearTimeout(this.reopenTimer);
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
    this.delivery.state = 'failed';
    this.delivery.recordError(error);
    this.log.error({ listener: 'pipe', path: this.path, err: error }, 'walletnotify: the pipe listener cannot go on');
    this.options.onFatal?.(error, this);
  }

  private async closeSocket(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket || socket.closed) return;
    const closed = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_WAIT_MS_MAX);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    socket.destroy();
    await closed;
  }

  /** Remove the pipe if we created it and it is still the one we created. */
  private async removeIfOurs(): Promise<void> {
    if (!this.created) return;
    this.created = false;
    try {
      const now = await lstatOrNull(this.path);
      if (now?.isFIFO() && (!this.opened || (now.ino === this.opened.ino && now.dev === this.opened.dev))) await unlink(this.path);
    } catch (error) {
      this.log.warn({ listener: 'pipe', path: this.path, err: error }, 'walletnotify: cannot remove the named pipe');
    }
  }

  /**
   * Group access is a deliberate way to let a node running as another user write; access for
   * everyone else means any local user can make us look transactions up, so say so.
   */
  private warnIfOpenToOthers(stats: Stats): void {
    if ((stats.mode & 0o007) !== 0) {
      this.log.warn(
        { listener: 'pipe', path: this.path, mode: (stats.mode & 0o777).toString(8) },
        'walletnotify: other users can use the named pipe; restrict it to mode 0600 (or 0620 with a shared group)',
      );
    }
  }
}
