/**
 * The helper service as its own operating-system process (`cryptoassets service -c FILE`, run
 * from the TypeScript sources through tsx's loader), so that its memory is measured alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sleep, waitFor } from './timing.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface MemoryFacts {
  /** Resident set size now, MiB. */
  readonly rssMiB: number;
  /** Peak resident set size since the process started (VmHWM), MiB. */
  readonly peakMiB: number;
}

export class ServiceProcess {
  private output = '';
  private constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => this.append(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.append(chunk));
  }

  /** Write `config` (JSON is YAML) to `path` and start the service on it. */
  static start(configPath: string, config: unknown): ServiceProcess {
    writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'service', '-c', configPath], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: undefined },
    });
    // Never leave the service behind if the benchmark itself dies.
    const kill = () => child.kill('SIGKILL');
    process.once('exit', kill);
    child.once('exit', () => process.off('exit', kill));
    return new ServiceProcess(child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** The last few kB of its log. */
  get log(): string {
    return this.output;
  }

  /** Wait for a log line containing `text`; fails if the process exits first. */
  async waitForLog(text: string, timeoutMs: number): Promise<void> {
    await waitFor(
      () => {
        if (this.exited)
          throw new Error(`the service exited (${this.child.exitCode ?? this.child.signalCode}): ${this.output.slice(-2000)}`);
        return this.output.includes(text);
      },
      timeoutMs,
      `the service to log ${JSON.stringify(text)}; log: ${this.output.slice(-1000)}`,
    );
  }

  memory(): MemoryFacts {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
  }

  /** SIGTERM and wait (SIGKILL after 30 s). */
  async stop(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await done;
    clearTimeout(timer);
    await sleep(10);
  }

  private append(chunk: Buffer): void {
    this.output = (this.output + chunk.toString('utf8')).slice(-200_000);
  }
}
