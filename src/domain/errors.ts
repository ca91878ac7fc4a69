/**
 * Every expected failure of the library is one of these typed errors, each with a stable `code`
 * that applications can branch on. Programmer bugs are plain `Error`s (or assertion failures) and
 * are never caught and retried.
 */
export class CryptoAssetsError extends Error {
  /** Stable machine-readable code, e.g. `insufficient_balance`. */
  readonly code: ErrorCode;
  /** The index of the request of a batch (`transferMany`, `withdrawMany`) this error is about. */
  batchItem?: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Codes of the ledger's own errors (the classes of this module and the event and notification errors). */
export const LEDGER_ERROR_CODES = [
  'invalid_amount',
  'invalid_address',
  'invalid_txid',
  'invalid_name',
  'insufficient_balance',
  'balance_out_of_range',
  'same_account',
  'account_frozen',
  'not_found',
  'already_exists',
  'idempotency_key_reused',
  'invalid_state',
  'invalid_argument',
  'invalid_deposit',
  'cannot_resolve_database_conflict',
  'stale_reading',
  'scan_incomplete',
  'lease_lost',
  'config_error',
  'database_unavailable',
  'unknown_coin',
  'notification_listener_failed',
  'event_delivery_failed',
  'event_handler_load_failed',
] as const;

/**
 * Codes of `BackendError`: `backend_error` (generic), transport failures, refusals of the
 * backends, and bitcoind's JSON-RPC errors by name (`rpc_error` for a number without one).
 */
export const BACKEND_ERROR_CODES = [
  'backend_error',
  'backend_closed',
  // transport
  'node_unreachable',
  'outcome_unknown',
  'node_busy',
  'unauthorized',
  'forbidden',
  'endpoint_not_found',
  'garbage',
  'answer_too_large',
  'deadline_passed',
  // answers
  'wrong_network',
  'invalid_request',
  'invalid_cursor',
  'tip_moving',
  // block.io
  'throttled',
  'service_error',
  'rejected',
  'preparation_tampered',
  'fee_above_maximum',
  'wrong_pin',
  // JSON-RPC errors of bitcoind
  'rpc_error',
  'rpc_misc_error',
  'rpc_type_error',
  'wallet_error',
  'invalid_address_or_key',
  'insufficient_funds',
  'invalid_parameter',
  'wallet_locked',
  'wrong_passphrase',
  'wallet_not_encrypted',
  'wallet_not_found',
  'wallet_not_specified',
  'transaction_verify_error',
  'transaction_rejected',
  'transaction_already_in_chain',
  'node_warming_up',
  'wallet_already_loaded',
  'rpc_invalid_request',
  'method_not_found',
  'rpc_invalid_params',
  'rpc_parse_error',
] as const;

export type LedgerErrorCode = (typeof LEDGER_ERROR_CODES)[number];
export type BackendErrorCode = (typeof BACKEND_ERROR_CODES)[number];
/** Every `code` a `CryptoAssetsError` can carry: switch on it exhaustively. */
export type ErrorCode = LedgerErrorCode | BackendErrorCode;

/** Every error code, for checks at run time. */
export const ERROR_CODES: readonly ErrorCode[] = [...LEDGER_ERROR_CODES, ...BACKEND_ERROR_CODES];

/** Why an amount was refused. */
export type AmountErrorReason =
  'not_a_number' | 'negative' | 'zero' | 'too_many_decimals' | 'above_max_money' | 'below_minimum' | 'not_an_integer';

/** An amount given as text or bigint is not acceptable for the coin. */
export class InvalidAmount extends CryptoAssetsError {
  readonly reason: AmountErrorReason;
  constructor(reason: AmountErrorReason, message: string) {
    super('invalid_amount', message);
    this.reason = reason;
  }
}

/** Why an address was refused; see `validateAddress`. */
export type AddressErrorReason =
  | 'empty'
  | 'too_long'
  | 'bad_character'
  | 'mixed_case'
  | 'bad_checksum'
  | 'bad_length'
  | 'unknown_version'
  | 'wrong_network'
  | 'bad_witness_version'
  | 'bad_witness_program'
  | 'wrong_encoding'
  | 'segwit_unsupported';

/** An address string is not a valid address of the coin's network. */
export class InvalidAddress extends CryptoAssetsError {
  readonly reason: AddressErrorReason;
  readonly address: string;
  constructor(address: string, reason: AddressErrorReason, detail: string) {
    super('invalid_address', `invalid address ${JSON.stringify(truncate(address))}: ${detail}`);
    this.reason = reason;
    this.address = address;
  }
}

/** A transaction id is not 64 hexadecimal characters. */
export class InvalidTxid extends CryptoAssetsError {
  constructor(txid: string) {
    super('invalid_txid', `invalid txid ${JSON.stringify(truncate(txid))}: expected 64 hexadecimal characters`);
  }
}

/** A name (wallet, account, label) is empty or too long. */
export class InvalidName extends CryptoAssetsError {
  constructor(what: string, detail: string) {
    super('invalid_name', `invalid ${what}: ${detail}`);
  }
}

/** The sending account does not hold enough to cover the amount. */
export class InsufficientBalance extends CryptoAssetsError {
  readonly accountId: number;
  readonly balance: bigint;
  readonly amount: bigint;
  constructor(accountId: number, balance: bigint, amount: bigint) {
    super('insufficient_balance', `account ${accountId} holds ${balance} base units, cannot send ${amount}`);
    this.accountId = accountId;
    this.balance = balance;
    this.amount = amount;
  }
}

/** Which balance change was refused, or the engine error that reported an overflow. */
type OutOfRangeDetail = { accountId: number; balance: bigint; change: bigint } | { cause: unknown };

/**
 * A balance, amount or sum would leave the signed 64-bit range the database stores it in
 * (−9223372036854775808 to 9223372036854775807 base units). Nothing of the refused operation is
 * written. The usual cause is a coin whose decimals leave little room: at 18 decimals a 64-bit
 * balance holds at most 9.223372036854775807 coins.
 */
export class BalanceOutOfRange extends CryptoAssetsError {
  /** The account whose balance would leave the range; undefined when the database reported the overflow. */
  readonly accountId?: number;
  /** That account's balance before the refused change. */
  readonly balance?: bigint;
  /** The refused change, signed: positive credits, negative debits. */
  readonly change?: bigint;

  /** A change of one account's balance, or (`{ cause }`) an overflow the database engine reported. */
  constructor(detail: OutOfRangeDetail) {
    super('balance_out_of_range', outOfRangeMessage(detail), 'cause' in detail ? { cause: detail.cause } : undefined);
    if (!('cause' in detail)) {
      this.accountId = detail.accountId;
      this.balance = detail.balance;
      this.change = detail.change;
    }
  }
}

function outOfRangeMessage(detail: OutOfRangeDetail): string {
  if ('cause' in detail) {
    return `a value is beyond the signed 64-bit range the ledger stores amounts and balances in (${describe(detail.cause)})`;
  }
  const { accountId, balance, change } = detail;
  const what = change < 0n ? `taking ${-change} base units from` : `adding ${change} base units to`;
  return `${what} account ${accountId} (balance ${balance}) would take its balance beyond the signed 64-bit range it is stored in`;
}

/** A transfer names the same account as sender and receiver. */
export class SameAccount extends CryptoAssetsError {
  constructor(accountId: number) {
    super('same_account', `cannot transfer from account ${accountId} to itself`);
  }
}

/** A wallet, account, address or transaction that was asked for does not exist (in that wallet). */
export class NotFound extends CryptoAssetsError {
  constructor(what: string, key: string | number | bigint) {
    super('not_found', `${what} ${JSON.stringify(String(key))} not found`);
  }
}

/**
 * The account is frozen by an operator: it cannot send (transfers, withdrawals) nor receive
 * transfers until it is unfrozen. Deposits to its addresses are still credited.
 */
export class AccountFrozen extends CryptoAssetsError {
  readonly accountId: number;
  constructor(accountId: number, detail: string) {
    super('account_frozen', `account ${accountId} is frozen: ${detail}`);
    this.accountId = accountId;
  }
}

/** A unique thing (account name, address) already exists. */
export class AlreadyExists extends CryptoAssetsError {
  constructor(what: string, key: string) {
    super('already_exists', `${what} ${JSON.stringify(key)} already exists`);
  }
}

/** An idempotency key was reused for a different request. */
export class IdempotencyKeyReused extends CryptoAssetsError {
  constructor(key: string, detail: string) {
    super('idempotency_key_reused', `idempotency key ${JSON.stringify(key)} was used for a different request: ${detail}`);
  }
}

/** An operation is not allowed in the object's current state (e.g. crediting an archived wallet). */
export class InvalidState extends CryptoAssetsError {
  constructor(message: string) {
    super('invalid_state', message);
  }
}

/** An argument of a query is malformed (an unknown state, a cursor that is not one, an invalid Date). */
export class InvalidArgument extends CryptoAssetsError {
  constructor(message: string) {
    super('invalid_argument', message);
  }
}

/** The managed transaction gave up after retrying database conflicts `attempts` times. */
export class CannotResolveDatabaseConflict extends CryptoAssetsError {
  readonly attempts: number;
  constructor(attempts: number, cause: unknown) {
    super(
      'cannot_resolve_database_conflict',
      `gave up after ${attempts} attempts: the database kept reporting conflicts (${describe(cause)})`,
      { cause },
    );
    this.attempts = attempts;
  }
}

/** The configuration is malformed; the message names the key path and the reason on one line. */
/**
 * A node reading was taken at a tip older than one the ledger has already applied (another
 * process applied a newer reading meanwhile): applying it could undo newer facts, so nothing was
 * written. Read again.
 */
export class StaleReading extends CryptoAssetsError {
  constructor(message: string) {
    super('stale_reading', message);
  }
}

/**
 * A scan could not record every transaction it read. What it could record is recorded (each
 * write is idempotent); the scan as a whole failed and did not move the chain cursor, so an
 * import of the wallet balance must not rely on it.
 */
export class ScanIncomplete extends CryptoAssetsError {
  /** Txids that could not be recorded. */
  readonly txids: readonly string[];

  constructor(txids: readonly string[], cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      'scan_incomplete',
      `could not record ${txids.length} transaction(s): ${txids.slice(0, 10).join(', ')}${txids.length > 10 ? ', …' : ''} (${reason})`,
      { cause },
    );
    this.txids = txids;
  }
}

/**
 * A write of the helper service found that its lease generation no longer holds the lease (it
 * expired, or another service took it over): nothing was written.
 */
export class LeaseLost extends CryptoAssetsError {
  constructor(message: string) {
    super('lease_lost', message);
  }
}

export class ConfigError extends CryptoAssetsError {
  readonly path: string;
  constructor(path: string, reason: string) {
    super('config_error', path ? `config: ${path}: ${reason}` : `config: ${reason}`);
    this.path = path;
  }
}

/**
 * The ledger's database could not be opened or reached: a PostgreSQL server that refuses, does not
 * answer in time or is not PostgreSQL, a SQLite file that cannot be opened. The message names the
 * database (URLs without their password) and starts with `database:`.
 */
export class DatabaseUnavailable extends CryptoAssetsError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('database_unavailable', `database: ${reason}`, options);
  }
}

/** A coin that is not configured was asked for. */
export class UnknownCoin extends CryptoAssetsError {
  constructor(coin: string) {
    super('unknown_coin', `coin ${JSON.stringify(coin)} is not configured`);
  }
}

/** A backend (node, API service) failed or answered something we cannot trust. */
export class BackendError extends CryptoAssetsError {
  /** True when the call certainly had no effect and may be repeated. */
  readonly retryable: boolean;
  constructor(message: string, options: { retryable: boolean; cause?: unknown; code?: BackendErrorCode }) {
    super(options.code ?? 'backend_error', message, { cause: options.cause });
    this.retryable = options.retryable;
  }
}

function truncate(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return code ? `${String(code)}: ${error.message}` : error.message;
  }
  return String(error);
}
