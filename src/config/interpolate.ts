/**
 * `${VAR}` substitution in configuration values, so secrets live in the environment rather than
 * in the file. Only string values are touched, never keys, and substitution is a single pass:
 * text that comes out of a variable is never scanned again, so a secret that happens to contain
 * `${` stays exactly as it is.
 *
 * Syntax inside any string value:
 * - `${NAME}`: the variable's value; an error if it is not set (set but empty gives "").
 * - `${NAME:-default}`: the default when the variable is unset or empty, as in POSIX shells.
 *   The default is literal text up to the next `}` and may not contain `${`.
 * - `$${`: a literal `${`. Any other `$` is literal.
 */
import { Problems, type PathSegment } from './issues.js';

/** Variables to substitute from; usually `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>;

// NAME, then optionally ":-" and a default free of "}" and of "${".
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-((?:[^}$]|\$(?!\{))*))?\}/y;

/**
 * Return a copy of `tree` with every `${…}` reference in string values replaced.
 *
 * @throws ConfigError naming the key path of the first missing variable or malformed
 *   reference (and how many more there are). Values never appear in the message.
 */
export function interpolateEnv(tree: unknown, env: Env): unknown {
  const problems = new Problems();
  const result = walk(tree, [], env, problems);
  problems.throwIfAny();
  return result;
}

function walk(node: unknown, path: PathSegment[], env: Env, problems: Problems): unknown {
  if (typeof node === 'string') return substitute(node, path, env, problems);
  if (Array.isArray(node)) return node.map((item, index) => walk(item, [...path, index], env, problems));
  if (isPlainObject(node)) {
    const copy: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      // defineProperty rather than assignment, so a key named __proto__ stays an ordinary key.
      Object.defineProperty(copy, key, {
        value: walk(value, [...path, key], env, problems),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return copy;
  }
  return node;
}

function substitute(text: string, path: PathSegment[], env: Env, problems: Problems): string {
  if (!text.includes('${')) return text;
  let out = '';
  let index = 0;
  while (index < text.length) {
    const dollar = text.indexOf('$', index);
    if (dollar === -1) break;
    out += text.slice(index, dollar);
    if (text.startsWith('$${', dollar)) {
      out += '${';
      index = dollar + 3;
      continue;
    }
    if (!text.startsWith('${', dollar)) {
      out += '$';
      index = dollar + 1;
      continue;
    }
    REFERENCE.lastIndex = dollar;
    const match = REFERENCE.exec(text);
    if (!match) {
      problems.add(path, 'malformed variable reference: expected ${NAME} or ${NAME:-default} (write $${ for a literal ${)');
      return text;
    }
    const name = match[1] as string;
    const fallback = match[2];
    const value = Object.hasOwn(env, name) ? env[name] : undefined;
    if (fallback !== undefined && (value === undefined || value === '')) {
      out += fallback;
    } else if (value === undefined) {
      problems.add(path, `environment variable ${name} is not set`);
    } else {
      out += value;
    }
    index = REFERENCE.lastIndex;
  }
  return out + text.slice(index);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
