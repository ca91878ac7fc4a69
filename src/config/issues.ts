/**
 * Turning validation findings into the one-line `config: <path>: <reason>` error.
 *
 * Rule for every reason written here and in the other config modules: never quote a configured
 * VALUE. Values may come from environment variables holding secrets, and error messages end up in
 * logs. Reasons name keys, expected types and allowed choices only.
 */
import type * as z from 'zod';
import { ConfigError } from '../domain/errors.js';

/** The reason given for a required key that is not there. */
const MISSING = 'required key is missing';

/** One step of a key path: a map key or a list index. */
export type PathSegment = string | number;

/** One thing wrong with the configuration. */
export interface Problem {
  readonly path: readonly PathSegment[];
  readonly reason: string;
}

/** `['coins', 'btc', 'backend', 'url']` → `coins.btc.backend.url`; list indexes as `p2sh[1]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text === '' ? segment : `.${segment}`;
  }
  return text;
}

/**
 * Collects problems so that one pass reports the first and counts the rest, instead of making
 * the operator fix a file one error per run without knowing how many remain.
 */
export class Problems {
  private readonly list: Problem[] = [];

  add(path: readonly PathSegment[], reason: string): void {
    this.list.push({ path: [...path], reason });
  }

  get size(): number {
    return this.list.length;
  }

  /** @throws ConfigError for the first problem, when there is any. */
  throwIfAny(): void {
    const first = this.list[0];
    if (first) throw configError(first, this.list.length - 1);
  }
}

/** Build the single-line error for `first`, mentioning how many other problems were found. */
export function configError(first: Problem, others: number): ConfigError {
  const more = others === 0 ? '' : ` (and ${others} more problem${others === 1 ? '' : 's'})`;
  return new ConfigError(formatPath(first.path), oneLine(first.reason) + more);
}

/** Messages must stay on one line whatever a library put in them. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** The zod issues of a failed parse as problems, in the order zod found them. */
export function problemsFromZod(error: z.ZodError): Problems {
  const problems = new Problems();
  // Missing keys last: a misspelt key (`databse:`) also makes the real one look missing, and the
  // misspelling is what the operator has to fix, so it is the problem described.
  const missing = (issue: z.core.$ZodIssue) => issue.message.startsWith(MISSING);
  const ordered = [...error.issues.filter((issue) => !missing(issue)), ...error.issues.filter(missing)];
  for (const issue of ordered) {
    const path = issue.path.filter(isPathSegment);
    if (issue.code === 'unrecognized_keys') {
      // Zod reports the enclosing object; the operator needs the offending key itself.
      for (const key of issue.keys) problems.add([...path, key], issue.message);
    } else {
      problems.add(path, issue.message);
    }
  }
  return problems;
}

function isPathSegment(segment: PropertyKey): segment is PathSegment {
  return typeof segment === 'string' || typeof segment === 'number';
}

/**
 * Error map for `safeParse`: the reason text of each zod issue. Reasons set explicitly in the
 * schema (refinements, regex messages) take precedence over this map.
 */
export function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return MISSING;
      return `expected ${describeExpected(issue.expected)}, got ${describeValue(issue.input)}${quoteHint(issue)}`;
    case 'unrecognized_keys': {
      const allowed = knownKeys(issue.inst);
      if (allowed.length === 0) return 'unknown key';
      // Keys are names from the schema or the file, never values: safe to repeat.
      const guess = issue.keys.length === 1 ? closestKey(String(issue.keys[0]), allowed) : undefined;
      return `unknown key${guess === undefined ? '' : `; did you mean ${guess}?`} (allowed here: ${allowed.join(', ')})`;
    }
    case 'invalid_value':
      return `expected ${listChoices(issue.values)}`;
    case 'invalid_union': {
      const options = 'options' in issue && Array.isArray(issue.options) ? issue.options : [];
      if (issue.discriminator !== undefined && options.length > 0) {
        const present = isRecord(issue.input) && issue.input[issue.discriminator] !== undefined;
        return present ? `expected ${listChoices(options)}` : `required key is missing (one of ${options.join(', ')})`;
      }
      return 'does not match any allowed form';
    }
    case 'invalid_key':
      return issue.issues[0]?.message ?? 'invalid key';
    case 'too_small':
      return describeBound('small', issue.origin, Number(issue.minimum));
    case 'too_big':
      return describeBound('big', issue.origin, Number(issue.maximum));
    default:
      return undefined;
  }
}

function describeBound(side: 'small' | 'big', origin: string, limit: number): string {
  if (origin === 'string') {
    if (side === 'small') return limit <= 1 ? 'must not be empty' : `must be at least ${limit} characters`;
    return `must be at most ${limit} characters`;
  }
  if (origin === 'array') {
    if (side === 'small') return limit <= 1 ? 'must not be an empty list' : `must have at least ${limit} entries`;
    return `must have at most ${limit} entries`;
  }
  return side === 'small' ? `must be at least ${limit}` : `must be at most ${limit}`;
}

const EXPECTED_NAMES: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'an integer',
  bigint: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a map',
  record: 'a map',
};

function describeExpected(expected: string): string {
  return EXPECTED_NAMES[expected] ?? expected;
}

/** The kind of a value in YAML terms, without the value itself. */
export function describeValue(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return 'text';
    case 'bigint':
      return 'an integer';
    case 'number':
      return Number.isInteger(value) ? 'an integer' : 'a number';
    case 'boolean':
      return 'true/false';
    case 'object':
      return 'a map';
    default:
      return typeof value;
  }
}

/** YAML turns unquoted `12345` into a number; a password of digits must be quoted. */
function quoteHint(issue: z.core.$ZodRawIssue): string {
  if (issue.code !== 'invalid_type' || issue.expected !== 'string') return '';
  const kind = typeof issue.input;
  return kind === 'number' || kind === 'bigint' || kind === 'boolean' ? ' (put it in quotes)' : '';
}

function listChoices(values: readonly unknown[]): string {
  const names = values.map(String);
  return names.length === 1 ? String(names[0]) : `one of ${names.join(', ')}`;
}

/** The allowed key a misspelling most likely meant: at most two edits away (one for short keys). */
function closestKey(key: string, allowed: readonly string[]): string | undefined {
  const limit = key.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of allowed) {
    const distance = editDistance(key.toLowerCase(), candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbouring letters counted as one edit. */
function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Number.POSITIVE_INFINITY;
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = value;
    }
  }
  return rows[a.length]![b.length]!;
}

function knownKeys(inst: unknown): string[] {
  const shape = (inst as { shape?: unknown } | undefined)?.shape;
  return isRecord(shape) ? Object.keys(shape) : [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
