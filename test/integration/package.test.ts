/**
 * The published package: what `npm pack` ships, how `require` and `import` resolve it, and which
 * dependencies importing it loads. Child processes, so nothing this test process loaded counts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  devDependencies: Record<string, string>;
};

function node(args: string[]): { code: number | null; out: string; err: string } {
  const result = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

describe('npm pack', () => {
  const packed = (): string[] => {
    const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return (JSON.parse(output) as { files: { path: string }[] }[])[0]!.files.map((file) => file.path).sort();
  };
  let files: string[] = [];
  beforeAll(() => {
    files = packed();
  });

  it('ships only the build of the current sources, docs, examples and the package texts', () => {
    expect(files, 'no dist/ in the package: run `npm run build`').toContain('dist/index.js');
    const unexpected = files.filter(
      (path) =>
        !/^(package\.json|README\.md|LICENSE|CHANGELOG\.md)$/.test(path) &&
        !/^docs\/[\w-]+\.md$/.test(path) &&
        !/^examples\/[\w-]+\.yaml$/.test(path) &&
        !/^examples\/systemd\/[\w-]+\.service$/.test(path) &&
        !/^cjs\/[\w-]+\.cjs$/.test(path) &&
        !/^dist\/.+\.(js|d\.ts)$/.test(path),
    );
    expect(unexpected).toEqual([]);
    // A file tsc left in dist/ after its source was moved or deleted would be shipped: the build
    // clears dist/ first, and this finds a build older than the sources.
    const stale = files
      .filter((path) => path.startsWith('dist/'))
      .filter((path) => !existsSync(join(root, path.replace(/^dist\//, 'src/').replace(/\.(d\.ts|js)$/, '.ts'))));
    expect(stale, 'stale files in dist/: run `npm run build`').toEqual([]);
    for (const path of ['LICENSE', 'CHANGELOG.md', 'README.md']) expect(files).toContain(path);
  });

  it('ships every file package.json points at', () => {
    const targets = [
      ...Object.values(manifest.bin),
      ...Object.values(manifest.exports).flatMap((entry) => (typeof entry === 'string' ? [entry] : Object.values(entry))),
    ].map((path) => posix.normalize(path));
    for (const target of targets) expect(files, target).toContain(target);
  });

  it('ships no source map, or only maps whose sources are shipped or embedded', () => {
    // tsconfig.build.json turns maps off (src/ is not shipped); should they come back, they must resolve.
    for (const map of files.filter((path) => path.endsWith('.map'))) {
      const parsed = JSON.parse(readFileSync(join(root, map), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      parsed.sources.forEach((source, index) => {
        const shipped = files.includes(posix.normalize(posix.join(posix.dirname(map), source)));
        expect(shipped || typeof parsed.sourcesContent?.[index] === 'string', `${map} points at ${source}, which is not shipped`).toBe(
          true,
        );
      });
    }
    expect(files.filter((path) => path.endsWith('.map'))).toEqual([]);
  });
});

describe('resolving the package', () => {
  it('refuses require() with one clear message: the package is ESM-only', () => {
    for (const name of ['cryptoassets', 'cryptoassets/testing']) {
      const result = node(['-e', `require(${JSON.stringify(name)})`]);
      expect(result.code).toBe(1);
      expect(result.err).toContain(
        "Error: cryptoassets is ESM-only: use import (from CommonJS: const { openFromConfig } = await import('cryptoassets'))",
      );
    }
  });

  it('resolves import to the build', () => {
    const result = node([
      '--input-type=module',
      '-e',
      "console.log(import.meta.resolve('cryptoassets'), import.meta.resolve('cryptoassets/testing'))",
    ]);
    expect(result.err).toBe('');
    expect(result.out).toBe(
      `${pathToFileURL(join(root, 'dist/index.js')).href} ${pathToFileURL(join(root, 'dist/testing/index.js')).href}\n`,
    );
  });

  it('declares vitest (which cryptoassets/testing imports) as an optional peer dependency', () => {
    expect(readFileSync(join(root, 'src/testing/backend-conformance.ts'), 'utf8')).toContain("from 'vitest'");
    expect(manifest.peerDependencies?.vitest).toBeDefined();
    expect(manifest.peerDependenciesMeta?.vitest?.optional).toBe(true);
    expect(manifest.devDependencies.vitest).toBeDefined();
  });
});

describe('optional dependencies load on use', () => {
  // A resolve hook that fails every import of redis: importing the package must still work, and
  // only starting a Redis listener reaches the hook.
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cryptoassets-package-'));
    writeFileSync(
      join(dir, 'hooks.mjs'),
      `export async function resolve(specifier, context, next) {
  if (specifier === 'redis' || specifier.startsWith('@redis/')) throw new Error('REDIS LOADED: ' + specifier);
  return next(specifier, context);
}
`,
    );
    writeFileSync(
      join(dir, 'register.mjs'),
      `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = (script: string) =>
    node(['--import', 'tsx', '--import', pathToFileURL(join(dir, 'register.mjs')).href, '--input-type=module', '-e', script]);
  const src = (path: string) => JSON.stringify(pathToFileURL(join(root, 'src', path)).href);

  it('importing cryptoassets (and its notify module) does not load redis', () => {
    const result = run(
      `const ca = await import(${src('index.ts')}); await import(${src('notify/index.ts')}); console.log(typeof ca.openFromConfig);`,
    );
    expect(result.err).toBe('');
    expect(result.out).toBe('function\n');
  });

  it('starting a Redis listener loads it (the hook sees it)', () => {
    const result = run(
      `const { RedisNotificationListener } = await import(${src('notify/redis-listener.ts')});
const log = { info() {}, warn() {}, error() {} };
const listener = new RedisNotificationListener({ type: 'redis', url: 'redis://127.0.0.1:1', channel: 'c' }, () => {}, log);
await listener.start().catch((error) => console.log(error.message));`,
    );
    expect(result.err).toBe('');
    expect(result.out).toMatch(/^walletnotify: cannot load the redis package: .*REDIS LOADED: redis/);
  });
});
