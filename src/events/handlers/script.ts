/**
 * The script handler: runs one executable per event. The event is given three ways, so that any
 * language can read it easily: `CRYPTOASSETS_EVENT_NAME` and `CRYPTOASSETS_EVENT_ID` in the
 * environment, the whole event as JSON in `CRYPTOASSETS_EVENT_DATA`, and the same JSON on stdin
 * (one line, then a newline).
 *
 * The original serialised the event wrongly and never ran a script. Here the command is executed
 * directly (no shell, so nothing in an event can be interpreted as shell syntax), runs in its own
 * process group so that a time-out stops whatever it started, and its output is drained into
 * bounded buffers so a chatty script cannot fill memory or block on a full pipe.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { ScriptHandlerConfig } from '../../config/types.js';
import type { CryptoAssetsEvent, EventHandler } from '../types.js';
import { EventDeliveryError } from './errors.js';
import { TailBuffer } from './tail-buffer.js';

/** Bytes of the script's output quoted in a failure message. */
export const SCRIPT_OUTPUT_TAIL_BYTES = 500;
/** Time between SIGTERM and SIGKILL when a script overruns. */
export const SCRIPT_KILL_GRACE_MS_DEFAULT = 2_000;
/**
 * After the script exits, how long to keep reading its output. A background process it left
 * behind may hold the pipes open indefinitely; the exit status is what decides the outcome.
 */
const EXIT_DRAIN_MS = 200;

/** The settings a script needs; `type` may be present, as in a `ScriptHandlerConfig`. */
export type ScriptSettings = Omit<ScriptHandlerConfig, 'type'> & { readonly type?: 'script' };

/** Tuning for tests and embedding. */
export interface ScriptHandlerOptions {
  /** Environment the event variables are added to; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Time between SIGTERM and SIGKILL after a time-out. Default 2000. */
  killGraceMs?: number;
  /** Working directory of the script; default the current one. */
  cwd?: string;
}

/** What a finished run looked like. */
interface RunOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The signal we sent because of the time-out, if any. */
  timedOutWith: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
}

/** Runs `command` once per delivery; exit code 0 is success. */
export class ScriptHandler implements EventHandler {
  readonly name: string;
  readonly maxAttempts: number;
  private readonly command: string;
  private readonly timeoutMs: number;
  private readonly killGraceMs: number;
  /** Runs in progress, so that `close()` can stop them. */
  private readonly running = new Set<{ stop(): void; done: Promise<unknown> }>();

  constructor(
    name: string,
    settings: ScriptSettings,
    private readonly options: ScriptHandlerOptions = {},
  ) {
    if (settings.command === '') throw new TypeError(`script ${JSON.stringify(name)}: command must not be empty`);
    if (!Number.isSafeInteger(settings.timeoutMs) || settings.timeoutMs < 1) {
      throw new RangeError(`script ${JSON.stringify(name)}: timeoutMs must be a positive integer`);
    }
    this.name = name;
    this.maxAttempts = settings.maxAttempts;
    this.command = settings.command;
    this.timeoutMs = settings.timeoutMs;
    this.killGraceMs = options.killGraceMs ?? SCRIPT_KILL_GRACE_MS_DEFAULT;
  }

  /** Resolves when the script exits with code 0; throws an {@link EventDeliveryError} otherwise. */
  async deliver(event: CryptoAssetsEvent): Promise<void> {
    const json = JSON.stringify(event);
    const env = {
      ...(this.options.env ?? process.env),
      CRYPTOASSETS_EVENT_NAME: event.name,
      CRYPTOASSETS_EVENT_ID: event.id,
      CRYPTOASSETS_EVENT_DATA: json,
    };
    let child: ChildProcess;
    try {
      child = spawn(this.command, [], {
        env,
        cwd: this.options.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
        shell: false,
        // Its own process group: a time-out can then signal the script and everything it started.
        detached: process.platform !== 'win32',
        windowsHide: true,
      });
    } catch (error) {
      // spawn throws synchronously only for invalid arguments (e.g. a NUL byte in the command).
      throw this.failure(`cannot run ${this.command}: ${(error as Error).message}`, error);
    }
    const outcome = await this.supervise(child, `${json}\n`);
    if (outcome instanceof Error) throw this.failure(`cannot run ${this.command}: ${spawnReason(outcome)}`, outcome);
    if (outcome.timedOutWith === null && outcome.code === 0) return;
    throw this.failure(describeOutcome(this.command, this.timeoutMs, outcome));
  }

  /** Stops every script still running (SIGKILL) and waits until they are gone. */
  async close(): Promise<void> {
    const runs = [...this.running];
    for (const run of runs) run.stop();
    await Promise.all(runs.map((run) => run.done.catch(() => undefined)));
  }

  /** Feeds stdin, drains output, enforces the time limit; resolves once the process is gone. */
  private supervise(child: ChildProcess, input: string): Promise<RunOutcome | Error> {
    const stdout = new TailBuffer(SCRIPT_OUTPUT_TAIL_BYTES);
    const stderr = new TailBuffer(SCRIPT_OUTPUT_TAIL_BYTES);
    let timedOutWith: NodeJS.Signals | null = null;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    const timers: NodeJS.Timeout[] = [];
    const signalGroup = (signal: NodeJS.Signals): void => killGroup(child, signal);
    let run: { stop(): void; done: Promise<unknown> };

    const done = new Promise<RunOutcome | Error>((resolve) => {
      let settled = false;
      const settle = (value: RunOutcome | Error): void => {
        if (settled) return;
        settled = true;
        for (const timer of timers) clearTimeout(timer);
        this.running.delete(run);
        resolve(value);
      };
      child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
      // A script that never reads stdin closes the pipe early (EPIPE): that is its right, not a failure.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(input);
      child.on('error', (error) => {
        // 'error' without 'exit' means the process never started (ENOENT, EACCES).
        if (exit === null) settle(error);
      });
      child.on('exit', (code, signal) => {
        exit = { code, signal };
        timers.push(
          setTimeout(() => {
            child.stdout?.destroy();
            child.stderr?.destroy();
          }, EXIT_DRAIN_MS),
        );
      });
      child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
        const final = exit ?? { code, signal };
        settle({ ...final, timedOutWith, stdout: stdout.text(), stderr: stderr.text() });
      });
      timers.push(
        setTimeout(() => {
          if (exit !== null) return;
          timedOutWith = 'SIGTERM';
          signalGroup('SIGTERM');
          timers.push(
            setTimeout(() => {
              if (exit !== null) return;
              timedOutWith = 'SIGKILL';
              signalGroup('SIGKILL');
            }, this.killGraceMs),
          );
        }, this.timeoutMs),
      );
    });
    run = { stop: () => signalGroup('SIGKILL'), done };
    this.running.add(run);
    return done;
  }

  private failure(reason: string, cause?: unknown): EventDeliveryError {
    return new EventDeliveryError(this.name, `script ${JSON.stringify(this.name)}: ${reason}`, cause === undefined ? undefined : { cause });
  }
}

/** Signals the script's whole process group; falls back to the script alone. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    if (process.platform === 'win32') child.kill(signal);
    else process.kill(-child.pid, signal);
  } catch {
    // ESRCH: everything in the group has already exited.
  }
}

function spawnReason(error: Error): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'ENOENT') return 'no such file (or not found on PATH)';
  if (code === 'EACCES') return 'permission denied (is it executable?)';
  return error.message;
}

/** One line that says how the run ended, then the end of what it printed. */
function describeOutcome(command: string, timeoutMs: number, outcome: RunOutcome): string {
  const how =
    outcome.timedOutWith !== null
      ? `did not finish within ${timeoutMs} ms and was stopped with ${outcome.timedOutWith}`
      : outcome.signal !== null
        ? `was killed by signal ${outcome.signal}`
        : `exited with code ${outcome.code}`;
  // Scripts often report errors on stdout; quote it when stderr has nothing to say.
  const output = outcome.stderr ? `; stderr: ${outcome.stderr}` : outcome.stdout ? `; stdout: ${outcome.stdout}` : '; no output';
  return `${command} ${how}${output}`;
}
