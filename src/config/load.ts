/**
 * Entry points: a YAML file or an already parsed object → validated, typed Config.
 *
 * Pipeline: YAML → `${VAR}` interpolation → structural validation (schema.ts) → cross-key rules,
 * defaults and path resolution (build.ts). Each stage throws one single-line ConfigError.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, type YAMLError } from 'yaml';
import { ConfigError } from '../domain/errors.js';
import { buildConfig } from './build.js';
import { interpolateEnv, type Env } from './interpolate.js';
import { describeIssue, oneLine, problemsFromZod } from './issues.js';
import { configSchema } from './schema.js';
import type { Config } from './types.js';

/** Options of `parseConfig`. */
export interface ParseConfigOptions {
  /**
   * Directory that relative paths (SQLite file, walletnotify pipe, cookie file, `./` modules and
   * scripts) are resolved against. `loadConfigFile` passes the file's directory; without it,
   * relative paths are kept as written and so resolve against the working directory later.
   */
  readonly baseDir?: string;
}

/**
 * Validate a configuration given as a plain object with the same snake_case keys as the YAML
 * file, substituting `${VAR}` references in string values from `env`.
 *
 * @throws ConfigError with a one-line message for the first problem.
 */
export function parseConfig(raw: unknown, env: Env = process.env, options: ParseConfigOptions = {}): Config {
  if (raw === undefined || raw === null) throw new ConfigError('', 'the configuration is empty');
  const interpolated = interpolateEnv(raw, env);
  const parsed = configSchema.safeParse(interpolated, { error: describeIssue });
  if (!parsed.success) {
    // The ZodError is deliberately not attached as `cause`: its issues carry the input values.
    problemsFromZod(parsed.error).throwIfAny();
    throw new ConfigError('', 'invalid configuration');
  }
  return buildConfig(parsed.data, options);
}

/**
 * Read, interpolate and validate a YAML configuration file. Relative paths inside it are
 * resolved against the file's directory, so the result does not depend on the working directory.
 *
 * @throws ConfigError when the file cannot be read, is not valid YAML (with line:column) or does
 *   not validate.
 */
export async function loadConfigFile(path: string, env: Env = process.env): Promise<Config> {
  let source: string;
  try {
    source = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError('', `cannot read ${path}: ${describeReadError(error)}`);
  }
  const raw = parseYaml(source, path);
  if (raw === undefined || raw === null) throw new ConfigError('', `${path} is empty`);
  return parseConfig(raw, env, { baseDir: dirname(resolve(path)) });
}

function describeReadError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return typeof code === 'string' ? code : oneLine(String(error));
  }
}

/**
 * Parse YAML 1.2 with integers as bigint, so amounts and other large integers stay exact; the
 * schema converts small ones to numbers. Warnings (e.g. an unknown `!tag`) count as errors
 * because they mean the file does not say what its author thinks it says.
 */
function parseYaml(source: string, file: string): unknown {
  const lineCounter = new LineCounter();
  // prettyErrors off: its messages embed a multi-line excerpt of the file; the position is
  // taken from the LineCounter instead.
  const doc = parseDocument(source, { intAsBigInt: true, prettyErrors: false, lineCounter, uniqueKeys: true });
  const first = doc.errors[0] ?? doc.warnings[0];
  if (first) throw yamlError(first, file, lineCounter, doc.errors.length + doc.warnings.length - 1);
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // Alias expansion limits ("billion laughs") and similar failures of the conversion itself.
    throw new ConfigError('', `${file}: invalid YAML: ${oneLine(error instanceof Error ? error.message : String(error))}`);
  }
}

function yamlError(error: YAMLError, file: string, lineCounter: LineCounter, others: number): ConfigError {
  const { line, col } = lineCounter.linePos(error.pos[0]);
  const more = others > 0 ? ` (and ${others} more problem${others === 1 ? '' : 's'})` : '';
  const hint = QUOTING_MISTAKES.has(error.code) ? ' (hint: quote values that contain ":" or "{")' : '';
  return new ConfigError('', `${file}:${line}:${col}: invalid YAML: ${oneLine(error.message)}${hint}${more}`);
}

/**
 * Errors typically caused by an unquoted `sqlite::memory:` (a trailing colon starts a mapping) or
 * an unquoted `${VAR}` inside `{ … }` (braces are flow syntax); yaml's own wording does not say so.
 */
const QUOTING_MISTAKES = new Set<string>(['BLOCK_AS_IMPLICIT_KEY', 'UNEXPECTED_TOKEN', 'BAD_SCALAR_START']);
