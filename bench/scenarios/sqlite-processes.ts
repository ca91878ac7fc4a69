/**
 * Scenario 3 — SQLite, 4 and 8 operating-system processes transferring on one ledger file with
 * the library's default settings (WAL, synchronous=FULL, its own busy handling and re-runs).
 * Each process makes a fixed number of random transfers among 1,000 accounts (quick 150, full
 * 500) once all of them are ready; counted, not timed: transfers given up
 * (CannotResolveDatabaseConflict; goal 0) and conflict re-runs. The rate is reported beside the
 * same processes making the minimal transfer by hand, waiting on the file lock (busy_timeout).
 * Any other error in a process fails the scenario. The ledger check runs over the file at the end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CryptoAssets } from '../../src/app.js';
import { LTC } from '../../src/domain/coins.js';
import type { BenchContext } from '../lib/context.js';
import { createFundedAccounts } from '../lib/ledger-setup.js';
import { progress } from '../lib/log.js';
import { now } from '../lib/timing.js';
import { type Figure, figure, type ScenarioResult } from '../lib/types.js';
import { ACCOUNTS, FUND_EACH, WALLET } from './transfers.js';

const WORKER = fileURLToPath(new URL('../lib/sqlite-transfer-worker.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface WorkerResult {
  readonly done: number;
  readonly gaveUp: number;
  readonly retries: number;
  readonly ms: number;
}

interface RunResult {
  readonly done: number;
  readonly gaveUp: number;
  readonly retries: number;
  readonly perSecond: number;
}

/** A worker process and its output; killed if the benchmark dies first. */
function startWorker(args: readonly string[]): { child: ChildProcess; output: () => string; errors: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.off('exit', kill));
  return { child, output: () => stdout, errors: () => stderr };
}

/** Start `processes` workers, release them together once all are ready, and sum what they did. */
async function runProcesses(
  path: string,
  side: 'ours' | 'limit',
  processes: number,
  each: number,
  ids: readonly number[],
): Promise<RunResult> {
  const workers = Array.from({ length: processes }, () => startWorker([path, side, String(each), ids.join(',')]));
  const exits = workers.map(async (w) => {
    const [code] = (await once(w.child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`a ${side} worker exited with ${code}: ${w.errors()}`);
    return JSON.parse(w.output().trim().split('\n').pop()!) as WorkerResult;
  });
  // A worker that dies before it is ready fails the run through its exit, not a hang.
  const ready = Promise.all(
    workers.map(async (w) => {
      while (!w.output().includes('ready\n')) await once(w.child.stdout!, 'data');
    }),
  );
  await Promise.race([ready, Promise.all(exits)]);
  for (const w of workers) w.child.stdin!.end('go\n');
  const results = await Promise.all(exits);
  const done = results.reduce((sum, r) => sum + r.done, 0);
  return {
    done,
    gaveUp: results.reduce((sum, r) => sum + r.gaveUp, 0),
    retries: results.reduce((sum, r) => sum + r.retries, 0),
    perSecond: (done / Math.max(...results.map((r) => r.ms))) * 1000,
  };
}

export async function sqliteProcessesScenario(context: BenchContext): Promise<ScenarioResult> {
  const started = now();
  const path = join(context.tmpDir, 'processes.sqlite');
  const each = context.mode === 'quick' ? 150 : 500;
  const app = await CryptoAssets.open({
    database: { kind: 'sqlite', path },
    coins: [{ coin: LTC, network: LTC.networks.regtest! }],
    migrate: true,
  });
  const figures: Figure[] = [];
  try {
    const ids = await createFundedAccounts(app, 'ltc', WALLET, ACCOUNTS, FUND_EACH);
    for (const processes of [4, 8]) {
      progress(`sqlite-processes: ${processes} processes × ${each} transfers`);
      const ours = await runProcesses(path, 'ours', processes, each, ids);
      const limit = await runProcesses(path, 'limit', processes, each, ids);
      figures.push(
        figure({
          scenario: 'sqlite-processes',
          name: `SQLite, ${processes} processes on one file, default settings`,
          unit: 'transfers/s',
          ours: ours.perSecond,
          baseline: limit.perSecond,
          baselineLabel: 'the same processes, minimal transfer by hand, busy_timeout 30 s',
          better: 'higher',
          n: processes * each,
          goal: { text: `0 given up (${ours.gaveUp} of ${(processes * each).toLocaleString('en-US')} given up)`, met: ours.gaveUp === 0 },
          extra: { gaveUpOurs: ours.gaveUp, conflictRerunsOurs: ours.retries, transfersOurs: ours.done, transfersLimit: limit.done },
        }),
      );
    }
    const check = (await app.verifyLedger()).ok;
    return {
      scenario: 'sqlite-processes',
      title: '3. SQLite, several processes on one file',
      figures: figures.map((f) => ({ ...f, extra: { ...f.extra, ledgerCheck: check } })),
      skipped: [],
      seconds: (now() - started) / 1000,
    };
  } finally {
    await app.close();
  }
}
