/**
 * The deterministic simulator (sim/, `npm run simulate`) over a fixed set of seeds: two helper
 * services, the application and a hostile chain, with crashes, pauses, takeovers, reorganisations,
 * double spends and node faults; the auditor checks the ledger against the chain after every step
 * and after the settle phase (docs/architecture.md, "What the simulator proves"). A failure names
 * the seed, the step, the check and the command that replays it.
 */
import { describe, expect, it } from 'vitest';
import { describeFailure } from '../../sim/report.js';
import { runSimulation } from '../../sim/simulation.js';

/** Seeds 1…SEEDS, each a run of STEPS steps, in sequence: about 1½ minutes on 2 shared cores. */
const SEEDS = 200;
const STEPS = 150;

describe('the simulator', () => {
  it(`keeps every guarantee over seeds 1..${SEEDS} (${STEPS} steps each)`, async () => {
    const failures: string[] = [];
    let crashes = 0;
    let takeovers = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const result = await runSimulation({ seed, steps: STEPS });
      if (result.failure) failures.push(describeFailure(result));
      crashes += result.stats.get('crashes');
      takeovers += result.stats.get('takeovers');
    }
    expect(failures.join('\n\n')).toBe('');
    // The runs must have done what they are for, not passed by doing nothing.
    expect(crashes).toBeGreaterThan(SEEDS / 2);
    expect(takeovers).toBeGreaterThan(SEEDS);
  }, 600_000);

  it('replays a seed exactly', async () => {
    const first = await runSimulation({ seed: 7, steps: 120 });
    const again = await runSimulation({ seed: 7, steps: 120 });
    expect(again.digest).toBe(first.digest);
    expect(again.stats.entries()).toEqual(first.stats.entries());
    const other = await runSimulation({ seed: 8, steps: 120 });
    expect(other.digest).not.toBe(first.digest);
  });
});
