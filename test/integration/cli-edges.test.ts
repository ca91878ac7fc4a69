/**
 * The rough edges a newcomer hits first, each through the command line as users run it: one line
 * on stderr, the documented exit code, no stack trace, no secret, and nothing written by a command
 * that failed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { loadConfigFile } from '../../src/config/load.js';
import { freePort } from '../../src/devtools/regtest-node.js';
import { INTEGRATION_REQUIRED, POSTGRES_URL } from '../helpers/engines.js';
import { litecoindAvailable } from '../helpers/regtest.js';

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

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** The real binary as a child process; resolves when it exits. */
function spawnCli(args: string[], env: Record<string, string | undefined> = {}): Promise<Outcome & { readonly ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, USER: process.env.USER, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err, ms: Date.now() - started })));
}

/** A TCP server on a free loopback port that accepts connections and never says anything. */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Whether something accepts TCP connections at host:port. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(2000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.connect(port, host);
  });
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
    const path = configFile(
      'typo.yaml',
      `databse:\n  url: sqlite:${database}\ncoins:\n  btc:\n    network: regtest\n    backend: {type: memory}\n`,
    );
    const result = await cli(['initialize-database', '-c', path]);
    expectOneLine(
      result,
      78,
      /^cryptoassets: config: databse: unknown key; did you mean database\? \(allowed here: database, coins, events, status_server, service\) \(and 1 more problem\)\n$/,
    );
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

describe('a database that cannot be reached', () => {
  const secret = 's3cr3t-Pw-4711';

  it('gives up on a server that accepts and never answers after connect_timeout (default 10 s), exit 69', async () => {
    const server = await silentServer();
    try {
      const url = `postgresql://ledger:${secret}@127.0.0.1:${server.port}/books`;
      const result = await spawnCli(['initialize-database', '-c', withDatabase('silent.yaml', url)]);
      expectOneLine(
        result,
        69,
        new RegExp(
          `^cryptoassets: database: cannot connect to PostgreSQL at postgresql://ledger:\\*\\*\\*@127\\.0\\.0\\.1:${server.port}/books: no answer within 10 s \\(is a PostgreSQL server listening there\\? database\\.connect_timeout sets the limit\\)\n$`,
        ),
        [secret],
      );
      // The default limit, and the process ends right after it: nothing left holding it open.
      expect(result.ms).toBeGreaterThanOrEqual(10_000);
      expect(result.ms).toBeLessThan(30_000);
    } finally {
      await server.close();
    }
  });

  it('honours database.connect_timeout', async () => {
    const server = await silentServer();
    try {
      const url = `postgresql://ledger:${secret}@127.0.0.1:${server.port}/books`;
      const started = Date.now();
      const result = await cli(['events', '-c', withDatabase('silent-short.yaml', url, '  connect_timeout: 0.5\n')]);
      expectOneLine(result, 69, /: no answer within 0\.5 s /, [secret]);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await server.close();
    }
  });

  it('says which database refused the connection, without its password, exit 69', async () => {
    const port = await freePort();
    const url = `postgresql://ledger:${secret}@127.0.0.1:${port}/books`;
    const result = await cli(['initialize-database', '-c', withDatabase('refused.yaml', url)]);
    expectOneLine(
      result,
      69,
      new RegExp(
        `^cryptoassets: database: cannot connect to PostgreSQL at postgresql://ledger:\\*\\*\\*@127\\.0\\.0\\.1:${port}/books: connection refused \\(is the server running, and is that its port\\?\\)\n$`,
      ),
      [secret],
    );
  });

  it('recognises an HTTP server where PostgreSQL should be, exit 69', async () => {
    const { createServer: createHttpServer } = await import('node:http');
    const server = createHttpServer((_request, response) => response.end('hello'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const url = `postgresql://ledger:${secret}@127.0.0.1:${port}/books`;
      const result = await cli(['initialize-database', '-c', withDatabase('http.yaml', url, '  connect_timeout: 5\n')]);
      expectOneLine(
        result,
        69,
        new RegExp(
          `^cryptoassets: database: cannot connect to PostgreSQL at postgresql://ledger:\\*\\*\\*@127\\.0\\.0\\.1:${port}/books: the server closed the connection during start-up \\(is it a PostgreSQL server\\?\\)\n$`,
        ),
        [secret],
      );
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('recognises Redis where PostgreSQL should be, exit 69', async (context) => {
    const redis = { host: '127.0.0.1', port: 6379 };
    if (!(await listening(redis.host, redis.port))) {
      if (INTEGRATION_REQUIRED) throw new Error('Redis at 127.0.0.1:6379 is unreachable, and CI=true requires this test');
      context.skip();
    }
    const url = `postgresql://ledger:${secret}@${redis.host}:${redis.port}/books`;
    const result = await cli(['initialize-database', '-c', withDatabase('redis.yaml', url, '  connect_timeout: 1\n')]);
    // Redis waits for the end of a line that PostgreSQL's start-up message never sends.
    expectOneLine(
      result,
      69,
      /^cryptoassets: database: cannot connect to PostgreSQL at postgresql:\/\/ledger:\*\*\*@127\.0\.0\.1:6379\/books: (no answer within 1 s|the server closed the connection)/,
      [secret],
    );
  });

  it('names a SQLite file whose folder does not exist, exit 69, and creates neither', async () => {
    const folder = join(dir, 'no-such-folder', 'deeper');
    const file = join(folder, 'ledger.sqlite');
    for (const command of ['initialize-database', 'service', 'events']) {
      const result = await cli([command, '-c', withDatabase('no-folder.yaml', `sqlite:${file}`)]);
      expectOneLine(
        result,
        69,
        new RegExp(`^cryptoassets: database: cannot open SQLite file ${file}: the folder ${folder} does not exist\n$`),
      );
      expect(existsSync(join(dir, 'no-such-folder'))).toBe(false);
    }
  });

  it('names a SQLite file that is not a database, exit 69, and leaves it as it was', async () => {
    const file = configFile('not-a-database.sqlite', 'these are not the tables you are looking for\n'.repeat(200));
    const result = await cli(['initialize-database', '-c', withDatabase('not-a-database.yaml', `sqlite:${file}`)]);
    expectOneLine(result, 69, new RegExp(`^cryptoassets: database: cannot open SQLite file ${file}: file is not a database\n$`));
    expect(existsSync(`${file}-wal`)).toBe(false);
  });
});

describe('a database never initialised', () => {
  it('is refused before a SQLite file is created for it, exit 1', async () => {
    const file = join(dir, 'never-initialised.sqlite');
    for (const command of ['events', 'dead-letters', 'verify-ledger']) {
      const result = await cli([command, '-c', withDatabase('never-initialised.yaml', `sqlite:${file}`)]);
      expectOneLine(
        result,
        1,
        new RegExp(
          `^cryptoassets: the database has no tables yet \\(the SQLite file ${file} does not exist\\): run \`cryptoassets initialize-database\`\n$`,
        ),
      );
      expect(existsSync(file)).toBe(false);
      expect(existsSync(`${file}-wal`)).toBe(false);
    }
  });
});

describe('record ids', () => {
  it('refuses an --id that is not a positive whole number, exit 64, one line, nothing written', async () => {
    const database = join(dir, 'ids.sqlite');
    const path = withDatabase('ids.yaml', `sqlite:${database}`);
    await cli(['initialize-database', '-c', path]);
    const scope = ['-c', path, '--coin', 'btc', '--wallet', 'main'];
    for (const [command, what, extra] of [
      ['retry-withdrawal', 'withdrawal', []],
      ['cancel-withdrawal', 'withdrawal', []],
      ['resolve-broadcast', 'broadcast', ['--not-sent']],
    ] as const) {
      for (const id of ['abc', '0', '-3', '1.5']) {
        const result = await cli([command, ...scope, '--id', id, ...extra]);
        expectOneLine(
          result,
          64,
          new RegExp(
            `^cryptoassets: ${command}: --id must be a ${what} id \\(a positive whole number\\), got "${id.replace('.', '\\.')}"\n$`,
          ),
        );
      }
    }
  });
});

describe('redeliver', () => {
  it('refuses a handler that is not configured, naming the configured ones, exit 64, before opening the database', async () => {
    const database = join(dir, 'redeliver.sqlite');
    const events =
      'events:\n  app: {type: webhook, url: "http://127.0.0.1:9/", secret: "${HOOK_SECRET}"}\n  audit: {type: script, command: /bin/true}\n';
    const path = configFile(
      'redeliver.yaml',
      `database:\n  url: sqlite:${database}\ncoins:\n  btc: {network: regtest, backend: {type: memory}}\n${events}`,
    );
    const result = await cli(['redeliver', '-c', path, '--handler', 'nope'], { HOOK_SECRET: 'webhook-s3cret' });
    expectOneLine(result, 64, /^cryptoassets: redeliver: --handler "nope" is not a configured event handler; configured: app, audit\n$/, [
      'webhook-s3cret',
    ]);
    expect(existsSync(database)).toBe(false);

    const none = configFile(
      'redeliver-none.yaml',
      `database:\n  url: sqlite:${database}\ncoins:\n  btc: {network: regtest, backend: {type: memory}}\n`,
    );
    const without = await cli(['redeliver', '-c', none, '--handler', 'app']);
    expectOneLine(
      without,
      64,
      /^cryptoassets: redeliver: --handler "app" is not a configured event handler; the configuration has no events section\n$/,
    );
    expect(existsSync(database)).toBe(false);
  });
});

describe('the examples and the package', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const examples = join(root, 'examples');

  it("keeps the README's first command from writing into the repository", async () => {
    const temporary = mkdtempSync(join(tmpdir(), 'cryptoassets-example-'));
    try {
      const before = readdirSync(examples).sort();
      // As the README runs it, with the database part only (the service would hold a port).
      const result = await cli(['initialize-database', '-c', join(examples, 'sqlite-memory.yaml')], { TMPDIR: temporary });
      expect(result.err).toBe('');
      expect(result.code).toBe(0);
      expect(result.out).toContain(`at ${join(temporary, 'cryptoassets-example.sqlite')}\n`);
      expect(existsSync(join(temporary, 'cryptoassets-example.sqlite'))).toBe(true);
      expect(readdirSync(examples).sort()).toEqual(before);
      // Without TMPDIR, /tmp; the Litecoin example writes to the home folder. Never the repository.
      const paths = [
        (await loadConfigFile(join(examples, 'sqlite-memory.yaml'), {})).database,
        (await loadConfigFile(join(examples, 'litecoin-regtest.yaml'), { HOME: temporary, LTC_RPC_PASSWORD: 'x' })).database,
      ].map((database) => (database.kind === 'sqlite' ? database.path : ''));
      expect(paths).toEqual(['/tmp/cryptoassets-example.sqlite', join(temporary, 'cryptoassets-ltc-regtest.sqlite')]);
      for (const path of paths) expect(relative(root, path).startsWith('..')).toBe(true);
    } finally {
      rmSync(temporary, { recursive: true, force: true });
    }
  });

  it('does not pack a SQLite file left in examples/ (npm pack --dry-run)', () => {
    // What the README's first command used to leave behind.
    const strays = ['cryptoassets.sqlite', 'cryptoassets.sqlite-wal', 'cryptoassets.sqlite-shm'].map((name) => join(examples, name));
    const placed = strays.filter((path) => !existsSync(path));
    for (const path of placed) writeFileSync(path, '');
    try {
      const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const files = (JSON.parse(output) as { files: { path: string }[] }[])[0]!.files.map((file) => file.path);
      expect(files).toContain('examples/sqlite-memory.yaml');
      expect(files).toContain('examples/litecoin-regtest.yaml');
      expect(files.filter((path) => /\.sqlite(-wal|-shm|-journal)?$/.test(path))).toEqual([]);
    } finally {
      for (const path of placed) rmSync(path, { force: true });
    }
  });
});

describe('initialize-database on PostgreSQL', () => {
  it('succeeds in four processes started at once on a fresh database, and prints the server version', async () => {
    for (let round = 1; round <= 2; round++) {
      const name = `edges_${process.pid}_${Date.now().toString(36)}_${round}`;
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      try {
        const url = new URL(POSTGRES_URL);
        url.pathname = `/${name}`;
        const path = configFile(
          `race-${round}.yaml`,
          `database:\n  url: "${url.toString()}"\ncoins:\n  btc: {network: regtest, backend: {type: memory}}\n  ltc: {network: regtest, backend: {type: memory}}\n`,
        );
        const results = await Promise.all([1, 2, 3, 4].map(() => spawnCli(['initialize-database', '-c', path])));
        for (const result of results) {
          expect(result.err).toBe('');
          expect(result.code).toBe(0);
          expect(result.out).toMatch(/^database ready: PostgreSQL \d+(\.\d+)+\b[^?\n]* at postgresql:\/\/[^\n]+\n$/m);
        }
        // Exactly one of them created each coin's tables; the others found them up to date.
        for (const coin of ['btc', 'ltc']) {
          expect(results.filter((result) => result.out.includes(`${coin}: applied migrations 1, 2, 3`))).toHaveLength(1);
          expect(results.filter((result) => result.out.includes(`${coin}: already up to date`))).toHaveLength(3);
        }
      } finally {
        await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
        await admin.end();
      }
    }
  });
});

/** Processes (other than this one) whose command line mentions `text`. Linux: reads /proc. */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // Ended meanwhile.
    }
  }
  return pids;
}

describe.runIf(litecoindAvailable() || INTEGRATION_REQUIRED)('demo --live stopped by a signal', () => {
  it.each([
    ['SIGTERM', 143, 'once its node is up', /^ {3}node: /m],
    ['SIGINT', 130, 'while its node is still starting', /^cryptoassets live demo: /m],
  ] as const)('on %s (exit %i) %s, stops the node and removes its temporary files', async (signal, code, _when, ready) => {
    // Its own temporary folder, so that what the demo leaves there can be seen (tsx keeps a cache there too).
    const temporary = mkdtempSync(join(tmpdir(), 'cryptoassets-live-signal-'));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'demo', '--live'], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: temporary },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
      const exited = new Promise<number | null>((resolve) => child.on('close', (status) => resolve(status)));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the demo did not get ready: ${out} ${err}`)), 60_000);
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          if (ready.test(out)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const leftBehind = () => readdirSync(temporary).filter((name) => name.startsWith('cryptoassets-'));
      // Its litecoind (the first line comes a moment before the spawn, the exec a moment after).
      for (const deadline = Date.now() + 10_000; processesMentioning(temporary).length === 0 && Date.now() < deadline;) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(processesMentioning(temporary).length).toBeGreaterThan(0);
      expect(leftBehind().some((name) => name.startsWith('cryptoassets-regtest-'))).toBe(true);
      child.kill(signal); // to the demo's process only, as `kill` or a service manager sends it
      expect(await exited).toBe(code);
      expect(err).toBe(`cryptoassets: demo --live stopped by ${signal}; its node was stopped and its temporary files removed\n`);
      expect(processesMentioning(temporary)).toEqual([]);
      expect(leftBehind()).toEqual([]);
    } finally {
      for (const pid of processesMentioning(temporary)) process.kill(pid, 'SIGKILL');
      rmSync(temporary, { recursive: true, force: true });
    }
  });
});
