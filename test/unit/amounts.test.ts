import { describe, expect, it } from 'vitest';
import { checkAmount, formatAmount, parseAmount, toBaseUnits } from '../../src/domain/amounts.js';
import { BTC, DOGE } from '../../src/domain/coins.js';
import { InvalidAmount } from '../../src/domain/errors.js';

function reason(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof InvalidAmount) return error.reason;
    throw error;
  }
  return undefined;
}

describe('amounts', () => {
  it.each([
    ['1', 100_000_000n],
    ['0.00000001', 1n],
    ['21000000', 2_100_000_000_000_000n],
    ['0.1', 10_000_000n],
    ['.5', 50_000_000n],
    ['5.', 500_000_000n],
    ['00012.34000000', 1_234_000_000n],
    ['0.123456780000', 12_345_678n],
    ['+3', 300_000_000n],
  ])('parses %s BTC as %s base units', (text, units) => {
    expect(parseAmount(text, BTC)).toBe(units);
  });

  it.each([
    ['', 'not_a_number'],
    ['abc', 'not_a_number'],
    ['1e8', 'not_a_number'],
    ['0x10', 'not_a_number'],
    [' 1', 'not_a_number'],
    ['1,5', 'not_a_number'],
    ['.', 'not_a_number'],
    ['-', 'not_a_number'],
    ['NaN', 'not_a_number'],
    ['Infinity', 'not_a_number'],
    ['0', 'zero'],
    ['0.00000000', 'zero'],
    ['-1', 'negative'],
    ['0.000000001', 'too_many_decimals'],
    ['21000000.00000001', 'above_max_money'],
    ['9'.repeat(40), 'above_max_money'],
  ])('refuses %j with %s', (text, expected) => {
    expect(reason(() => parseAmount(text, BTC))).toBe(expected);
  });

  it('allows zero and negatives only when asked', () => {
    expect(parseAmount('0', BTC, { allowZero: true })).toBe(0n);
    expect(parseAmount('-0.5', BTC, { allowNegative: true })).toBe(-50_000_000n);
    expect(reason(() => checkAmount(-1n, BTC))).toBe('negative');
    expect(reason(() => checkAmount(0n, BTC))).toBe('zero');
    expect(reason(() => checkAmount(BTC.maxMoney + 1n, BTC))).toBe('above_max_money');
    expect(checkAmount(BTC.maxMoney, BTC)).toBe(BTC.maxMoney);
  });

  it('refuses JavaScript numbers, which may already have lost precision', () => {
    expect(reason(() => toBaseUnits(0.1 as unknown as bigint, BTC))).toBe('not_an_integer');
    expect(reason(() => checkAmount(5 as unknown as bigint, BTC))).toBe('not_an_integer');
    expect(toBaseUnits('0.1', BTC)).toBe(10_000_000n);
    expect(toBaseUnits(7n, BTC)).toBe(7n);
  });

  it('formats with every decimal and round-trips, beyond 2^53', () => {
    expect(formatAmount(1n, BTC)).toBe('0.00000001');
    expect(formatAmount(-150_000_000n, BTC)).toBe('-1.50000000');
    expect(formatAmount(0n, BTC)).toBe('0.00000000');
    const large = DOGE.maxMoney - 1n; // 9999999999.99999999 DOGE, far above 2^53 base units
    expect(formatAmount(large, DOGE)).toBe('9999999999.99999999');
    expect(parseAmount(formatAmount(large, DOGE), DOGE)).toBe(large);
    expect(formatAmount(5n, { decimals: 0 })).toBe('5');
  });
});
