import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BTC, LTC } from '../../src/domain/coins.js';
import { ConfigError } from '../../src/domain/errors.js';
import { DEFAULTS, loadConfigFile, parseConfig, redactConfig, type Config } from '../../src/config/index.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cryptoassets-config-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeConfig(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text, 'utf8');
  return file;
}

/** The message of the ConfigError thrown by `fn`; fails the test for anything else. */
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

async function asyncMessageOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

const FULL_YAML = `
database:
  url: sqlite:./data/ledger.sqlite
  transaction_retries: 5
  sqlite_synchronous: normal
coins:
  btc:
    network: regtest
    confirmation_threshold: 2
    tracking_limit: 20
    backend:
      type: memory
      fee_per_output: 500
      initial_blocks: 101
    walletnotify:
      type: http
      port: 0
  ltc:
    network: testnet
    backend:
      type: bitcoind
      url: http://127.0.0.1:19332
      username: rpc
      password: \${LTC_RPC_PASSWORD}
      wallet: hot
      address_type: p2sh-segwit
      max_answer_bytes: 1048576
    walletnotify:
      type: pipe
      path: run/ltc.fifo
  mycoin:
    name: My Coin
    decimals: 8
    max_money: "10000000000"
    networks:
      mainnet: { p2pkh: 50, p2sh: [55, 5], bech32: myc }
    network: mainnet
    backend: { type: blockio, api_key: "\${BLOCKIO_KEY}", pin: "0000" }
events:
  app_webhook: { type: webhook, url: http://127.0.0.1:10000/events, secret: "\${WEBHOOK_SECRET}" }
  local: { type: in_process, module: ./handlers.js, export: onEvent }
  script: { type: script, command: ./on-event.sh, timeout_ms: 5000, max_attempts: 3 }
  tool: { type: script, command: notify-tool }
status_server:
  enabled: false
  host: 0.0.0.0
  port: 8080
service:
  broadcast_period: 0.5
  poll_period: 2
  resend_unprocessed_after: 120
  log_level: debug
`;

const FULL_ENV = { LTC_RPC_PASSWORD: 'rpc-pass', BLOCKIO_KEY: 'key-123', WEBHOOK_SECRET: 'hook-secret' };

/** Smallest valid configuration, as an object, for tests that change one thing. */
function minimal(): Record<string, any> {
  return {
    database: { url: 'sqlite::memory:' },
    coins: { btc: { network: 'regtest', backend: { type: 'memory' } } },
  };
}

function custom(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'My Coin',
    decimals: 8,
    max_money: '21000000',
    networks: { mainnet: { p2pkh: 50, p2sh: [55] } },
    network: 'mainnet',
    backend: { type: 'memory' },
    ...overrides,
  };
}

describe('loadConfigFile', () => {
  it('parses a full file into the typed configuration', async () => {
    const file = await writeConfig('full.yaml', FULL_YAML);
    const config = await loadConfigFile(file, FULL_ENV);
    const expected: Config = {
      database: { kind: 'sqlite', path: join(dir, 'data/ledger.sqlite'), synchronous: 'normal', transactionRetries: 5 },
      coins: {
        btc: {
          coin: { ...BTC, confirmationThreshold: 2, trackingLimit: 20 },
          network: BTC.networks.regtest!,
          backend: { type: 'memory', feePerOutput: 500n, initialBlocks: 101 },
          walletnotify: { type: 'http', host: '127.0.0.1', port: 0 },
        },
        ltc: {
          coin: LTC,
          network: LTC.networks.testnet!,
          backend: {
            type: 'bitcoind',
            url: 'http://127.0.0.1:19332',
            auth: { kind: 'password', username: 'rpc', password: 'rpc-pass' },
            wallet: 'hot',
            timeoutMs: 30_000,
            maxAnswerBytes: 1_048_576,
            addressType: 'p2sh-segwit',
          },
          walletnotify: { type: 'pipe', path: join(dir, 'run/ltc.fifo') },
        },
        mycoin: {
          coin: {
            code: 'mycoin',
            name: 'My Coin',
            decimals: 8,
            maxMoney: 1_000_000_000_000_000_000n,
            confirmationThreshold: 3,
            trackingLimit: 15,
            minimumWithdrawal: 0n,
            networks: { mainnet: { name: 'mainnet', p2pkh: 50, p2sh: [55, 5], bech32: 'myc' } },
          },
          network: { name: 'mainnet', p2pkh: 50, p2sh: [55, 5], bech32: 'myc' },
          backend: {
            type: 'blockio',
            apiKey: 'key-123',
            pin: '0000',
            apiUrl: 'https://block.io/api/v2/',
            timeoutMs: 30_000,
            maxFee: 1_000_000n,
          },
        },
      },
      events: {
        app_webhook: {
          type: 'webhook',
          url: 'http://127.0.0.1:10000/events',
          secret: 'hook-secret',
          timeoutMs: 10_000,
          maxAttempts: 12,
        },
        local: { type: 'in_process', module: join(dir, 'handlers.js'), export: 'onEvent' },
        script: { type: 'script', command: join(dir, 'on-event.sh'), timeoutMs: 5000, maxAttempts: 3 },
        tool: { type: 'script', command: 'notify-tool', timeoutMs: 30_000, maxAttempts: 12 },
      },
      statusServer: { enabled: false, host: '0.0.0.0', port: 8080, explorerUrl: null },
      service: {
        broadcastPeriodMs: 500,
        pollPeriodMs: 2000,
        eventRetryBaseMs: 1_000,
        resendUnprocessedAfterMs: 120_000,
        leaseTtlMs: null,
        auditPeriodMs: 300_000,
        stuckWithdrawalAgeMs: 3_600_000,
        logLevel: 'debug',
      },
    };
    expect(config).toEqual(expected);
  });

  it('keeps big integers exact', async () => {
    const file = await writeConfig(
      'big.yaml',
      `database: { url: "sqlite::memory:" }
coins:
  big:
    name: Big
    decimals: 8
    max_money: 92233720368
    networks: { mainnet: { p2pkh: 1, p2sh: [2] } }
    network: mainnet
    backend: { type: memory, fee_per_output: 9007199254740993 }
`,
    );
    const config = await loadConfigFile(file, {});
    expect(config.coins.big?.coin.maxMoney).toBe(9_223_372_036_800_000_000n);
    expect(config.coins.big?.backend).toMatchObject({ feePerOutput: 9_007_199_254_740_993n });
  });

  it('reports a YAML syntax error with file, line and column on one line', async () => {
    const file = await writeConfig('syntax.yaml', 'database:\n  url: "sqlite::memory:"\ncoins: [btc\n');
    const message = await asyncMessageOf(loadConfigFile(file, {}));
    expect(message).toMatch(new RegExp(`^config: ${escape(file)}:4:1: invalid YAML: `));
    expect(message).not.toContain('\n');
  });

  it('reports a missing file by name', async () => {
    const file = join(dir, 'missing.yaml');
    expect(await asyncMessageOf(loadConfigFile(file, {}))).toBe(`config: cannot read ${file}: no such file`);
  });

  it('reports an empty file', async () => {
    const file = await writeConfig('empty.yaml', '# nothing here\n');
    expect(await asyncMessageOf(loadConfigFile(file, {}))).toBe(`config: ${file} is empty`);
  });

  it('refuses duplicate keys', async () => {
    const file = await writeConfig('dup.yaml', 'database: { url: "sqlite::memory:" }\ndatabase: {}\n');
    expect(await asyncMessageOf(loadConfigFile(file, {}))).toMatch(new RegExp(`^config: ${escape(file)}:2:1: invalid YAML: `));
  });

  it('leaves absolute paths and :memory: alone', async () => {
    const file = await writeConfig(
      'abs.yaml',
      'database: { url: "sqlite:/var/lib/x.sqlite" }\ncoins: { btc: { network: regtest, backend: { type: memory } } }\n',
    );
    expect((await loadConfigFile(file, {})).database).toMatchObject({ path: '/var/lib/x.sqlite' });
  });
});

describe('parseConfig', () => {
  it('applies the defaults', () => {
    const config = parseConfig(minimal(), {});
    expect(config).toEqual({
      database: { kind: 'sqlite', path: ':memory:', synchronous: 'full', transactionRetries: 10 },
      coins: {
        btc: {
          coin: BTC,
          network: BTC.networks.regtest!,
          backend: { type: 'memory', feePerOutput: 1000n, initialBlocks: 0 },
        },
      },
      events: {},
      statusServer: { enabled: true, host: '127.0.0.1', port: 18881, explorerUrl: null },
      service: {
        broadcastPeriodMs: 30_000,
        pollPeriodMs: 10_000,
        eventRetryBaseMs: 1_000,
        resendUnprocessedAfterMs: 3_600_000,
        leaseTtlMs: null,
        auditPeriodMs: 300_000,
        stuckWithdrawalAgeMs: 3_600_000,
        logLevel: 'info',
      },
    } satisfies Config);
    expect(config.statusServer).toEqual(DEFAULTS.statusServer);
  });

  it('takes a minimum withdrawal per coin, in coins', () => {
    const config = parseConfig({
      database: { url: 'sqlite::memory:' },
      coins: {
        btc: { network: 'regtest', minimum_withdrawal: '0.0001', backend: { type: 'memory' } },
        ltc: { network: 'regtest', backend: { type: 'memory' } },
      },
    });
    expect(config.coins.btc!.coin.minimumWithdrawal).toBe(10_000n);
    expect(config.coins.ltc!.coin.minimumWithdrawal).toBe(546n);
    expect(() =>
      parseConfig({
        database: { url: 'sqlite::memory:' },
        coins: { btc: { network: 'regtest', minimum_withdrawal: '0.000000001', backend: { type: 'memory' } } },
      }),
    ).toThrow(/^config: coins\.btc\.minimum_withdrawal: /);
  });

  it('turns resending of unprocessed deposits off', () => {
    const config = parseConfig({
      database: { url: 'sqlite::memory:' },
      coins: { btc: { network: 'regtest', backend: { type: 'memory' } } },
      service: { resend_unprocessed: false },
    });
    expect(config.service.resendUnprocessedAfterMs).toBeNull();
  });

  it('applies the defaults of every kind of backend, walletnotify and database', () => {
    const raw = minimal();
    raw.database = { url: 'postgres://app@db.example:5432/ledger', sqlite_synchronous: 'normal' };
    raw.coins.ltc = {
      network: 'regtest',
      backend: { type: 'bitcoind', url: 'http://127.0.0.1:19443', cookie_file: '/data/.cookie' },
      walletnotify: { type: 'redis', channel: 'ltc-tx' },
    };
    raw.coins.doge = { network: 'mainnet', backend: { type: 'blockio', api_key: 'k' }, walletnotify: { type: 'http' } };
    const config = parseConfig(raw, {});
    // sqlite_synchronous is ignored for PostgreSQL so one file can switch databases via ${VAR}.
    expect(config.database).toEqual({
      kind: 'postgres',
      url: 'postgres://app@db.example:5432/ledger',
      poolSize: 10,
      connectTimeoutMs: 10_000,
      transactionRetries: 10,
    });
    expect(config.coins.ltc?.backend).toEqual({
      type: 'bitcoind',
      url: 'http://127.0.0.1:19443',
      auth: { kind: 'cookie', cookieFile: '/data/.cookie' },
      timeoutMs: 30_000,
      maxAnswerBytes: 67_108_864,
      addressType: 'bech32',
    });
    expect(config.coins.ltc?.walletnotify).toEqual({ type: 'redis', url: 'redis://127.0.0.1:6379', channel: 'ltc-tx' });
    expect(config.coins.doge?.backend).toEqual({
      type: 'blockio',
      apiKey: 'k',
      apiUrl: 'https://block.io/api/v2/',
      timeoutMs: 30_000,
      maxFee: 1_000_000n,
    });
    expect(config.coins.doge?.walletnotify).toEqual({ type: 'http', host: '127.0.0.1', port: 28882 });
  });

  it('keeps relative paths as written without a base directory', () => {
    const raw = minimal();
    raw.database.url = 'sqlite:data.sqlite';
    raw.events = { local: { type: 'in_process', module: './h.js' } };
    const config = parseConfig(raw, {});
    expect(config.database).toMatchObject({ path: 'data.sqlite' });
    expect(config.events.local).toEqual({ type: 'in_process', module: './h.js', export: 'default' });
  });

  it('converts max_money of whole coins to exact base units', () => {
    const raw = minimal();
    raw.coins.myc = custom({ max_money: '10000000000' });
    expect(parseConfig(raw, {}).coins.myc?.coin.maxMoney).toBe(1_000_000_000_000_000_000n);
    raw.coins.myc = custom({ max_money: 10_000_000_000n, decimals: 2 });
    expect(parseConfig(raw, {}).coins.myc?.coin.maxMoney).toBe(1_000_000_000_000n);
    raw.coins.myc = custom({ max_money: '0.5' });
    expect(parseConfig(raw, {}).coins.myc?.coin.maxMoney).toBe(50_000_000n);
    // The largest maximum a signed 64-bit balance can hold at 18 decimals.
    raw.coins.myc = custom({ max_money: '9.223372036854775807', decimals: 18 });
    expect(parseConfig(raw, {}).coins.myc?.coin.maxMoney).toBe(9_223_372_036_854_775_807n);
  });

  it('does not modify its input', () => {
    const raw = minimal();
    raw.database.url = '${DB}';
    const before = structuredClone(raw);
    parseConfig(raw, { DB: 'sqlite::memory:' });
    expect(raw).toEqual(before);
  });
});

describe('environment interpolation', () => {
  function withUrl(url: string, env: Record<string, string | undefined>): string {
    const raw = minimal();
    raw.coins.btc.backend = { type: 'bitcoind', url: 'http://127.0.0.1:18443', username: 'rpc', password: url };
    const backend = parseConfig(raw, env).coins.btc?.backend;
    if (backend?.type !== 'bitcoind' || backend.auth.kind !== 'password') throw new Error('unexpected backend');
    return backend.auth.password;
  }

  it('substitutes ${VAR} anywhere in a string', () => {
    expect(withUrl('${A}', { A: 'secret' })).toBe('secret');
    expect(withUrl('pre-${A}-${B}-post', { A: '1', B: '2' })).toBe('pre-1-2-post');
  });

  it('uses ${VAR:-default} when the variable is unset or empty', () => {
    expect(withUrl('${A:-fallback}', {})).toBe('fallback');
    expect(withUrl('${A:-fallback}', { A: '' })).toBe('fallback');
    expect(withUrl('${A:-fallback}', { A: 'set' })).toBe('set');
    expect(withUrl('x${A:-}y', {})).toBe('xy');
  });

  it('keeps $${ as a literal ${ and other dollars as they are', () => {
    expect(withUrl('$${A}', { A: 'no' })).toBe('${A}');
    expect(withUrl('a$b$$c$', {})).toBe('a$b$$c$');
  });

  it('does not interpolate text that came from a variable', () => {
    expect(withUrl('${A}', { A: '${B}', B: 'no' })).toBe('${B}');
  });

  it('converts interpolated numbers and booleans', () => {
    const raw = minimal();
    raw.status_server = { enabled: '${ENABLED}', port: '${PORT}' };
    raw.service = { poll_period: '${POLL:-0.25}' };
    const config = parseConfig(raw, { ENABLED: 'false', PORT: '9000' });
    expect(config.statusServer).toEqual({ enabled: false, host: '127.0.0.1', port: 9000, explorerUrl: null });
    expect(config.service.pollPeriodMs).toBe(250);
  });

  it('names the key path of a missing variable and no value', async () => {
    const file = await writeConfig(
      'env.yaml',
      `database: { url: "sqlite::memory:" }
coins:
  btc:
    network: regtest
    backend:
      type: bitcoind
      url: http://127.0.0.1:18443
      username: \${BTC_RPC_USER}
      password: \${BTC_RPC_PASSWORD}
`,
    );
    const message = await asyncMessageOf(loadConfigFile(file, { BTC_RPC_USER: 'user-value-s3cret', OTHER: 'other-s3cret' }));
    expect(message).toBe('config: coins.btc.backend.password: environment variable BTC_RPC_PASSWORD is not set');
    expect(message).not.toContain('s3cret');
  });

  it('counts every missing variable', () => {
    const raw = minimal();
    raw.database.url = '${A}';
    raw.coins.btc.network = '${B}${C}';
    expect(messageOf(() => parseConfig(raw, {}))).toBe('config: database.url: environment variable A is not set (and 2 more problems)');
  });

  it('refuses a malformed reference without quoting the value', () => {
    const raw = minimal();
    raw.database.url = 'sqlite:${oops-s3cret';
    const message = messageOf(() => parseConfig(raw, {}));
    expect(message).toBe(
      'config: database.url: malformed variable reference: expected ${NAME} or ${NAME:-default} (write $${ for a literal ${)',
    );
  });
});

describe('malformed configurations', () => {
  type Case = [name: string, change: (raw: Record<string, any>) => void, message: string];
  const cases: Case[] = [
    [
      'unknown key',
      (raw) => (raw.database.pool_sise = 3),
      'config: database.pool_sise: unknown key; did you mean pool_size? (allowed here: url, transaction_retries, pool_size, sqlite_synchronous, connect_timeout)',
    ],
    [
      'camelCase key',
      (raw) => (raw.statusServer = {}),
      'config: statusServer: unknown key; did you mean status_server? (allowed here: database, coins, events, status_server, service)',
    ],
    ['missing section', (raw) => delete raw.database, 'config: database: required key is missing'],
    [
      'wrong type',
      (raw) => (raw.database.transaction_retries = 'many'),
      'config: database.transaction_retries: expected an integer, got text',
    ],
    ['map expected', (raw) => (raw.coins.btc.backend = 'memory'), 'config: coins.btc.backend: expected a map, got text'],
    ['number as text', (raw) => (raw.database.url = 5n), 'config: database.url: expected text, got an integer (put it in quotes)'],
    ['bad port', (raw) => (raw.status_server = { port: 70000 }), 'config: status_server.port: must be between 0 and 65535'],
    ['negative port', (raw) => (raw.status_server = { port: -1 }), 'config: status_server.port: must be between 0 and 65535'],
    ['fractional integer', (raw) => (raw.database.pool_size = 1.5), 'config: database.pool_size: expected an integer, got a number'],
    [
      'bad enum',
      (raw) => (raw.service = { log_level: 'loud' }),
      'config: service.log_level: expected one of fatal, error, warn, info, debug, trace, silent',
    ],
    ['bad flag', (raw) => (raw.status_server = { enabled: 'yes' }), 'config: status_server.enabled: expected true or false, got text'],
    [
      'explorer URL without {txid}',
      (raw) => (raw.status_server = { explorer_url: 'https://explorer.example/tx/' }),
      'config: status_server.explorer_url: expected an http(s) URL containing {txid}',
    ],
    ['zero period', (raw) => (raw.service = { broadcast_period: 0 }), 'config: service.broadcast_period: must be greater than 0 seconds'],
    [
      'unknown network',
      (raw) => (raw.coins.btc.network = 'signet'),
      'config: coins.btc.network: unknown network for btc; expected one of mainnet, testnet, regtest',
    ],
    [
      'builtin coin with decimals',
      (raw) => (raw.coins.btc.decimals = 8),
      'config: coins.btc.decimals: only custom coins define decimals; btc is a builtin coin',
    ],
    [
      'custom coin without networks',
      (raw) => (raw.coins.myc = custom({ networks: undefined })),
      'config: coins.myc.networks: required key is missing (myc is not a builtin coin, so it must define name, decimals, max_money and networks)',
    ],
    [
      'custom coin with an empty network map',
      (raw) => (raw.coins.myc = custom({ networks: {} })),
      'config: coins.myc.networks: at least one network is required',
    ],
    [
      'max_money beyond int64',
      (raw) => (raw.coins.myc = custom({ max_money: '100000000000' })),
      'config: coins.myc.max_money: exceeds what a 64-bit balance can hold at 8 decimals (at most 92233720368.54775807 coins)',
    ],
    [
      'max_money of 10 coins at 18 decimals',
      (raw) => (raw.coins.myc = custom({ decimals: 18, max_money: '10' })),
      'config: coins.myc.max_money: exceeds what a 64-bit balance can hold at 18 decimals (at most 9.223372036854775807 coins)',
    ],
    [
      'max_money with too many decimals',
      (raw) => (raw.coins.myc = custom({ decimals: 2, max_money: '1.001' })),
      "config: coins.myc.max_money: has more than the coin's 2 decimals",
    ],
    ['max_money zero', (raw) => (raw.coins.myc = custom({ max_money: 0n })), 'config: coins.myc.max_money: must be greater than 0'],
    [
      'max_money as float',
      (raw) => (raw.coins.myc = custom({ max_money: 0.1 })),
      'config: coins.myc.max_money: write fractional amounts as quoted decimal text, e.g. "0.5"',
    ],
    ['decimals out of range', (raw) => (raw.coins.myc = custom({ decimals: 19 })), 'config: coins.myc.decimals: must be between 0 and 18'],
    [
      'version byte out of range',
      (raw) => (raw.coins.myc = custom({ networks: { mainnet: { p2pkh: 50, p2sh: [55, 256] } } })),
      'config: coins.myc.networks.mainnet.p2sh[1]: must be between 0 and 255',
    ],
    [
      'clashing version bytes',
      (raw) => (raw.coins.myc = custom({ networks: { mainnet: { p2pkh: 50, p2sh: [50] } } })),
      'config: coins.myc.networks.mainnet.p2sh: must not contain the p2pkh version byte',
    ],
    [
      'uppercase bech32 prefix',
      (raw) => (raw.coins.myc = custom({ networks: { mainnet: { p2pkh: 50, p2sh: [55], bech32: 'MYC' } } })),
      'config: coins.myc.networks.mainnet.bech32: expected a bech32 prefix of up to 83 lowercase letters or digits',
    ],
    [
      'bad coin code',
      (raw) => (raw.coins.BTC = raw.coins.btc),
      'config: coins.BTC: coin codes are 2 to 16 lowercase letters or digits, starting with a letter',
    ],
    ['no coins', (raw) => (raw.coins = {}), 'config: coins: at least one coin is required'],
    [
      'unknown backend type',
      (raw) => (raw.coins.btc.backend = { type: 'electrum' }),
      'config: coins.btc.backend.type: expected one of memory, bitcoind, blockio',
    ],
    [
      'backend without type',
      (raw) => (raw.coins.btc.backend = { url: 'http://x' }),
      'config: coins.btc.backend.type: required key is missing (one of memory, bitcoind, blockio)',
    ],
    [
      'memory backend with a bitcoind key',
      (raw) => (raw.coins.btc.backend = { type: 'memory', url: 'http://x' }),
      'config: coins.btc.backend.url: unknown key (allowed here: type, fee_per_output, initial_blocks)',
    ],
    [
      'bitcoind answer cap below 1 KiB',
      (raw) =>
        (raw.coins.btc.backend = { type: 'bitcoind', url: 'http://127.0.0.1:18443', cookie_file: '.cookie', max_answer_bytes: 1023 }),
      'config: coins.btc.backend.max_answer_bytes: must be between 1024 and 536870912',
    ],
    [
      'bitcoind with password in url',
      (raw) => (raw.coins.btc.backend = { type: 'bitcoind', url: 'http://rpc:hunter2@127.0.0.1:18443', cookie_file: '.cookie' }),
      'config: coins.btc.backend.url: do not put the password in the url; use password: ${VAR} instead',
    ],
    [
      'bitcoind with user name in url',
      (raw) => (raw.coins.btc.backend = { type: 'bitcoind', url: 'http://rpc@127.0.0.1:18443', cookie_file: '.cookie' }),
      'config: coins.btc.backend.url: do not put the user name in the url; use username: instead',
    ],
    [
      'bitcoind username without password',
      (raw) => (raw.coins.btc.backend = { type: 'bitcoind', url: 'http://127.0.0.1:18443', username: 'rpc' }),
      'config: coins.btc.backend.password: required when username is set',
    ],
    [
      'bitcoind password without username',
      (raw) => (raw.coins.btc.backend = { type: 'bitcoind', url: 'http://127.0.0.1:18443', password: 'p' }),
      'config: coins.btc.backend.username: required when password is set',
    ],
    [
      'bitcoind with both kinds of credentials',
      (raw) =>
        (raw.coins.btc.backend = { type: 'bitcoind', url: 'http://127.0.0.1:18443', username: 'u', password: 'p', cookie_file: 'c' }),
      'config: coins.btc.backend.cookie_file: use either username and password or cookie_file, not both',
    ],
    [
      'bitcoind without credentials',
      (raw) => (raw.coins.btc.backend = { type: 'bitcoind', url: 'http://127.0.0.1:18443' }),
      'config: coins.btc.backend: credentials are missing: set username and password, or cookie_file',
    ],
    [
      'bitcoind with a non-http url',
      (raw) => (raw.coins.btc.backend = { type: 'bitcoind', url: 'tcp://127.0.0.1:18443', cookie_file: 'c' }),
      'config: coins.btc.backend.url: expected an http:// or https:// URL',
    ],
    [
      'bad address type',
      (raw) => (raw.coins.btc.backend = { type: 'bitcoind', url: 'http://h', cookie_file: 'c', address_type: 'taproot' }),
      'config: coins.btc.backend.address_type: expected one of legacy, p2sh-segwit, bech32',
    ],
    [
      'tracking_limit below confirmation_threshold',
      (raw) => Object.assign(raw.coins.btc, { confirmation_threshold: 6, tracking_limit: 5 }),
      'config: coins.btc.tracking_limit: must be at least confirmation_threshold (6)',
    ],
    [
      'confirmation_threshold above the default tracking_limit',
      (raw) => (raw.coins.btc.confirmation_threshold = 20),
      'config: coins.btc.confirmation_threshold: must not exceed tracking_limit, which defaults to 15; set tracking_limit as well',
    ],
    [
      'bad database url scheme',
      (raw) => (raw.database.url = 'mysql://db/ledger'),
      'config: database.url: unsupported database: expected sqlite:<file path>, sqlite::memory: or postgresql://…',
    ],
    [
      'sqlite url in URL form',
      (raw) => (raw.database.url = 'sqlite:///var/x.sqlite'),
      'config: database.url: expected sqlite:<file path>, sqlite::memory: or postgresql://… (write sqlite:./file.sqlite or sqlite:/absolute/path.sqlite, not sqlite://)',
    ],
    [
      'unparseable postgres url',
      (raw) => (raw.database.url = 'postgresql://db.example:99999/ledger'),
      'config: database.url: is not a valid PostgreSQL URL (percent-encode special characters in the user name and password)',
    ],
    ['pool size out of range', (raw) => (raw.database.pool_size = 0), 'config: database.pool_size: must be between 1 and 200'],
    [
      'walletnotify pipe without path',
      (raw) => (raw.coins.btc.walletnotify = { type: 'pipe' }),
      'config: coins.btc.walletnotify.path: required key is missing',
    ],
    [
      'redis walletnotify with an http url',
      (raw) => (raw.coins.btc.walletnotify = { type: 'redis', url: 'http://x', channel: 'c' }),
      'config: coins.btc.walletnotify.url: expected a redis:// or rediss:// URL',
    ],
    [
      'event handler of unknown type',
      (raw) => (raw.events = { hook: { type: 'email' } }),
      'config: events.hook.type: expected one of webhook, in_process, script',
    ],
    ['webhook without url', (raw) => (raw.events = { hook: { type: 'webhook' } }), 'config: events.hook.url: required key is missing'],
    ['empty text', (raw) => (raw.events = { s: { type: 'script', command: '' } }), 'config: events.s.command: must not be empty'],
    [
      'several problems',
      (raw) => {
        raw.database.pool_size = 0;
        raw.coins.btc.network = 7n;
        raw.service = { what: 1 };
      },
      'config: database.pool_size: must be between 1 and 200 (and 2 more problems)',
    ],
    ['empty section', (raw) => (raw.events = null), 'config: events: expected a map, got an empty value'],
  ];

  it.each(cases)('%s', (_name, change, message) => {
    const raw = minimal();
    change(raw);
    const actual = messageOf(() => parseConfig(raw, {}));
    expect(actual).toBe(message);
    expect(actual).not.toContain('\n');
  });

  it('refuses a configuration that is not a map', () => {
    expect(messageOf(() => parseConfig(null, {}))).toBe('config: the configuration is empty');
    expect(messageOf(() => parseConfig('database: x', {}))).toBe('config: expected a map, got text');
  });

  it('never quotes a configured value', () => {
    const raw = minimal();
    raw.coins.btc.backend = { type: 'bitcoind', url: 'http://rpc:S3CRET@127.0.0.1', password: 'S3CRET' };
    expect(messageOf(() => parseConfig(raw, {}))).not.toContain('S3CRET');
  });

  it('reports the first problem of a file with several errors on one line', async () => {
    const file = await writeConfig(
      'bad.yaml',
      `database: { url: "sqlite::memory:", pool_sise: 3 }
coins:
  btc: { network: regtest, decimals: 8, backend: { type: memory } }
`,
    );
    const message = await asyncMessageOf(loadConfigFile(file, {}));
    expect(message).toBe(
      'config: database.pool_sise: unknown key; did you mean pool_size? (allowed here: url, transaction_retries, pool_size, sqlite_synchronous, connect_timeout)',
    );
  });
});

describe('redactConfig', () => {
  it('hides secrets and URL passwords and keeps everything else', async () => {
    const raw = minimal();
    raw.database.url = 'postgresql://app:db-s3cret@db.example:5432/ledger';
    raw.coins.btc.backend = {
      type: 'bitcoind',
      url: 'http://127.0.0.1:18443',
      username: 'rpc',
      password: 'rpc-s3cret',
      passphrase: 'wallet-s3cret',
    };
    raw.coins.btc.walletnotify = { type: 'redis', url: 'redis://:redis-s3cret@cache:6379/0', channel: 'tx' };
    raw.coins.ltc = { network: 'regtest', backend: { type: 'blockio', api_key: 'key-s3cret', pin: 'pin-s3cret' } };
    raw.events = { hook: { type: 'webhook', url: 'https://u:hook-s3cret@example.com/x', secret: 'sig-s3cret' } };
    const config = parseConfig(raw, {});
    const redacted = redactConfig(config);
    const text = JSON.stringify(redacted);
    expect(text).not.toContain('s3cret');
    expect(redacted).toMatchObject({
      database: { url: 'postgresql://app:***@db.example:5432/ledger' },
      coins: {
        btc: {
          backend: { auth: { username: 'rpc', password: '***' }, passphrase: '***' },
          walletnotify: { url: 'redis://:***@cache:6379/0' },
          coin: { maxMoney: '2100000000000000' },
        },
        ltc: { backend: { apiKey: '***', pin: '***' } },
      },
      events: { hook: { url: 'https://u:***@example.com/x', secret: '***' } },
    });
    // The original is untouched.
    expect(config.database).toMatchObject({ url: 'postgresql://app:db-s3cret@db.example:5432/ledger' });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('YAML quoting mistakes', () => {
  it('hints at quoting an unquoted sqlite::memory:', async () => {
    const file = await writeConfig('unquoted.yaml', 'database:\n  url: sqlite::memory:\n');
    expect(await asyncMessageOf(loadConfigFile(file, {}))).toBe(
      `config: ${file}:2:8: invalid YAML: Nested mappings are not allowed in compact mappings (hint: quote values that contain ":" or "{")`,
    );
  });
});

describe('docs/configuration.md', () => {
  it('has examples that load', async () => {
    const docs = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const examples = [...docs.matchAll(/^## Example[^\n]*\n[\s\S]*?```yaml\n([\s\S]*?)```/gm)].map((m) => m[1] as string);
    expect(examples).toHaveLength(2);
    const [sqlite, postgres] = await Promise.all(
      examples.map(async (text, index) =>
        loadConfigFile(await writeConfig(`example-${index}.yaml`, text), {
          DB_PASSWORD: 'pw',
          LTC_RPC_PASSWORD: 'rpc',
          WEBHOOK_SECRET: 'hook',
        }),
      ),
    );
    expect(sqlite?.database).toEqual({
      kind: 'sqlite',
      path: join(dir, 'cryptoassets.sqlite'),
      synchronous: 'full',
      transactionRetries: 10,
    });
    expect(sqlite?.coins.demo?.coin.maxMoney).toBe(2_100_000_000_000_000n);
    expect(postgres?.database).toMatchObject({ kind: 'postgres', url: 'postgresql://cryptoassets:pw@127.0.0.1:5432/cryptoassets' });
    expect(postgres?.coins.ltc?.backend).toMatchObject({ auth: { kind: 'password', username: 'cryptoassets', password: 'rpc' } });
  });
});

describe('block.io notification channels', () => {
  const SECRET = 'f00dfeedf00dfeedf00dfeed';
  const KEY = 'blockio-key-s3cret';

  function withNotify(walletnotify: Record<string, unknown>, network = 'testnet'): Record<string, any> {
    const raw = minimal();
    raw.coins.ltc = { network, backend: { type: 'blockio', api_key: '${LTC_KEY}' }, walletnotify };
    return raw;
  }

  it('builds both with their defaults, secrets from ${VAR}, and the block.io network name from the coin', () => {
    const env = { LTC_KEY: KEY, HOOK_SECRET: SECRET };
    const webhook = parseConfig(withNotify({ type: 'blockio-webhook', path_secret: '${HOOK_SECRET}' }), env);
    expect(webhook.coins.ltc?.walletnotify).toEqual({
      type: 'blockio-webhook',
      pathSecret: SECRET,
      host: '127.0.0.1',
      port: 33233,
      maxBodyBytes: 262_144,
      manage: false,
      publicUrl: null,
    });
    const socket = parseConfig(withNotify({ type: 'blockio-websocket', api_key: '${LTC_KEY}' }), env);
    expect(socket.coins.ltc?.walletnotify).toEqual({
      type: 'blockio-websocket',
      url: 'wss://n.block.io/',
      apiKey: KEY,
      network: 'LTCTEST',
      keepalivePeriodMs: 30_000,
      missedKeepalives: 3,
    });
    const mainnet = parseConfig(withNotify({ type: 'blockio-websocket', api_key: 'k', keepalive_period: 5 }, 'mainnet'), env);
    expect(mainnet.coins.ltc?.walletnotify).toMatchObject({ network: 'LTC', keepalivePeriodMs: 5_000 });
    const text = JSON.stringify([redactConfig(webhook), redactConfig(socket)]);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(KEY);
  });

  it('refuses a guessable path secret, manage without public_url and a non-WebSocket url, naming the key and never the value', () => {
    const env = { LTC_KEY: KEY, SHORT: 'short-s3cret' };
    const short = messageOf(() => parseConfig(withNotify({ type: 'blockio-webhook', path_secret: '${SHORT}' }), env));
    expect(short).toMatch(/^config: coins\.ltc\.walletnotify\.path_secret: expected 16 to 128 letters/);
    expect(short).not.toContain('short-s3cret');
    expect(messageOf(() => parseConfig(withNotify({ type: 'blockio-webhook', path_secret: SECRET, manage: true }), env))).toBe(
      'config: coins.ltc.walletnotify.public_url: required when manage is true',
    );
    expect(messageOf(() => parseConfig(withNotify({ type: 'blockio-websocket', api_key: 'k', url: 'https://n.block.io/' }), env))).toBe(
      'config: coins.ltc.walletnotify.url: expected a ws:// or wss:// URL',
    );
    const missing = messageOf(() => parseConfig(withNotify({ type: 'blockio-websocket' }), env));
    expect(missing).toBe('config: coins.ltc.walletnotify.api_key: required key is missing');
  });
});
