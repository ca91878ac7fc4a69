/**
 * `cryptoassets doctor`: one line per check, `ok` or `FAIL`, and exit 0 only when every check
 * passes. Checks the configuration, the database (reachable, migrated to the latest schema), each
 * coin's node (reachable: its chain tip; its wallet loaded: its balance), the walletnotify
 * listeners' configuration, and that every webhook target answers.
 *
 * Nothing is written: the database is opened without migrating, the nodes are asked read-only
 * questions, and a webhook target gets a HEAD request, which has no body and no signature, so no
 * receiver can take it for an event (the receiver of this package answers it 405).
 */
import { dirname } from 'node:path';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { createBackend } from '../../backends/factory.js';
import { formatAmount } from '../../domain/amounts.js';
import { redactUrlPassword, redactUrlSecrets } from '../../domain/urls.js';
import type { Config } from '../../config/types.js';
import { openFromConfig } from '../../open-from-config.js';
import { GLOBAL_SCOPE, latestSchemaVersion, schemaVersions } from '../../store/migrations.js';
import { loadCliConfig } from '../config-file.js';
import { describeError, EXIT } from '../exit-codes.js';
import type { CliIo } from '../program.js';

/** One check's verdict. */
export interface DoctorCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** How long a webhook target may take to answer the HEAD request. */
const WEBHOOK_TIMEOUT_MS = 5_000;

export async function doctorCommand(io: CliIo, options: { config?: string; json?: boolean }): Promise<number> {
  const checks: DoctorCheck[] = [];
  const record = (check: DoctorCheck) => {
    checks.push(check);
    if (!options.json) io.out(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}\n`);
  };
  let config: Config | undefined;
  try {
    config = await loadCliConfig(io, options.config);
    record({ name: 'config', ok: true, detail: `${options.config} is valid (${Object.keys(config.coins).join(', ')})` });
  } catch (error) {
    record({ name: 'config', ok: false, detail: oneLine(error) });
  }
  if (config) {
    await checkDatabase(config, record);
    for (const [code, coin] of Object.entries(config.coins)) await checkNode(code, coin, record);
    checkNotifications(config, record);
    await checkWebhooks(config, record);
  }
  const ok = checks.every((check) => check.ok);
  if (options.json) io.out(`${JSON.stringify({ ok, checks }, null, 2)}\n`);
  else
    io.out(
      ok
        ? `doctor: all ${checks.length} checks passed\n`
        : `doctor: ${checks.filter((c) => !c.ok).length} of ${checks.length} checks FAILED\n`,
    );
  return ok ? EXIT.ok : EXIT.failed;
}

async function checkDatabase(config: Config, record: (check: DoctorCheck) => void): Promise<void> {
  const where = config.database.kind === 'sqlite' ? config.database.path : redactUrlPassword(config.database.url);
  if (config.database.kind === 'sqlite' && !existsSync(config.database.path)) {
    // Opening would create the file: a doctor changes nothing.
    record({ name: 'database', ok: false, detail: `${where} does not exist: run cryptoassets initialize-database` });
    return;
  }
  let app;
  try {
    app = await openFromConfig(config, { checkSchema: false, backends: false });
  } catch (error) {
    record({ name: 'database', ok: false, detail: oneLine(error) });
    return;
  }
  try {
    // Opening a PostgreSQL pool connects lazily: the first query is what reaches the server.
    let version;
    try {
      version = await app.database.version();
    } catch (error) {
      record({ name: 'database', ok: false, detail: oneLine(error) });
      return;
    }
    record({ name: 'database', ok: true, detail: `${version} at ${where}` });
    const codes = Object.keys(config.coins);
    const versions = await schemaVersions(app.database, codes);
    const behind = [GLOBAL_SCOPE, ...codes].filter((scope) => (versions[scope] ?? 0) !== latestSchemaVersion(app.database, scope));
    const describe = (scope: string) =>
      `${scope === GLOBAL_SCOPE ? 'shared tables' : scope} ${versions[scope] ?? 0}/${latestSchemaVersion(app.database, scope)}`;
    record(
      behind.length === 0
        ? { name: 'schema', ok: true, detail: `latest (${[GLOBAL_SCOPE, ...codes].map(describe).join(', ')})` }
        : { name: 'schema', ok: false, detail: `not migrated: ${behind.map(describe).join(', ')}: run cryptoassets initialize-database` },
    );
  } catch (error) {
    record({ name: 'schema', ok: false, detail: oneLine(error) });
  } finally {
    await app.close().catch(() => undefined);
  }
}

async function checkNode(code: string, coin: Config['coins'][string], record: (check: DoctorCheck) => void): Promise<void> {
  let backend;
  try {
    backend = await createBackend(code, coin);
  } catch (error) {
    record({ name: `${code} node`, ok: false, detail: oneLine(error) });
    return;
  }
  try {
    try {
      const tip = await backend.chainTip();
      record({ name: `${code} node`, ok: true, detail: `${coin.backend.type} backend reachable, tip at height ${tip.height}` });
    } catch (error) {
      record({ name: `${code} node`, ok: false, detail: oneLine(error) });
      return;
    }
    try {
      const balance = await backend.getBalance(0);
      record({ name: `${code} wallet`, ok: true, detail: `loaded, holds ${formatAmount(balance, coin.coin)} ${code} (0 confirmations)` });
    } catch (error) {
      record({ name: `${code} wallet`, ok: false, detail: oneLine(error) });
    }
  } finally {
    await backend.close().catch(() => undefined);
  }
}

/**
 * The walletnotify listeners as configured: an HTTP listener on a port of its own (not the status
 * page's, not another coin's), a pipe whose folder exists, a Redis URL. Nothing is bound or
 * connected: the running service may hold them.
 */
function checkNotifications(config: Config, record: (check: DoctorCheck) => void): void {
  const ports = new Map<string, string>();
  if (config.statusServer.enabled) ports.set(`${config.statusServer.port}`, 'the status server');
  for (const [code, coin] of Object.entries(config.coins)) {
    const notify = coin.walletnotify;
    const name = `${code} walletnotify`;
    if (!notify) {
      record({ name, ok: true, detail: 'not configured (the service finds deposits every poll period)' });
      continue;
    }
    if (notify.type === 'http' || notify.type === 'blockio-webhook') {
      const taken = ports.get(`${notify.port}`);
      if (taken) record({ name, ok: false, detail: `${notify.type} port ${notify.port} is also ${taken}'s` });
      else if (notify.host !== 'localhost' && isIP(notify.host) === 0)
        record({ name, ok: false, detail: `${notify.type} host ${JSON.stringify(notify.host)} is not an IP address or localhost` });
      else record({ name, ok: true, detail: `${notify.type} on ${notify.host}:${notify.port}` });
      ports.set(`${notify.port}`, `${code}'s walletnotify listener`);
    } else if (notify.type === 'blockio-websocket') {
      // Connecting would open a second subscription beside the running service's; the URL was validated.
      record({ name, ok: true, detail: `blockio-websocket ${redactUrlPassword(notify.url)} network ${notify.network}` });
    } else if (notify.type === 'pipe') {
      const folder = dirname(notify.path);
      record(
        existsSync(folder)
          ? { name, ok: true, detail: `pipe ${notify.path}` }
          : { name, ok: false, detail: `the folder of pipe ${notify.path} does not exist` },
      );
    } else {
      let url: URL | undefined;
      try {
        url = new URL(notify.url);
      } catch {
        url = undefined;
      }
      record(
        url && (url.protocol === 'redis:' || url.protocol === 'rediss:')
          ? { name, ok: true, detail: `redis ${redactUrlPassword(notify.url)} channel ${notify.channel}` }
          : { name, ok: false, detail: 'redis url is not a redis:// or rediss:// URL' },
      );
    }
  }
}

/** Each webhook target must answer a HEAD request with any status below 500, within 5 seconds. */
async function checkWebhooks(config: Config, record: (check: DoctorCheck) => void): Promise<void> {
  for (const [name, handler] of Object.entries(config.events)) {
    if (handler.type !== 'webhook') continue;
    const target = redactUrlSecrets(handler.url);
    try {
      const response = await fetch(handler.url, {
        method: 'HEAD',
        redirect: 'manual',
        signal: AbortSignal.timeout(Math.min(handler.timeoutMs, WEBHOOK_TIMEOUT_MS)),
      });
      record(
        response.status < 500
          ? { name: `webhook ${name}`, ok: true, detail: `${target} answers (HTTP ${response.status} to HEAD)` }
          : { name: `webhook ${name}`, ok: false, detail: `${target} answers HTTP ${response.status} to HEAD` },
      );
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = (error as Error).name === 'TimeoutError' ? 'no answer within 5 s' : (cause?.code ?? cause?.message ?? oneLine(error));
      record({ name: `webhook ${name}`, ok: false, detail: `${target} does not answer: ${reason}` });
    }
  }
}

function oneLine(error: unknown): string {
  return describeError(error) ?? (error instanceof Error ? error.message.split('\n')[0]! : String(error));
}
