import { describe, expect, it } from 'vitest';
import { JsonNumber, markNumbers, parseLosslessJson, stringifyLossless } from '../../src/backends/bitcoind/lossless-json.js';
import { parseAmount } from '../../src/domain/amounts.js';
import { INT64_MAX } from '../../src/domain/coins.js';

/** Replace every JsonNumber by its text, so whole structures compare with toEqual. */
function texts(value: unknown): unknown {
  if (value instanceof JsonNumber) return { n: value.text };
  if (Array.isArray(value)) return value.map(texts);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, texts(field)]));
  }
  return value;
}

describe('parseLosslessJson', () => {
  it('keeps a large Dogecoin-size amount exactly, where JSON.parse rounds it', () => {
    const text = '{"result":92233720368.54775807,"error":null,"id":1}';
    expect(String(JSON.parse(text).result)).not.toBe('92233720368.54775807');
    const parsed = parseLosslessJson(text) as { result: JsonNumber; error: null; id: JsonNumber };
    expect(parsed.result).toBeInstanceOf(JsonNumber);
    expect(parsed.result.text).toBe('92233720368.54775807');
    expect(parseAmount(parsed.result.toDecimalText(), { decimals: 8, maxMoney: INT64_MAX })).toBe(INT64_MAX);
    expect(parsed.error).toBeNull();
    expect(parsed.id.toInteger()).toBe(1);
  });

  it('keeps trailing zeros, negative amounts and integers as written', () => {
    expect(texts(parseLosslessJson('[0.00012000, -0.00002030, 0, -0, 21000000, 1.10]'))).toEqual([
      { n: '0.00012000' },
      { n: '-0.00002030' },
      { n: '0' },
      { n: '-0' },
      { n: '21000000' },
      { n: '1.10' },
    ]);
  });

  it('accepts exponent notation and expands it to plain decimals by string arithmetic', () => {
    const [small, upper, big, plain, negative, zeroExp] = parseLosslessJson('[1e-8, 1.5E+3, 2.5e10, 0.1, -12.345e-2, 7e0]') as JsonNumber[];
    expect(small!.text).toBe('1e-8');
    expect(small!.toDecimalText()).toBe('0.00000001');
    expect(upper!.toDecimalText()).toBe('1500');
    expect(big!.toDecimalText()).toBe('25000000000');
    expect(plain!.toDecimalText()).toBe('0.1');
    expect(negative!.toDecimalText()).toBe('-0.12345');
    expect(zeroExp!.toDecimalText()).toBe('7');
    expect(parseAmount(small!.toDecimalText(), { decimals: 8, maxMoney: 10n ** 16n })).toBe(1n);
    expect(() => new JsonNumber('1e99999').toDecimalText()).toThrow(RangeError);
  });

  it('leaves numbers inside strings untouched, escapes included', () => {
    const parsed = parseLosslessJson(
      String.raw`{"label":"123","comment":"pay 0.5 to \"42\" now","path":"C:\\1\\2","amount":0.5,"u":"\u0031"}`,
    );
    expect(texts(parsed)).toEqual({ label: '123', comment: 'pay 0.5 to "42" now', path: 'C:\\1\\2', amount: { n: '0.5' }, u: '1' });
  });

  it('handles nested arrays and objects, booleans and null', () => {
    const text = '{"a":[1,[2,{"b":[3.25,{"c":-4}]}]],"t":true,"f":false,"z":null,"e":[],"o":{}}';
    expect(texts(parseLosslessJson(text))).toEqual({
      a: [{ n: '1' }, [{ n: '2' }, { b: [{ n: '3.25' }, { c: { n: '-4' } }] }]],
      t: true,
      f: false,
      z: null,
      e: [],
      o: {},
    });
    expect(texts(parseLosslessJson(' \n\t 7 \r\n'))).toEqual({ n: '7' });
  });

  it('does not confuse a genuine string starting with the private marker with a number', () => {
    const mark = '\uE000';
    const text = JSON.stringify({ s: `${mark}12`, t: `${mark}${mark}x`, [`${mark}5`]: 1 });
    expect(texts(parseLosslessJson(text))).toEqual({ s: `${mark}12`, t: `${mark}${mark}x`, [`${mark}5`]: { n: '1' } });
    // The same with the marker written as an escape.
    expect(parseLosslessJson(String.raw`["\uE00012", "\ue000"]`)).toEqual([`${mark}12`, mark]);
  });

  it('rejects what JSON.parse rejects, and never turns invalid text into valid JSON', () => {
    for (const bad of [
      '',
      '01',
      '1.',
      '.5',
      '+1',
      '-',
      '1 2',
      '[1,]',
      '{"a":1',
      'NaN',
      '-Infinity',
      '0x10',
      '1e',
      '"abc',
      'Work queue depth exceeded',
    ]) {
      expect(() => JSON.parse(bad), bad).toThrow(SyntaxError);
      expect(() => parseLosslessJson(bad), bad).toThrow(SyntaxError);
    }
  });

  it('only rewrites numbers outside strings', () => {
    expect(markNumbers('{"a":"1","b":2}')).toBe('{"a":"1","b":"\uE0002"}');
    expect(markNumbers('"no numbers"')).toBe('"no numbers"');
  });
});

describe('JsonNumber', () => {
  it('refuses text that is not a JSON number', () => {
    for (const bad of ['', '1.', '01', 'abc', ' 1', '1e', '--1']) expect(() => new JsonNumber(bad), bad).toThrow(SyntaxError);
  });

  it('gives integers only for plain, safe integers', () => {
    expect(new JsonNumber('42').toInteger()).toBe(42);
    expect(new JsonNumber('-3').toInteger()).toBe(-3);
    expect(new JsonNumber('1.5').toInteger()).toBeUndefined();
    expect(new JsonNumber('1e3').toInteger()).toBeUndefined();
    expect(new JsonNumber('9007199254740993').toInteger()).toBeUndefined();
  });
});

describe('stringifyLossless', () => {
  it('writes JsonNumbers as bare numbers, bigints as integers, and the rest like JSON.stringify', () => {
    const value = {
      method: 'sendmany',
      params: ['', { addr1: new JsonNumber('0.01000000'), addr2: new JsonNumber('92233720368.54775807') }, 1, 'c "q"'],
      big: 9007199254740993n,
      skipped: undefined,
      list: [null, true, 1.5],
    };
    const text = stringifyLossless(value);
    expect(text).toBe(
      '{"method":"sendmany","params":["",{"addr1":0.01000000,"addr2":92233720368.54775807},1,"c \\"q\\""],"big":9007199254740993,"list":[null,true,1.5]}',
    );
    expect(texts(parseLosslessJson(text))).toMatchObject({ params: ['', { addr2: { n: '92233720368.54775807' } }, { n: '1' }, 'c "q"'] });
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => stringifyLossless(Number.NaN)).toThrow(TypeError);
    expect(() => stringifyLossless(() => 1)).toThrow(TypeError);
  });
});
