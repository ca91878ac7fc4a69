/**
 * `npm run bench [-- --quick] [-- --markdown] [-- --only transfers,batches,…]`
 *
 * Runs the scenarios, prints their tables and then the goals table (every figure with a goal of
 * issue 11: ours, the limit measured in the same run, the ratio, the verdict) to stdout — as
 * Markdown with `--markdown`, ready for docs/benchmarks.md — and writes the same figures, with the
 * machine they were measured on, to bench/results/latest.json (ignored by git). Progress goes to stderr. Every database, node,
 * service process and temporary file it starts is cleaned up, also on failure.
 * See docs/benchmarks.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext } from './lib/context.js';
import { progress } from './lib/log.js';
import { machineFacts, machineMarkdown, machineText } from './lib/machine.js';
import { NodeFixture } from './lib/node-fixture.js';
import { adminUrl, BENCH_POSTGRES_URL, dropDatabase, postgresAvailable } from './lib/postgres.js';
import { writeReport } from './lib/results.js';
import { type Format, renderGoals, renderTable } from './lib/table.js';
import { now } from './lib/timing.js';
import type { Mode, ScenarioResult } from './lib/types.js';
import { batchesScenario } from './scenarios/batches.js';
import { depositsScenario } from './scenarios/deposits.js';
import { pollingScenario } from './scenarios/polling.js';
import { sqliteProcessesScenario } from './scenarios/sqlite-processes.js';
import { transfersScenario } from './scenarios/transfers.js';
import { withdrawalsScenario } from './scenarios/withdrawals.js';

const SCENARIOS = {
  transfers: transfersScenario,
  batches: batchesScenario,
  'sqlite-processes': sqliteProcessesScenario,
  withdrawals: withdrawalsScenario,
  deposits: depositsScenario,
  polling: pollingScenario,
} as const;
type ScenarioName = keyof typeof SCENARIOS;
/** Other names for scenarios: memory is measured during the intake, the sync round is the old polling row. */
const ALIASES: Readonly<Record<string, ScenarioName>> = { memory: 'deposits', sync: 'polling' };
const NAMES = Object.keys(SCENARIOS) as ScenarioName[];

const USAGE = `usage: npm run bench -- [--quick] [--markdown] [--only ${NAMES.join('|')}[,…]] [--out FILE]
  --quick     smaller workloads, about 2 minutes on 2 cores
  --markdown  print the tables as Markdown (for docs/benchmarks.md)
  --only      run only these scenarios (comma-separated or repeated); aliases: memory = deposits, sync = polling
  --out       also write the JSON there (bench/results/latest.json is always written)`;

interface Options {
  readonly mode: Mode;
  readonly only: readonly ScenarioName[];
  readonly out: string | undefined;
  readonly format: Format;
}

function parseArgs(argv: readonly string[]): Options {
  let mode: Mode = 'full';
  const only: ScenarioName[] = [];
  let out: string | undefined;
  let format: Format = 'text';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--quick') mode = 'quick';
    else if (arg === '--full') mode = 'full';
    else if (arg === '--markdown') format = 'markdown';
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const list = arg.startsWith('--only=') ? arg.slice('--only='.length) : value();
      for (const name of list
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean)) {
        const key = ALIASES[name] ?? name;
        if (!(NAMES as string[]).includes(key)) throw new Error(`unknown scenario ${JSON.stringify(name)}; one of ${NAMES.join(', ')}`);
        if (!only.includes(key as ScenarioName)) only.push(key as ScenarioName);
      }
    } else if (arg === '--out') out = value();
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
  }
  return { mode, only: only.length > 0 ? NAMES.filter((n) => only.includes(n)) : NAMES, out, format };
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const started = now();
  const loadAtStart = loadavg()[0] ?? Number.NaN;
  const tmpDir = mkdtempSync(join(tmpdir(), 'cryptoassets-bench-'));
  const postgresProblem = await postgresAvailable();
  let fixture: NodeFixture | undefined;
  let fixtureStart: Promise<NodeFixture> | undefined;
  const context: BenchContext = {
    mode: options.mode,
    tmpDir,
    postgres: postgresProblem === undefined ? { url: BENCH_POSTGRES_URL } : { unavailable: `PostgreSQL not reachable: ${postgresProblem}` },
    node: () => (fixtureStart ??= NodeFixture.start(join(tmpDir, 'node'), options.mode).then((started) => (fixture = started))),
  };
  progress(`mode ${options.mode}; scenarios ${options.only.join(', ')}`);
  const results: ScenarioResult[] = [];
  let failed = false;
  // Interrupted: finish cleaning up (in a terminal the node and the service got the signal too,
  // so the scenario under way fails quickly). A second signal exits at once; the exit hooks
  // still kill the node and the service process, and the temporary directory goes.
  process.on('exit', () => rmSync(tmpDir, { recursive: true, force: true }));
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    process.exitCode = 130;
    if (signals > 1) process.exit(130);
    progress(`${signal}: stopping after cleaning up (again to exit at once)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (const name of options.only) {
      if (process.exitCode === 130) break;
      progress(`scenario ${name}: start`);
      const scenarioStart = now();
      try {
        const result = await SCENARIOS[name](context);
        results.push(result);
        progress(`scenario ${name}: done in ${((now() - scenarioStart) / 1000).toFixed(1)} s`);
      } catch (error) {
        failed = true;
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        progress(`scenario ${name}: FAILED: ${message}`);
        results.push({
          scenario: name,
          title: `${name} (failed)`,
          figures: [],
          skipped: [`failed: ${String(error)}`],
          seconds: (now() - scenarioStart) / 1000,
        });
      }
    }
  } finally {
    if (fixtureStart) {
      progress('stopping the regtest node');
      await fixtureStart.then((f) => f.stop()).catch(() => fixture?.stop());
    }
    if ('url' in context.postgres) await dropDatabase(context.postgres.url);
    rmSync(tmpDir, { recursive: true, force: true });
  }
  const machine = await machineFacts(adminUrl());
  const totalSeconds = (now() - started) / 1000;
  const report = {
    mode: options.mode,
    command: `npm run bench${options.mode === 'quick' || options.only.length < NAMES.length ? ' --' : ''}${options.mode === 'quick' ? ' --quick' : ''}${
      options.only.length < NAMES.length ? ` --only ${options.only.join(',')}` : ''
    }`,
    machine: { ...machine, loadAverage1mAtStart: loadAtStart },
    totalSeconds,
    scenarios: results,
  };
  const here = dirname(fileURLToPath(import.meta.url));
  writeReport(join(here, 'results', 'latest.json'), report);
  if (options.out) writeReport(options.out, report);
  const tables = `${renderTable(results, options.format)}\n${renderGoals(results, options.format)}`;
  process.stdout.write(
    `${options.format === 'markdown' ? machineMarkdown(report.command, report.machine) : machineText(options.mode, report.machine)}` +
      'ratio = ours / baseline (the limit), both measured in this run\n' +
      tables +
      `\ntotal ${totalSeconds.toFixed(1)} s; JSON in bench/results/latest.json\n`,
  );
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = process.exitCode === 130 ? 130 : code;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
