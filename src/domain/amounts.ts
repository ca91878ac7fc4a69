/**
 * Amounts are bigint base units everywhere inside the library. Decimal text exists only at the
 * edges (configuration, CLI, JSON, node RPC) and is converted here by string arithmetic: no value
 * ever passes through a floating-point number.
 */
import { InvalidAmount } from './errors.js';

/** What an amount must satisfy beyond being a well-formed number. */
export interface AmountRules {
  /** Decimals of the coin (8 for BTC). */
  readonly decimals: number;
  /** Largest acceptable amount in base units. */
  readonly maxMoney: bigint;
}

export interface AmountOptions {
  /** Accept 0 (balances, queries). Transfers and withdrawals never do. */
  readonly allowZero?: boolean;
  /** Accept negative values (signed ledger entries, fees as the node reports them). */
  readonly allowNegative?: boolean;
}

const DECIMAL_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?$/;

/**
 * Parse decimal text such as `"0.00012"` into base units of a coin with `rules.decimals` decimals.
 * Rejects anything that is not plain decimal notation (no exponents, spaces, commas, hex), more
 * decimals than the coin has, and amounts beyond maxMoney.
 *
 * @throws InvalidAmount with a reason naming what is wrong.
 */
export function parseAmount(text: string, rules: AmountRules, options: AmountOptions = {}): bigint {
  if (typeof text !== 'string') {
    throw new InvalidAmount('not_a_number', `amount must be decimal text, got ${typeof text}`);
  }
  const match = DECIMAL_TEXT.exec(text);
  const whole = match?.[2] ?? '';
  const fraction = match?.[3] ?? '';
  if (!match || (whole === '' && fraction === '')) {
    throw new InvalidAmount('not_a_number', `amount ${JSON.stringify(shorten(text))} is not decimal text`);
  }
  const significantFraction = fraction.replace(/0+$/, '');
  if (significantFraction.length > rules.decimals) {
    throw new InvalidAmount('too_many_decimals', `amount ${JSON.stringify(shorten(text))} has more than ${rules.decimals} decimals`);
  }
  // Bound the digit count before BigInt() so absurd inputs fail fast and cheaply.
  if (whole.replace(/^0+/, '').length > 30) {
    throw new InvalidAmount('above_max_money', `amount ${JSON.stringify(shorten(text))} is beyond the maximum`);
  }
  const units = BigInt((whole || '0') + significantFraction.padEnd(rules.decimals, '0'));
  return checkAmount(match[1] === '-' ? -units : units, rules, options);
}

/**
 * Check an amount already in base units.
 *
 * @returns the same amount, so the call can wrap an expression.
 * @throws InvalidAmount when it is zero (unless allowed), negative (unless allowed) or beyond maxMoney.
 */
export function checkAmount(amount: bigint, rules: AmountRules, options: AmountOptions = {}): bigint {
  if (typeof amount !== 'bigint') {
    throw new InvalidAmount('not_an_integer', `amount must be a bigint of base units, got ${typeof amount}`);
  }
  if (amount === 0n && !options.allowZero) {
    throw new InvalidAmount('zero', 'amount must be greater than zero');
  }
  if (amount < 0n && !options.allowNegative) {
    throw new InvalidAmount('negative', `amount ${amount} must not be negative`);
  }
  const magnitude = amount < 0n ? -amount : amount;
  if (magnitude > rules.maxMoney) {
    throw new InvalidAmount('above_max_money', `amount ${amount} is beyond the maximum of ${rules.maxMoney}`);
  }
  return amount;
}

/**
 * Format base units as decimal text with exactly `decimals` decimals: `formatAmount(12000n, btc)`
 * is `"0.00012000"`. Trailing zeros are kept so the text is unambiguous about precision.
 */
export function formatAmount(amount: bigint, rules: Pick<AmountRules, 'decimals'>): string {
  const negative = amount < 0n;
  const digits = (negative ? -amount : amount).toString().padStart(rules.decimals + 1, '0');
  const whole = digits.slice(0, digits.length - rules.decimals);
  const fraction = digits.slice(digits.length - rules.decimals);
  const text = rules.decimals === 0 ? whole : `${whole}.${fraction}`;
  return negative ? `-${text}` : text;
}

/**
 * Accept an amount the way the public API does: a bigint of base units, or decimal text in coins.
 * Numbers are refused outright, because a JavaScript number may already have lost precision.
 */
export function toBaseUnits(amount: bigint | string, rules: AmountRules, options: AmountOptions = {}): bigint {
  if (typeof amount === 'bigint') return checkAmount(amount, rules, options);
  if (typeof amount === 'string') return parseAmount(amount, rules, options);
  throw new InvalidAmount('not_an_integer', `amount must be a bigint of base units or decimal text, got ${typeof amount}`);
}

function shorten(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
