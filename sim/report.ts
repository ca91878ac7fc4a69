/** How a run is told: one line per run, and a failure with the command that replays it. */
import type { SimulationResult } from './simulation.js';

/** The command that replays one run. */
export function replayCommand(result: Pick<SimulationResult, 'seed' | 'steps'>): string {
  return `npm run simulate -- --seed ${result.seed} --steps ${result.steps}`;
}

/** The per-run line: seed, steps, time, faults by kind, crashes, takeovers. */
export function describeRun(result: SimulationResult): string {
  const stats = result.stats;
  const faults = stats
    .entries()
    .filter(([name]) => name.startsWith('fault: '))
    .map(([name, value]) => `${name.slice('fault: '.length)} ${value}`)
    .join(', ');
  return (
    `seed ${result.seed}: ${result.failure ? 'FAILED' : 'ok'}, ${result.steps} steps, ${(result.millis / 1000).toFixed(2)} s, ` +
    `crashes ${stats.get('crashes')} (+${stats.get('kills at rest')} kills at rest), stalls ${stats.get('stalls')}, ` +
    `takeovers ${stats.get('takeovers')}, sends ${stats.get('sends accepted')}, deposit windows ${stats.get('deposit windows')}, ` +
    `digest ${result.digest}; faults: ${faults || 'none'}`
  );
}

/** A failure, with the command that replays it. */
export function describeFailure(result: SimulationResult): string {
  const failure = result.failure!;
  const where = failure.step > result.steps ? 'in the settle phase' : `at step ${failure.step}`;
  return [
    `FAILED seed ${result.seed} ${where}: ${failure.check}`,
    `  ${failure.detail}`,
    `  replay: ${replayCommand(result)}`,
    '  last steps:',
    ...failure.trace.map((line) => `    ${line}`),
    '  last service log lines:',
    ...failure.log.map((line) => `    ${line}`),
  ].join('\n');
}
