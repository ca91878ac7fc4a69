/**
 * Review of issue 9: bad input to the event commands is one line and a usage exit, never a stack.
 * - `redeliver --event abc` ended in "internal error" with a stack trace (exit 70): the library
 *   threw a bare RangeError for a malformed event id, not a typed error.
 * - `dead-letters --handler typo` answered "no dead letters" (exit 0): a typo hid the dead letters
 *   that `redeliver` — which refuses an unknown handler — exists to deal with.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { runCli } from '../../src/cli/program.js';
import { BTC } from '../../src/domain/coins.js';
import { InvalidArgument } from '../../src/domain/errors.js';
import { createTestDatabase, enginesUnderTest } from '../helpers/engines.js';

const engines = await enginesUnderTest();
const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-review9-events-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'cryptoassets', ...args], { out: (text) => (out += text), err: (text) => (err += text), env: {} });
  return { code, out, err };
}

describe.each(engines)('review9: event commands on %s', (engine) => {
  it('refuse a malformed event id and an unknown handler with one line and exit 64', async () => {
    const database = await createTestDatabase(engine);
    try {
      const app = await CryptoAssets.open({
        database: database.options,
        coins: [{ coin: BTC, network: BTC.networks.regtest! }],
        migrate: true,
      });
      try {
        await expect(app.events.redeliver('hook', 'abc')).rejects.toBeInstanceOf(InvalidArgument);
        await expect(app.events.after('-1')).rejects.toBeInstanceOf(InvalidArgument);
        await expect(app.events.after('99999999999999999999')).rejects.toBeInstanceOf(InvalidArgument);
      } finally {
        await app.close();
      }
      const url = engine === 'sqlite' ? `sqlite:${database.location}` : database.location;
      const path = join(dir, `config-${engine}.yaml`);
      writeFileSync(
        path,
        `database:\n  url: "${url}"\ncoins:\n  btc: {network: regtest, backend: {type: memory}}\n` +
          'events:\n  hook: {type: webhook, url: "http://127.0.0.1:9/x", secret: "0123456789abcdef0123456789abcdef"}\n',
      );
      for (const event of ['abc', '-5', '9999999999999999999']) {
        const result = await cli(['redeliver', '-c', path, '--handler', 'hook', '--event', event]);
        expect(result.code).toBe(64);
        expect(result.err.trim().split('\n')).toHaveLength(1);
        expect(result.err).not.toMatch(/internal error/);
      }
      const typo = await cli(['dead-letters', '-c', path, '--handler', 'hoook']);
      expect(typo.code).toBe(64);
      expect(typo.err).toMatch(/configured: hook/);
    } finally {
      await database.drop();
    }
  });
});
