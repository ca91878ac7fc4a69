/**
 * `npm run simulate` — the deterministic simulator of the ledger, the helper service and a
 * hostile chain. See docs/architecture.md, "What the simulator proves".
 *
 *   npm run simulate                          seed 1, 300 steps
 *   npm run simulate -- --seed 42 --steps 500 one seed (the replay command a failure prints)
 *   npm run simulate -- --seeds 1000          seeds 1..1000
 *   npm run simulate -- --seeds 100 --from 500  seeds 500..599
 *   --quiet                                   no line per seed, only failures and the summary
 *   --trace                                   print every step as it runs
 *
 * Exit code 0 when every run passed every check, 1 when any failed, 2 for bad arguments.
 */
import { describeFailure, describeRun, replayCommand } from './report.js';
import { runSimulation, type SimulationResult } from './simulation.js';
import { RunStats } from './stats.js';

/** Steps per run unless `--steps` says otherwise. */
const DEFAULT_STEPS = 300;

interface Arguments {
  readonly seeds: number[];
  readonly steps: number;
  readonly quiet: boolean;
  readonly trace: boolean;
}

function parseArguments(argv: readonly string[]): Arguments {
  let seed: number | undefined;
  let count: number | undefined;
  let from = 1;
  let steps = DEFAULT_STEPS;
  let quiet = false;
  let trace = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): number => {
      const text = argv[++i];
      const number = Number(text);
      if (text === undefined || !Number.isSafeInteger(number) || number < 0)
        throw new Error(`${flag} needs a non-negative integer, got ${String(text)}`);
      return number;
    };
    if (flag === '--seed') seed = value();
    else if (flag === '--seeds') count = value();
    else if (flag === '--from') from = value();
    else if (flag === '--steps') steps = value();
    else if (flag === '--quiet') quiet = true;
    else if (flag === '--trace') trace = true;
    else throw new Error(`unknown argument ${String(flag)}`);
  }
  if (seed !== undefined && count !== undefined) throw new Error('give --seed or --seeds, not both');
  const seeds = seed !== undefined ? [seed] : Array.from({ length: count ?? 1 }, (_, index) => from + index);
  return { seeds, steps, quiet, trace };
}

async function main(): Promise<number> {
  let args: Arguments;
  try {
    args = parseArguments(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const started = performance.now();
  const total = new RunStats();
  const failed: SimulationResult[] = [];
  for (const seed of args.seeds) {
    const result = await runSimulation({
      seed,
      steps: args.steps,
      ...(args.trace ? { onTrace: (line: string) => console.log(line) } : {}),
    });
    total.add(result.stats);
    if (!args.quiet || result.failure) console.log(describeRun(result));
    if (result.failure) {
      failed.push(result);
      console.log(describeFailure(result));
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `\n${args.seeds.length} run(s) of ${args.steps} steps in ${seconds.toFixed(1)} s: ${args.seeds.length - failed.length} passed, ${failed.length} failed`,
  );
  console.log(
    `totals: ${total
      .entries()
      .map(([name, value]) => `${name} ${value}`)
      .join(', ')}`,
  );
  for (const result of failed) console.log(`  failed: seed ${result.seed} (${result.failure!.check}) — ${replayCommand(result)}`);
  return failed.length > 0 ? 1 : 0;
}

// Output piped into `head` and the like: stop quietly when the reader goes away.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});
process.exitCode = await main();
