/**
 * The in-process handler: calls a JavaScript function in this process for each event. The
 * function is given in code, or named in the configuration as a module and an export.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { InProcessHandlerConfig } from '../../config/types.js';
import type { CryptoAssetsEvent, EventHandler } from '../types.js';
import { describeCause, EventDeliveryError, EventHandlerLoadError } from './errors.js';

/** Attempts per event of an in-process handler; the configuration has no key for it. */
export const IN_PROCESS_MAX_ATTEMPTS_DEFAULT = 12;

/**
 * The function an in-process handler calls. Returning (or resolving) means the event was handled;
 * throwing (or rejecting) means it was not and it will be delivered again. The return value is ignored.
 */
export type EventFunction = (event: CryptoAssetsEvent) => unknown;

/** Options of an in-process handler. */
export interface InProcessHandlerOptions {
  /** Attempts before an event goes to dead-letter. Default 12. */
  maxAttempts?: number;
}

/** The settings of a configured in-process handler; `type` may be present. */
export type InProcessSettings = Omit<InProcessHandlerConfig, 'type' | 'export'> & {
  readonly type?: 'in_process';
  /** Default `default`. */
  readonly export?: string;
};

/** Options of {@link InProcessHandler.load}. */
export interface InProcessLoadOptions extends InProcessHandlerOptions {
  /** Directory a relative module path (`./x.js`) is resolved against; default the current directory. */
  baseDir?: string;
}

/** Calls a function per event. */
export class InProcessHandler implements EventHandler {
  readonly name: string;
  readonly maxAttempts: number;

  constructor(
    name: string,
    private readonly fn: EventFunction,
    options: InProcessHandlerOptions = {},
  ) {
    if (typeof fn !== 'function') throw new TypeError(`in-process handler ${JSON.stringify(name)}: expected a function`);
    this.name = name;
    this.maxAttempts = options.maxAttempts ?? IN_PROCESS_MAX_ATTEMPTS_DEFAULT;
  }

  /**
   * Imports `settings.module` and takes its export `settings.export`. Fails with an
   * {@link EventHandlerLoadError} naming the module and the export when either is missing or the
   * export is not a function.
   */
  static async load(name: string, settings: InProcessSettings, options: InProcessLoadOptions = {}): Promise<InProcessHandler> {
    const exportName = settings.export ?? 'default';
    const shown = `in-process handler ${JSON.stringify(name)}`;
    let namespace: Record<string, unknown>;
    try {
      namespace = (await import(importSpecifier(settings.module, options.baseDir))) as Record<string, unknown>;
    } catch (error) {
      throw new EventHandlerLoadError(name, `${shown}: cannot import module ${JSON.stringify(settings.module)}: ${describeCause(error)}`, {
        cause: error,
      });
    }
    if (!(exportName in namespace)) {
      const available = Object.keys(namespace).sort();
      throw new EventHandlerLoadError(
        name,
        `${shown}: module ${JSON.stringify(settings.module)} has no export ${JSON.stringify(exportName)}` +
          ` (it exports ${available.length ? available.map((key) => JSON.stringify(key)).join(', ') : 'nothing'})`,
      );
    }
    const fn = namespace[exportName];
    if (typeof fn !== 'function') {
      throw new EventHandlerLoadError(
        name,
        `${shown}: export ${JSON.stringify(exportName)} of module ${JSON.stringify(settings.module)} is ${fn === null ? 'null' : `a ${typeof fn}`}, not a function`,
      );
    }
    return new InProcessHandler(name, fn as EventFunction, options);
  }

  /** Calls the function; a throw or rejection becomes an {@link EventDeliveryError}. */
  async deliver(event: CryptoAssetsEvent): Promise<void> {
    try {
      // A private copy: the function may change what it gets without affecting other handlers or a retry.
      await this.fn(structuredClone(event));
    } catch (error) {
      throw new EventDeliveryError(this.name, `in-process handler ${JSON.stringify(this.name)} failed: ${describeCause(error)}`, {
        cause: error,
      });
    }
  }
}

/**
 * Paths (`./x.js`, `../x.js`, `/abs/x.js`) become file URLs, because `import()` of a bare absolute
 * path fails on Windows and a relative one would resolve against this file, not the application.
 * Anything else is a package specifier (or already a URL) and is imported as written.
 */
function importSpecifier(module: string, baseDir: string | undefined): string {
  if (/^\.\.?[\\/]/.test(module) || isAbsolute(module)) {
    return pathToFileURL(resolve(baseDir ?? process.cwd(), module)).href;
  }
  return module;
}
