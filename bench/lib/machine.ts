/** Facts about the machine and the software the figures were measured with. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { LITECOIND_PATH } from '../../src/devtools/regtest-node.js';

const run = promisify(execFile);

export interface MachineFacts {
  readonly date: string;
  readonly cpuCount: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly os: string;
  readonly kernel: string;
  readonly node: string;
  readonly sqlite: string;
  readonly postgres: string;
  readonly litecoind: string;
  /** 1-minute load average when the facts were taken (other jobs on a shared machine show here). */
  readonly loadAverage1m: number;
}

function osName(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function sqliteVersion(): string {
  const db = new BetterSqlite3(':memory:');
  try {
    return (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  } finally {
    db.close();
  }
}

async function postgresVersion(adminUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    const result = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    return result.rows[0]?.v ?? 'unknown';
  } catch (error) {
    return `unavailable (${(error as Error).message})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function litecoindVersion(): Promise<string> {
  try {
    // The real binary, not the /usr/bin wrapper that writes ~/.litecoin first.
    const { stdout } = await run(LITECOIND_PATH, ['-version'], { timeout: 10_000 });
    return stdout.split('\n')[0]?.replace(/^Litecoin Core version /, '') ?? 'unknown';
  } catch (error) {
    return `unavailable (${(error as Error).message.split('\n')[0]})`;
  }
}

export async function machineFacts(postgresAdminUrl: string): Promise<MachineFacts> {
  const cpuList = cpus();
  return {
    date: new Date().toISOString(),
    cpuCount: cpuList.length,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: osName(),
    kernel: release(),
    node: process.version,
    sqlite: sqliteVersion(),
    postgres: await postgresVersion(postgresAdminUrl),
    litecoind: await litecoindVersion(),
    loadAverage1m: loadavg()[0] ?? Number.NaN,
  };
}

/** The facts with the load at start, as the report stores them. */
export type RunMachine = MachineFacts & { readonly loadAverage1mAtStart: number };

/** Two lines for the plain-text report. */
export function machineText(mode: string, m: RunMachine): string {
  return (
    `cryptoassets benchmark, ${mode} mode, ${m.date}\n` +
    `${m.cpuCount} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}, ` +
    `SQLite ${m.sqlite}, PostgreSQL ${m.postgres}, Litecoin Core ${m.litecoind}; ` +
    `load average at start ${m.loadAverage1mAtStart.toFixed(2)}, at end ${m.loadAverage1m.toFixed(2)}\n`
  );
}

/** The machine table of docs/benchmarks.md. */
export function machineMarkdown(command: string, m: RunMachine): string {
  const rows = [
    ['command', `\`${command}\``],
    ['date', m.date],
    ['CPU', `${m.cpuCount} × ${m.cpuModel}`],
    ['memory', `${m.memoryGiB} GiB`],
    ['OS', `${m.os}, kernel ${m.kernel}`],
    ['Node', m.node],
    ['SQLite', `${m.sqlite} (better-sqlite3)`],
    ['PostgreSQL', `${m.postgres}, 127.0.0.1`],
    ['Litecoin Core', `${m.litecoind} (regtest)`],
    ['load average (1 min)', `${m.loadAverage1mAtStart.toFixed(2)} at start, ${m.loadAverage1m.toFixed(2)} at end`],
  ];
  return `| machine | |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n\n`;
}
