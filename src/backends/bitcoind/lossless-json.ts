/**
 * JSON with numbers kept exactly as they were written. bitcoind reports amounts as JSON numbers in
 * coins (`92233720368.54775807`), which `JSON.parse` would round to the nearest double. Node 20's
 * `JSON.parse` reviver cannot see a number's source text, so the text is rewritten first: every
 * numeric literal outside a string becomes a string carrying a private marker, which the reviver
 * turns into a `JsonNumber`. Strings are scanned, never rewritten, apart from the escaping that
 * keeps a genuine string from being mistaken for a marked number.
 *
 * The serialiser does the reverse for requests: a `JsonNumber` is written as a bare number, so an
 * amount formatted by string arithmetic reaches the node without passing through a float.
 */

/** A JSON number as its source text; convert it with `toNumber`, `toInteger` or `toDecimalText`. */
export class JsonNumber {
  /** The number exactly as written in the JSON text, e.g. `"0.00012000"` or `"1e-8"`. */
  readonly text: string;

  /** @throws SyntaxError when `text` is not a JSON number literal. */
  constructor(text: string) {
    if (typeof text !== 'string' || !NUMBER_LITERAL.test(text)) {
      throw new SyntaxError(`not a JSON number: ${JSON.stringify(String(text)).slice(0, 60)}`);
    }
    this.text = text;
  }

  /** The nearest double. Fine for counts and heights; never use it for amounts. */
  toNumber(): number {
    return Number(this.text);
  }

  /**
   * The value as a safe integer, or undefined when it is not one (fractional, exponent beyond
   * the integer range, beyond 2^53). Plain decimal text is required, like the node writes it.
   */
  toInteger(): number | undefined {
    if (!/^-?(?:0|[1-9]\d*)$/.test(this.text)) return undefined;
    const value = Number(this.text);
    return Number.isSafeInteger(value) ? value : undefined;
  }

  /**
   * The value in plain decimal notation, computed on the digits: `1e-8` → `0.00000001`,
   * `1.5E+3` → `1500`, `0.10` → `0.10` (plain text is returned unchanged). Nodes do not write
   * exponents, but the JSON grammar allows them and amounts must not depend on the writer's style.
   * Exponents beyond ±1000 are refused rather than expanded into megabytes of zeros.
   */
  toDecimalText(): string {
    const match = EXPONENT_SPLIT.exec(this.text);
    if (!match) return this.text;
    const sign = match[1] ?? '';
    const whole = match[2] ?? '0';
    const fraction = match[3] ?? '';
    const exponent = Number(match[4]);
    if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 1000) {
      throw new RangeError(`exponent of ${this.text} is out of range`);
    }
    const digits = whole + fraction;
    // Position of the decimal point within `digits` after applying the exponent.
    const point = whole.length + exponent;
    let integerPart: string;
    let fractionPart: string;
    if (point <= 0) {
      integerPart = '0';
      fractionPart = '0'.repeat(-point) + digits;
    } else if (point >= digits.length) {
      integerPart = digits + '0'.repeat(point - digits.length);
      fractionPart = '';
    } else {
      integerPart = digits.slice(0, point);
      fractionPart = digits.slice(point);
    }
    integerPart = integerPart.replace(/^0+(?=\d)/, '');
    fractionPart = fractionPart.replace(/0+$/, '');
    return `${sign}${integerPart}${fractionPart === '' ? '' : `.${fractionPart}`}`;
  }

  toString(): string {
    return this.text;
  }

  /** `JSON.stringify` of a `JsonNumber` gives its text as a string (use `stringifyLossless` for a bare number). */
  toJSON(): string {
    return this.text;
  }
}

const NUMBER_LITERAL = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const NUMBER_AT = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const EXPONENT_SPLIT = /^(-?)(\d+)(?:\.(\d+))?[eE]([+-]?\d+)$/;

/**
 * Prefix of a rewritten number. A private-use character: the node never writes it, and where a
 * genuine string starts with it anyway the rewrite doubles it so the reviver can tell them apart.
 */
const MARK = '\uE000';
const MARK_CODE = 0xe000;

/**
 * Parse JSON text like `JSON.parse`, but give every number as a `JsonNumber` holding its exact
 * source text. Strings, including digits inside strings, are returned as they are.
 *
 * @throws SyntaxError for text that is not JSON (the rewrite never turns invalid JSON into valid
 *   JSON: a number literal is replaced by a string literal, which is a value where it was).
 */
export function parseLosslessJson(text: string): unknown {
  return JSON.parse(markNumbers(text), revive);
}

function revive(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value !== 'string' || value.charCodeAt(0) !== MARK_CODE) return value;
  // A doubled mark is a genuine string that started with the mark character: undo the doubling.
  if (value.charCodeAt(1) === MARK_CODE) return value.slice(1);
  return new JsonNumber(value.slice(1));
}

/**
 * Rewrite numeric literals outside strings into marked strings. Exported for tests; the output is
 * only meaningful to `parseLosslessJson`'s reviver.
 */
export function markNumbers(text: string): string {
  const parts: string[] = [];
  let copiedUpTo = 0;
  let index = 0;
  const length = text.length;
  while (index < length) {
    const code = text.charCodeAt(index);
    if (code === 0x22 /* " */) {
      const start = index;
      index = skipString(text, index);
      if (startsWithMark(text, start + 1) && !isObjectKey(text, index)) {
        // Double the leading mark of a genuine string value; keys never reach the reviver as values.
        parts.push(text.slice(copiedUpTo, start + 1), MARK);
        copiedUpTo = start + 1;
      }
      continue;
    }
    if (code === 0x2d /* - */ || (code >= 0x30 && code <= 0x39)) {
      NUMBER_AT.lastIndex = index;
      const match = NUMBER_AT.exec(text);
      if (!match) {
        // A lone '-': leave it for JSON.parse to reject.
        index++;
        continue;
      }
      parts.push(text.slice(copiedUpTo, index), '"', MARK, match[0], '"');
      index += match[0].length;
      copiedUpTo = index;
      continue;
    }
    index++;
  }
  if (copiedUpTo === 0) return text;
  parts.push(text.slice(copiedUpTo));
  return parts.join('');
}

/** Index just past the closing quote of the string starting at `start` (or the end of the text). */
function skipString(text: string, start: number): number {
  let index = start + 1;
  while (index < text.length) {
    const code = text.charCodeAt(index);
    if (code === 0x5c /* \ */) index += 2;
    else if (code === 0x22) return index + 1;
    else index++;
  }
  return index;
}

/** Whether the string content at `index` starts with the mark, literally or as a `\uE000` escape. */
function startsWithMark(text: string, index: number): boolean {
  if (text.charCodeAt(index) === MARK_CODE) return true;
  return text.charCodeAt(index) === 0x5c && /^\\u[eE]000/.test(text.slice(index, index + 6));
}

/** Whether the string that ended just before `index` is an object key (followed by `:`). */
function isObjectKey(text: string, index: number): boolean {
  while (index < text.length) {
    const code = text.charCodeAt(index);
    if (code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d) index++;
    else return code === 0x3a; /* : */
  }
  return false;
}

/**
 * Serialise a request value: like `JSON.stringify`, except that a `JsonNumber` is written as the
 * bare number it holds and a bigint as an integer. Non-finite numbers and values JSON cannot hold
 * (functions, symbols, undefined inside arrays) are programming errors and throw.
 */
export function stringifyLossless(value: unknown): string {
  if (value instanceof JsonNumber) return value.text;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'bigint':
      return value.toString();
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`cannot send the number ${value} as JSON`);
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map((item) => stringifyLossless(item)).join(',')}]`;
      const fields = Object.entries(value as Record<string, unknown>)
        .filter(([, field]) => field !== undefined)
        .map(([key, field]) => `${JSON.stringify(key)}:${stringifyLossless(field)}`);
      return `{${fields.join(',')}}`;
    }
    default:
      throw new TypeError(`cannot send a ${typeof value} as JSON`);
  }
}
