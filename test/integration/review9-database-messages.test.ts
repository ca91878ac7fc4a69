/**
 * Review of issue 9: what the commands print when the database cannot be reached.
 * - libpq and node-postgres take the password from the URL's query (`?password=…`) as well as from
 *   its user-info part; only the latter was redacted, so the secret was printed.
 * - `doctor` reported an unreachable database as a `schema` failure and printed no `database`
 *   line at all, so the line an operator looks for was missing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { redactUrlPassword, redactUrlSecrets } from '../../src/domain/urls.js';

const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-review9-db-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[], env: Record<string, string>) {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'cryptoassets', ...args], { out: (text) => (out += text), err: (text) => (err += text), env });
  return { code, out, err };
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function config(): string {
  const path = join(dir, 'config.yaml');
  writeFileSync(path, 'database:\n  url: "${DATABASE_URL}"\ncoins:\n  btc: {network: regtest, backend: {type: memory}}\n');
  return path;
}

it('never prints a password given in the PostgreSQL URL query (?password=)', async () => {
  const env = { DATABASE_URL: `postgresql://127.0.0.1:${await closedPort()}/ledger?user=app&password=hunter2` };
  for (const command of ['balances', 'initialize-database', 'doctor']) {
    const result = await cli([command, '-c', config()], env);
    expect(result.code).not.toBe(0);
    expect(`${result.out}${result.err}`).toMatch(/connection refused/);
    expect(`${result.out}${result.err}`).not.toContain('hunter2');
  }
  expect(redactUrlPassword('postgresql://h/db?sslmode=require&password=hunter2')).toBe('postgresql://h/db?sslmode=require&password=***');
});

it('doctor names an unreachable database as a failed database check', async () => {
  const result = await cli(['doctor', '-c', config()], { DATABASE_URL: `postgresql://app@127.0.0.1:${await closedPort()}/ledger` });
  expect(result.code).toBe(1);
  expect(result.out).toMatch(/^FAIL database: .*connection refused/m);
});

it('doctor shows a webhook target without the token in its query', async () => {
  expect(redactUrlSecrets('https://u:pw@hooks.example/in?token=s3cret&x=1#f')).toBe('https://u:***@hooks.example/in?token=***&x=***#f');
  expect(redactUrlSecrets('https://hooks.example/in')).toBe('https://hooks.example/in');
  const path = join(dir, 'hook.yaml');
  writeFileSync(
    path,
    `database:\n  url: sqlite:${join(dir, 'hook.sqlite')}\ncoins:\n  btc: {network: regtest, backend: {type: memory}}\n` +
      `events:\n  app: {type: webhook, url: "http://127.0.0.1:${await closedPort()}/in?token=\${HOOK_TOKEN}"}\n`,
  );
  const result = await cli(['doctor', '-c', path], { HOOK_TOKEN: 'tok-hunter2' });
  expect(result.out).toMatch(/^FAIL webhook app: http:\/\/127\.0\.0\.1:\d+\/in\?token=\*\*\* does not answer/m);
  expect(`${result.out}${result.err}`).not.toContain('tok-hunter2');
});
