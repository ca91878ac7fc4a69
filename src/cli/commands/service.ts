/**
 * `cryptoassets service -c FILE`: run the helper service until SIGTERM or SIGINT (exit 0), or
 * until a critical part dies (exit 2).
 */
import { openFromConfig } from '../../open-from-config.js';
import { HelperService } from '../../service/helper-service.js';
import { StatusServer } from '../../service/status-server.js';
import { loadCliConfig } from '../config-file.js';
import { EXIT } from '../exit-codes.js';
import { chooseLogLevel, createLogger } from '../logger.js';
import type { CliIo } from '../program.js';
import { reportError } from '../program.js';

/** How long a clean stop may take before the process gives up waiting. */
const STOP_TIMEOUT_MS = 30_000;

export async function serviceCommand(
  io: CliIo,
  options: { config?: string; initializeDatabase?: boolean; logLevel?: string },
): Promise<number> {
  let config;
  let app;
  let log;
  try {
    config = await loadCliConfig(io, options.config);
    log = await createLogger(chooseLogLevel(options.logLevel, io.env, config.service.logLevel));
    // The ledger logs every broadcast (sent, refused, interrupted) through the same logger.
    app = await openFromConfig(config, { migrate: options.initializeDatabase === true, log });
  } catch (error) {
    return reportError(io, error);
  }
  let critical: Error | undefined;
  let wake: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (wake = resolve));
  const service = new HelperService(app, config, log, {
    onCritical: (error) => {
      critical ??= error;
      wake();
    },
  });
  const status = config.statusServer.enabled
    ? new StatusServer(service, config.statusServer.host, config.statusServer.port, log, { explorerUrl: config.statusServer.explorerUrl })
    : undefined;
  const onSignal = (signal: string) => {
    log.info({ signal }, 'stopping');
    wake();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    await status?.start();
    if (status) log.info(status.address, 'status server listening');
    await service.start();
    log.info({ instance: service.instance, coins: app.coinCodes }, 'helper service started');
    await done;
  } catch (error) {
    critical ??= error instanceof Error ? error : new Error(String(error));
    log.error({ err: critical.message }, 'the helper service could not start');
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    const timer = setTimeout(() => {
      log.error({}, 'clean stop took too long; exiting');
      process.exit(critical ? EXIT.critical : EXIT.failed);
    }, STOP_TIMEOUT_MS);
    timer.unref();
    await service.stop().catch((error: unknown) => log.error({ err: String(error) }, 'error while stopping'));
    await status?.stop();
    await app.close();
    clearTimeout(timer);
    log.info({}, 'stopped');
  }
  if (critical) {
    io.err(`cryptoassets: service stopped: ${critical.message.split('\n')[0]}\n`);
    return EXIT.critical;
  }
  return EXIT.ok;
}
