/**
 * `cryptoassets events`, `dead-letters`, `redeliver`: reading the outbox and settling dead letters
 * from the command line. They need the database only, never a node.
 */
import type { Config } from '../../config/types.js';
import { toSeq } from '../../events/events-api.js';
import { EXIT, UsageError } from '../exit-codes.js';
import type { CliIo } from '../program.js';
import { withApp } from '../with-app.js';

/** Print sequenced events after an id, one JSON document per line. */
export function eventsCommand(io: CliIo, options: { config?: string; after?: string; limit?: string }): Promise<number> {
  const after = options.after ?? '0';
  const limit = Number(options.limit ?? '100');
  if (!/^\d{1,19}$/.test(after) || !Number.isInteger(limit) || limit < 1 || limit > 1000) {
    io.err('cryptoassets: events: --after must be an event id and --limit 1..1000\n');
    return Promise.resolve(EXIT.usage);
  }
  return withApp(io, options.config, { backends: false }, async (app) => {
    const events = await app.events.after(after, limit);
    for (const event of events) io.out(`${JSON.stringify(event)}\n`);
  });
}

/** List dead letters. */
export function deadLettersCommand(io: CliIo, options: { config?: string; handler?: string }): Promise<number> {
  return withApp(
    io,
    options.config,
    { backends: false },
    async (app) => {
      const letters = await app.events.deadLetters(options.handler);
      if (letters.length === 0) io.out('no dead letters\n');
      for (const letter of letters) {
        io.out(
          `${letter.handler}\tevent ${letter.eventId}\t${letter.attempts} attempts\t${letter.deadAt}\t${letter.redeliveryRequested ? 'redelivery requested\t' : ''}${letter.lastError ?? ''}\n`,
        );
      }
    },
    // A typo would answer "no dead letters" as if all were well.
    (config) => (options.handler === undefined ? undefined : checkHandler(config, 'dead-letters', options.handler)),
  );
}

/**
 * Ask the service to deliver dead letters again. Only a configured handler: the service would
 * deliver nothing for another name, and a typo would otherwise report "0 dead letter(s)" as if
 * all were well.
 */
export function redeliverCommand(io: CliIo, options: { config?: string; handler: string; event?: string }): Promise<number> {
  return withApp(
    io,
    options.config,
    { backends: false },
    async (app) => {
      const marked = await app.events.redeliver(options.handler, options.event);
      io.out(`${marked} dead letter(s) of ${options.handler} will be delivered again by the running service\n`);
    },
    (config) => {
      checkHandler(config, 'redeliver', options.handler);
      if (options.event !== undefined) {
        try {
          toSeq(options.event);
        } catch (error) {
          throw new UsageError(`redeliver: --event: ${(error as Error).message}`);
        }
      }
    },
  );
}

/** Refuse a `--handler` that the configuration does not have. @throws UsageError */
function checkHandler(config: Config, command: string, handler: string): void {
  if (Object.hasOwn(config.events, handler)) return;
  const names = Object.keys(config.events);
  throw new UsageError(
    `${command}: --handler ${JSON.stringify(handler.slice(0, 64))} is not a configured event handler; ${
      names.length === 0 ? 'the configuration has no events section' : `configured: ${names.join(', ')}`
    }`,
  );
}
