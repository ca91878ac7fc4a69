/**
 * Coins and their networks are plain data: adding a coin means adding an object of these shapes,
 * from code or from the `coins` section of the configuration. Nothing here has a mainnet default;
 * every address function takes the network explicitly.
 */
import { formatAmount } from './amounts.js';
import { ConfigError } from './errors.js';

/** Parameters of one network (mainnet, testnet, regtest, …) of a coin. */
export interface NetworkParams {
  /** Network name as used in configuration: `mainnet`, `testnet`, `regtest` or a custom one. */
  readonly name: string;
  /** Base58Check version byte of pay-to-public-key-hash addresses. */
  readonly p2pkh: number;
  /**
   * Base58Check version bytes of pay-to-script-hash addresses. The first is the current one;
   * later ones are still accepted (Litecoin's legacy `3…`/`2…` P2SH).
   */
  readonly p2sh: readonly number[];
  /** Human-readable part of segwit (bech32/bech32m) addresses; absent where segwit does not exist. */
  readonly bech32?: string;
}

/** Everything the ledger needs to know about one coin. */
export interface CoinDefinition {
  /** Lowercase code, also the prefix of the coin's database tables: `btc`, `ltc`, `doge`. */
  readonly code: string;
  /** Display name. */
  readonly name: string;
  /** Number of decimals of one coin in base units (8 for Bitcoin: 1 BTC = 100,000,000 sat). */
  readonly decimals: number;
  /** Largest amount, in base units, that any single amount may have. */
  readonly maxMoney: bigint;
  /** Confirmations at which a deposit is credited to its account. */
  readonly confirmationThreshold: number;
  /** Confirmations up to which network transactions are polled for updates. */
  readonly trackingLimit: number;
  /**
   * Smallest withdrawal, in base units. Nodes refuse outputs below their dust limit, and one such
   * withdrawal in a batch would make every broadcast of the wallet fail; refusing it when it is
   * queued keeps the queue moving. 0 for no minimum.
   */
  readonly minimumWithdrawal: bigint;
  /** Networks by name. */
  readonly networks: Readonly<Record<string, NetworkParams>>;
}

/** A coin bound to the one network it runs on in this installation. */
export interface CoinOnNetwork {
  readonly coin: CoinDefinition;
  readonly network: NetworkParams;
}

/** Default confirmations before a deposit is credited. */
export const CONFIRMATION_THRESHOLD_DEFAULT = 3;
/** Default confirmations up to which transactions are tracked. */
export const TRACKING_LIMIT_DEFAULT = 15;

const COIN = 100_000_000n;

/** Bitcoin. Testnet and regtest share base58 version bytes; only the bech32 prefix differs. */
export const BTC: CoinDefinition = {
  code: 'btc',
  name: 'Bitcoin',
  decimals: 8,
  maxMoney: 21_000_000n * COIN,
  confirmationThreshold: CONFIRMATION_THRESHOLD_DEFAULT,
  trackingLimit: TRACKING_LIMIT_DEFAULT,
  // Bitcoin Core's dust limit is 546 sat for the largest common output (P2PKH) at the default relay fee.
  minimumWithdrawal: 546n,
  networks: {
    mainnet: { name: 'mainnet', p2pkh: 0x00, p2sh: [0x05], bech32: 'bc' },
    testnet: { name: 'testnet', p2pkh: 0x6f, p2sh: [0xc4], bech32: 'tb' },
    regtest: { name: 'regtest', p2pkh: 0x6f, p2sh: [0xc4], bech32: 'bcrt' },
  },
};

/** Litecoin. `M…`/`Q…` P2SH are current; the Bitcoin-style `3…`/`2…` P2SH versions are still valid. */
export const LTC: CoinDefinition = {
  code: 'ltc',
  name: 'Litecoin',
  decimals: 8,
  maxMoney: 84_000_000n * COIN,
  confirmationThreshold: CONFIRMATION_THRESHOLD_DEFAULT,
  trackingLimit: TRACKING_LIMIT_DEFAULT,
  // Litecoin Core inherits Bitcoin Core's dust rule: 546 litoshi for P2PKH at the default relay fee.
  minimumWithdrawal: 546n,
  networks: {
    mainnet: { name: 'mainnet', p2pkh: 0x30, p2sh: [0x32, 0x05], bech32: 'ltc' },
    testnet: { name: 'testnet', p2pkh: 0x6f, p2sh: [0x3a, 0xc4], bech32: 'tltc' },
    regtest: { name: 'regtest', p2pkh: 0x6f, p2sh: [0x3a, 0xc4], bech32: 'rltc' },
  },
};

/** Dogecoin: no segwit. MAX_MONEY of Dogecoin Core is ten billion coins. */
export const DOGE: CoinDefinition = {
  code: 'doge',
  name: 'Dogecoin',
  decimals: 8,
  maxMoney: 10_000_000_000n * COIN,
  confirmationThreshold: CONFIRMATION_THRESHOLD_DEFAULT,
  trackingLimit: TRACKING_LIMIT_DEFAULT,
  // Dogecoin Core treats outputs under 0.01 DOGE as dust.
  minimumWithdrawal: COIN / 100n,
  networks: {
    mainnet: { name: 'mainnet', p2pkh: 0x1e, p2sh: [0x16] },
    testnet: { name: 'testnet', p2pkh: 0x71, p2sh: [0xc4] },
    regtest: { name: 'regtest', p2pkh: 0x6f, p2sh: [0xc4] },
  },
};

/** The coins known without configuration, by code. */
export const BUILTIN_COINS: Readonly<Record<string, CoinDefinition>> = { btc: BTC, ltc: LTC, doge: DOGE };

/** Coin codes become table-name prefixes, so they are restricted to a safe identifier shape. */
export const COIN_CODE_PATTERN = /^[a-z][a-z0-9]{1,15}$/;

/** Largest amount a signed 64-bit database column holds; no coin's maxMoney may exceed it. */
export const INT64_MAX = 9_223_372_036_854_775_807n;
/** Smallest value of a signed 64-bit database column (the network-fee account's balance is negative). */
export const INT64_MIN = -9_223_372_036_854_775_808n;

/** Most decimals a coin may have. */
export const DECIMALS_MAX = 18;

/**
 * Why a maximum money of more than INT64_MAX base units is refused, told in coins because that is
 * how operators write it: at 18 decimals a 64-bit balance holds only 9.223372036854775807 coins.
 */
export function maxMoneyBeyondInt64(decimals: number): string {
  return `exceeds what a 64-bit balance can hold at ${decimals} decimals (at most ${formatAmount(INT64_MAX, { decimals })} coins)`;
}

/**
 * Check a coin defined in code as the configuration checks one: balances are stored in signed
 * 64-bit columns, so a single amount of maxMoney must fit one. (Sums of amounts can still exceed
 * it; the ledger refuses each balance change that would, with BalanceOutOfRange.)
 *
 * @param path where the definition sits in the caller's options, for the error, e.g. `coins[0].coin`.
 * @throws ConfigError naming `<path>.decimals` or `<path>.maxMoney`.
 */
export function checkCoinDefinition(coin: CoinDefinition, path: string): void {
  const { code, decimals, maxMoney } = coin;
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > DECIMALS_MAX) {
    throw new ConfigError(`${path}.decimals`, `coin ${code}: must be an integer between 0 and ${DECIMALS_MAX}`);
  }
  if (typeof maxMoney !== 'bigint' || maxMoney <= 0n) {
    throw new ConfigError(`${path}.maxMoney`, `coin ${code}: must be a bigint of base units greater than 0`);
  }
  if (maxMoney > INT64_MAX) throw new ConfigError(`${path}.maxMoney`, `coin ${code}: ${maxMoneyBeyondInt64(decimals)}`);
}
