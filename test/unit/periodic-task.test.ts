/**
 * A failing periodic task is logged when the failure starts, when its message changes and when
 * it ends — not once per round — while every round still counts in its status.
 */
import { expect, it } from 'vitest';
import { PeriodicTask } from '../../src/service/periodic-task.js';

it('logs a lasting failure once, again when it changes, and its end; counts every round', async () => {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const log = {
    info: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'info', msg, fields }),
    warn: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'warn', msg, fields }),
    error: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'error', msg, fields }),
  };
  // Rounds 1–5 fail with one error, 6–8 with another, then it works.
  let round = 0;
  const task = new PeriodicTask(
    'ltc:sync',
    1,
    async () => {
      round++;
      if (round <= 5) throw new Error('connect ECONNREFUSED');
      if (round <= 8) throw new Error('RPC error -28: loading block index');
    },
    log,
  );
  const until = async (done: () => boolean) => {
    while (!done()) await new Promise((resolve) => setTimeout(resolve, 1));
  };
  task.start();
  await until(() => task.status().runs >= 5);
  expect(task.status()).toMatchObject({ failures: 5, consecutiveFailures: 5, lastError: 'connect ECONNREFUSED' });
  await until(() => task.status().runs >= 10);
  await task.stop();
  expect(task.status()).toMatchObject({ failures: 8, consecutiveFailures: 0, lastError: null });
  expect(lines.map((line) => [line.level, line.fields.err ?? line.fields.failedRounds])).toEqual([
    ['error', 'connect ECONNREFUSED'],
    ['error', 'RPC error -28: loading block index'],
    ['info', 8],
  ]);
});
