/**
 * From the structurally valid configuration (schema.ts) to the typed Config: rules spanning
 * several keys, defaults, camelCase, and relative paths made absolute.
 */
import { isAbsolute, resolve } from 'node:path';
import {
  BUILTIN_COINS,
  CONFIRMATION_THRESHOLD_DEFAULT,
  INT64_MAX,
  maxMoneyBeyondInt64,
  TRACKING_LIMIT_DEFAULT,
  type CoinDefinition,
  type NetworkParams,
} from '../domain/coins.js';
import { parseAmount } from '../domain/amounts.js';
import { InvalidAmount } from '../domain/errors.js';
import { DEFAULTS } from './defaults.js';
import { Problems, type PathSegment } from './issues.js';
import type { RawCoin, RawConfig } from './schema.js';
import type { BackendConfig, CoinConfig, Config, DatabaseConfig, EventHandlerConfig, WalletNotifyConfig } from './types.js';

/** How to turn relative paths into absolute ones. */
export interface BuildOptions {
  /**
   * Directory that relative file paths are resolved against (the configuration file's
   * directory). Without it, relative paths are kept as written.
   */
  readonly baseDir?: string;
}

const CUSTOM_COIN_KEYS = ['name', 'decimals', 'max_money', 'networks'] as const;

/**
 * Check the cross-key rules and build the typed Config.
 *
 * @throws ConfigError for the first problem found.
 */
export function buildConfig(raw: RawConfig, options: BuildOptions = {}): Config {
  const problems = new Problems();
  const paths = new PathResolver(options.baseDir);

  const database = buildDatabase(raw.database, paths, problems);
  const coins: Record<string, CoinConfig> = {};
  for (const [code, rawCoin] of Object.entries(raw.coins)) {
    const coin = buildCoin(code, rawCoin, paths, problems);
    if (coin) coins[code] = coin;
  }
  const events: Record<string, EventHandlerConfig> = {};
  for (const [name, handler] of Object.entries(raw.events ?? {})) {
    events[name] = buildEventHandler(handler, paths);
  }
  problems.throwIfAny();

  const status = raw.status_server ?? {};
  const service = raw.service ?? {};
  return {
    // Only reached without problems, so the database was built.
    database: database as DatabaseConfig,
    coins,
    events,
    statusServer: {
      enabled: status.enabled ?? DEFAULTS.statusServer.enabled,
      host: status.host ?? DEFAULTS.statusServer.host,
      port: status.port ?? DEFAULTS.statusServer.port,
      explorerUrl: status.explorer_url ?? DEFAULTS.statusServer.explorerUrl,
    },
    service: {
      broadcastPeriodMs: service.broadcast_period ?? DEFAULTS.service.broadcastPeriodMs,
      pollPeriodMs: service.poll_period ?? DEFAULTS.service.pollPeriodMs,
      eventRetryBaseMs: service.event_retry_base ?? DEFAULTS.service.eventRetryBaseMs,
      resendUnprocessedAfterMs:
        service.resend_unprocessed === false ? null : (service.resend_unprocessed_after ?? DEFAULTS.service.resendUnprocessedAfterMs),
      leaseTtlMs: service.lease_ttl ?? null,
      auditPeriodMs: service.audit_period ?? DEFAULTS.service.auditPeriodMs,
      stuckWithdrawalAgeMs: service.stuck_withdrawal_age ?? DEFAULTS.service.stuckWithdrawalAgeMs,
      logLevel: service.log_level ?? DEFAULTS.service.logLevel,
    },
  };
}

class PathResolver {
  constructor(private readonly baseDir: string | undefined) {}

  /** A file path: anything not absolute is relative to the configuration file. */
  file(path: string): string {
    return this.baseDir === undefined ? path : resolve(this.baseDir, path);
  }

  /**
   * A module or executable: only explicit `./` and `../` paths are relative to the file; bare
   * names stay as written because they mean a package or a program on PATH.
   */
  specifier(specifier: string): string {
    return /^\.\.?[\\/]/.test(specifier) || isAbsolute(specifier) ? this.file(specifier) : specifier;
  }
}

const DATABASE_URL_HELP = 'expected sqlite:<file path>, sqlite::memory: or postgresql://…';

function buildDatabase(raw: RawConfig['database'], paths: PathResolver, problems: Problems): DatabaseConfig | undefined {
  const transactionRetries = raw.transaction_retries ?? DEFAULTS.database.transactionRetries;
  const url = raw.url;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  // Settings of the other database kind are ignored rather than refused, so that one file can
  // switch databases through `url: ${DATABASE_URL}`.
  if (scheme === 'sqlite') {
    const location = url.slice('sqlite:'.length);
    if (location === '' || location.startsWith('//')) {
      problems.add(['database', 'url'], `${DATABASE_URL_HELP} (write sqlite:./file.sqlite or sqlite:/absolute/path.sqlite, not sqlite://)`);
      return undefined;
    }
    return {
      kind: 'sqlite',
      path: location === ':memory:' ? ':memory:' : paths.file(location),
      synchronous: raw.sqlite_synchronous ?? DEFAULTS.database.sqliteSynchronous,
      transactionRetries,
    };
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    if (!URL.canParse(url)) {
      problems.add(['database', 'url'], 'is not a valid PostgreSQL URL (percent-encode special characters in the user name and password)');
      return undefined;
    }
    return {
      kind: 'postgres',
      url,
      poolSize: raw.pool_size ?? DEFAULTS.database.poolSize,
      connectTimeoutMs: raw.connect_timeout ?? DEFAULTS.database.connectTimeoutMs,
      transactionRetries,
    };
  }
  problems.add(['database', 'url'], `unsupported database: ${DATABASE_URL_HELP}`);
  return undefined;
}

function buildCoin(code: string, raw: RawCoin, paths: PathResolver, problems: Problems): CoinConfig | undefined {
  const at = (...rest: PathSegment[]): PathSegment[] => ['coins', code, ...rest];
  const builtin = Object.hasOwn(BUILTIN_COINS, code) ? BUILTIN_COINS[code] : undefined;
  if (builtin) {
    for (const key of CUSTOM_COIN_KEYS) {
      if (raw[key] !== undefined) problems.add(at(key), `only custom coins define ${key}; ${code} is a builtin coin`);
    }
  }
  const base = builtin ?? buildCustomCoin(code, raw, problems);

  let network: NetworkParams | undefined;
  let coin: CoinDefinition | undefined;
  if (base) {
    network = Object.hasOwn(base.networks, raw.network) ? base.networks[raw.network] : undefined;
    if (!network) {
      problems.add(at('network'), `unknown network for ${code}; expected one of ${Object.keys(base.networks).join(', ')}`);
    }
    const confirmationThreshold = raw.confirmation_threshold ?? base.confirmationThreshold;
    const trackingLimit = raw.tracking_limit ?? base.trackingLimit;
    if (trackingLimit < confirmationThreshold) {
      if (raw.tracking_limit !== undefined) {
        problems.add(at('tracking_limit'), `must be at least confirmation_threshold (${confirmationThreshold})`);
      } else {
        problems.add(
          at('confirmation_threshold'),
          `must not exceed tracking_limit, which defaults to ${trackingLimit}; set tracking_limit as well`,
        );
      }
    }
    const minimumWithdrawal =
      raw.minimum_withdrawal === undefined
        ? base.minimumWithdrawal
        : parseMinimum(raw.minimum_withdrawal, base.decimals, at('minimum_withdrawal'), problems);
    coin = { ...base, confirmationThreshold, trackingLimit, minimumWithdrawal: minimumWithdrawal ?? base.minimumWithdrawal };
  }
  const backend = buildBackend(raw.backend, at('backend'), paths, problems);
  const walletnotify =
    raw.walletnotify && buildWalletNotify(raw.walletnotify, { code, network: raw.network }, at('walletnotify'), paths, problems);
  // Incomplete coins are dropped: buildConfig throws before anyone could see them.
  if (!coin || !network || !backend) return undefined;
  return walletnotify ? { coin, network, backend, walletnotify } : { coin, network, backend };
}

/** The definition of a coin that is not built in, from its `name`, `decimals`, `max_money`, `networks`. */
function buildCustomCoin(code: string, raw: RawCoin, problems: Problems): CoinDefinition | undefined {
  const at = (...rest: PathSegment[]): PathSegment[] => ['coins', code, ...rest];
  const { name, decimals, max_money: maxMoneyText, networks: rawNetworks } = raw;
  let complete = true;
  for (const key of CUSTOM_COIN_KEYS) {
    if (raw[key] === undefined) {
      problems.add(
        at(key),
        `required key is missing (${code} is not a builtin coin, so it must define name, decimals, max_money and networks)`,
      );
      complete = false;
    }
  }
  if (!complete || name === undefined || decimals === undefined || maxMoneyText === undefined || !rawNetworks) {
    return undefined;
  }

  const maxMoney = parseMaxMoney(maxMoneyText, decimals, at('max_money'), problems);
  const networks: Record<string, NetworkParams> = {};
  for (const [networkName, params] of Object.entries(rawNetworks)) {
    // Address decoding tells the address kinds apart by version byte alone.
    if (params.p2sh.includes(params.p2pkh)) {
      problems.add(at('networks', networkName, 'p2sh'), 'must not contain the p2pkh version byte');
    }
    networks[networkName] = {
      name: networkName,
      p2pkh: params.p2pkh,
      p2sh: params.p2sh,
      ...(params.bech32 === undefined ? {} : { bech32: params.bech32 }),
    };
  }
  if (maxMoney === undefined) return undefined;
  return {
    code,
    name,
    decimals,
    maxMoney,
    confirmationThreshold: CONFIRMATION_THRESHOLD_DEFAULT,
    trackingLimit: TRACKING_LIMIT_DEFAULT,
    minimumWithdrawal: 0n,
    networks,
  };
}

/** `minimum_withdrawal` in whole coins (text or number), as base units; 0 allowed. */
function parseMinimum(value: string, decimals: number, path: PathSegment[], problems: Problems): bigint | undefined {
  try {
    return parseAmount(String(value), { decimals, maxMoney: INT64_MAX }, { allowZero: true });
  } catch (error) {
    if (!(error instanceof InvalidAmount)) throw error;
    // Our own wording: InvalidAmount's message quotes the value, which may come from ${VAR}.
    const reasons: Record<string, string> = {
      too_many_decimals: `has more than the coin's ${decimals} decimals`,
      above_max_money: maxMoneyBeyondInt64(decimals),
      negative: 'must not be negative',
    };
    problems.add(path, reasons[error.reason] ?? 'expected decimal text of whole coins, e.g. "0.0001"');
    return undefined;
  }
}

function parseMaxMoney(text: string, decimals: number, path: PathSegment[], problems: Problems): bigint | undefined {
  try {
    return parseAmount(text, { decimals, maxMoney: INT64_MAX });
  } catch (error) {
    if (!(error instanceof InvalidAmount)) throw error;
    // Our own wording: InvalidAmount's message quotes the value.
    const reasons: Record<string, string> = {
      too_many_decimals: `has more than the coin's ${decimals} decimals`,
      // Told in coins, as written; the value itself is not quoted (it may come from ${VAR}).
      above_max_money: maxMoneyBeyondInt64(decimals),
      zero: 'must be greater than 0',
      negative: 'must not be negative',
    };
    problems.add(path, reasons[error.reason] ?? 'expected decimal text of whole coins, e.g. "21000000"');
    return undefined;
  }
}

function buildBackend(raw: RawCoin['backend'], path: PathSegment[], paths: PathResolver, problems: Problems): BackendConfig | undefined {
  switch (raw.type) {
    case 'memory':
      return {
        type: 'memory',
        feePerOutput: raw.fee_per_output ?? DEFAULTS.backend.memory.feePerOutput,
        initialBlocks: raw.initial_blocks ?? DEFAULTS.backend.memory.initialBlocks,
      };
    case 'blockio':
      return {
        type: 'blockio',
        apiKey: raw.api_key,
        ...(raw.pin === undefined ? {} : { pin: raw.pin }),
        apiUrl: raw.api_url ?? DEFAULTS.backend.blockio.apiUrl,
        timeoutMs: raw.timeout_ms ?? DEFAULTS.backend.blockio.timeoutMs,
        maxFee: raw.max_fee ?? DEFAULTS.backend.blockio.maxFee,
      };
    case 'bitcoind': {
      const before = problems.size;
      // Credentials in the URL would end up in logs and error messages of HTTP clients.
      const url = new URL(raw.url);
      if (url.password !== '') {
        problems.add([...path, 'url'], 'do not put the password in the url; use password: ${VAR} instead');
      } else if (url.username !== '') {
        problems.add([...path, 'url'], 'do not put the user name in the url; use username: instead');
      }
      const auth = bitcoindAuth(raw, path, paths, problems);
      if (!auth || problems.size > before) return undefined;
      return {
        type: 'bitcoind',
        url: raw.url,
        auth,
        ...(raw.wallet === undefined ? {} : { wallet: raw.wallet }),
        timeoutMs: raw.timeout_ms ?? DEFAULTS.backend.bitcoind.timeoutMs,
        maxAnswerBytes: raw.max_answer_bytes ?? DEFAULTS.backend.bitcoind.maxAnswerBytes,
        addressType: raw.address_type ?? DEFAULTS.backend.bitcoind.addressType,
        ...(raw.passphrase === undefined ? {} : { passphrase: raw.passphrase }),
      };
    }
  }
}

type RawBitcoind = Extract<RawCoin['backend'], { type: 'bitcoind' }>;

function bitcoindAuth(raw: RawBitcoind, path: PathSegment[], paths: PathResolver, problems: Problems) {
  const { username, password, cookie_file: cookieFile } = raw;
  if (username !== undefined && password === undefined) {
    problems.add([...path, 'password'], 'required when username is set');
  } else if (password !== undefined && username === undefined) {
    problems.add([...path, 'username'], 'required when password is set');
  } else if (username !== undefined && password !== undefined) {
    if (cookieFile === undefined) return { kind: 'password' as const, username, password };
    problems.add([...path, 'cookie_file'], 'use either username and password or cookie_file, not both');
  } else if (cookieFile !== undefined) {
    return { kind: 'cookie' as const, cookieFile: paths.file(cookieFile) };
  } else {
    problems.add(path, 'credentials are missing: set username and password, or cookie_file');
  }
  return undefined;
}

function buildWalletNotify(
  raw: NonNullable<RawCoin['walletnotify']>,
  coin: { code: string; network: string },
  path: PathSegment[],
  paths: PathResolver,
  problems: Problems,
): WalletNotifyConfig {
  switch (raw.type) {
    case 'blockio-webhook': {
      const manage = raw.manage ?? DEFAULTS.walletnotify.blockioWebhook.manage;
      // block.io must be told a URL it can reach; our listener's own address is loopback.
      if (manage && raw.public_url === undefined) problems.add([...path, 'public_url'], 'required when manage is true');
      return {
        type: 'blockio-webhook',
        pathSecret: raw.path_secret,
        host: raw.host ?? DEFAULTS.walletnotify.blockioWebhook.host,
        port: raw.port ?? DEFAULTS.walletnotify.blockioWebhook.port,
        maxBodyBytes: raw.max_body_bytes ?? DEFAULTS.walletnotify.blockioWebhook.maxBodyBytes,
        manage,
        publicUrl: raw.public_url ?? null,
      };
    }
    case 'blockio-websocket':
      return {
        type: 'blockio-websocket',
        url: raw.url ?? DEFAULTS.walletnotify.blockioWebSocket.url,
        apiKey: raw.api_key,
        network: raw.network ?? blockioNetworkName(coin.code, coin.network),
        keepalivePeriodMs: raw.keepalive_period ?? DEFAULTS.walletnotify.blockioWebSocket.keepalivePeriodMs,
        missedKeepalives: raw.missed_keepalives ?? DEFAULTS.walletnotify.blockioWebSocket.missedKeepalives,
      };
    case 'http':
      return {
        type: 'http',
        host: raw.host ?? DEFAULTS.walletnotify.http.host,
        port: raw.port ?? DEFAULTS.walletnotify.http.port,
      };
    case 'pipe':
      return { type: 'pipe', path: paths.file(raw.path) };
    case 'redis':
      return { type: 'redis', url: raw.url ?? DEFAULTS.walletnotify.redis.url, channel: raw.channel };
  }
}

/** block.io names networks by coin code, with TEST appended for test networks: LTC, LTCTEST. */
function blockioNetworkName(code: string, network: string): string {
  return `${code.toUpperCase()}${network === 'mainnet' ? '' : 'TEST'}`;
}

function buildEventHandler(raw: NonNullable<RawConfig['events']>[string], paths: PathResolver): EventHandlerConfig {
  switch (raw.type) {
    case 'webhook':
      return {
        type: 'webhook',
        url: raw.url,
        ...(raw.secret === undefined ? {} : { secret: raw.secret }),
        timeoutMs: raw.timeout_ms ?? DEFAULTS.events.webhook.timeoutMs,
        maxAttempts: raw.max_attempts ?? DEFAULTS.events.webhook.maxAttempts,
      };
    case 'in_process':
      return {
        type: 'in_process',
        module: paths.specifier(raw.module),
        export: raw.export ?? DEFAULTS.events.inProcess.export,
      };
    case 'script':
      return {
        type: 'script',
        command: paths.specifier(raw.command),
        timeoutMs: raw.timeout_ms ?? DEFAULTS.events.script.timeoutMs,
        maxAttempts: raw.max_attempts ?? DEFAULTS.events.script.maxAttempts,
      };
  }
}
