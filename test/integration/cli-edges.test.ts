/**
 * The rough edges a newcomer hits first, each through the command line as users run it: one line
 * on stderr, the documented exit code, no stack trace, no secret, and nothing written by a command
 * that failed.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';

const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-edges-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'cryptoassets', ...args], {
    out: (text) => (out += text),
    err: (text) => (err += text),
    env,
  });
  return { code, out, err };
}

function configFile(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
}

/** A configuration with one coin on the in-memory chain and this database URL. */
function withDatabase(name: string, url: string, extra = ''): string {
  return configFile(name, `database:\n  url: "${url}"\n${extra}coins:\n  btc:\n    network: regtest\n    backend: {type: memory}\n`);
}

/** One line on stderr naming the failure, the exit code, nothing on stdout, no stack trace, no secret. */
function expectOneLine(result: Outcome, code: number, pattern: RegExp, secrets: readonly string[] = []): void {
  expect(result.err).toMatch(/^cryptoassets: [^\n]+\n$/);
  expect(result.err).toMatch(pattern);
  expect(result.err).not.toMatch(/internal error|\n\s+at /);
  expect(result.out).toBe('');
  for (const secret of secrets) expect(result.err).not.toContain(secret);
  expect(result.code).toBe(code);
}

describe('configuration mistakes', () => {
  it('names a misspelt top-level key (and suggests the right one), exit 78, opening nothing', async () => {
    const database = join(dir, 'typo.sqlite');
    const path = configFile('typo.yaml', `databse:\n  url: sqlite:${database}\ncoins:\n  btc:\n    network: regtest\n    backend: {type: memory}\n`);
    const result = await cli(['initialize-database', '-c', path]);
    expectOneLine(result, 78, /^cryptoassets: config: databse: unknown key; did you mean database\? \(allowed here: database, coins, events, status_server, service\) \(and 1 more problem\)\n$/);
    expect(existsSync(database)).toBe(false);
  });

  it.each([
    ['not a number', 'hunter2-s3cret', /coins\.btc\.minimum_withdrawal: expected decimal text of whole coins, e\.g\. "0\.0001"$/m],
    ['too many decimals', '0.000000001234567', /coins\.btc\.minimum_withdrawal: has more than the coin's 8 decimals$/m],
    ['negative', '-0.0424242', /coins\.btc\.minimum_withdrawal: must not be negative$/m],
    ['too large', '987654321987654321', /coins\.btc\.minimum_withdrawal: exceeds what a 64-bit balance can hold/m],
  ])('does not print the value of minimum_withdrawal: ${VAR} when it is invalid (%s), exit 78', async (_name, value, pattern) => {
    const database = join(dir, 'minimum.sqlite');
    const path = configFile(
      'minimum.yaml',
      `database:\n  url: sqlite:${database}\ncoins:\n  btc:\n    network: regtest\n    minimum_withdrawal: \${MINIMUM}\n    backend: {type: memory}\n`,
    );
    const result = await cli(['initialize-database', '-c', path], { MINIMUM: value });
    const digits = value.replace(/^-?0?\.?0*/, '');
    // Neither the value nor its digits in any other form (base units, say).
    expectOneLine(result, 78, pattern, [value, digits.slice(0, 6)]);
    expect(existsSync(database)).toBe(false);
  });
});
