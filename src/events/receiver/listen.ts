/**
 * A standalone HTTP server for the event receiver, for applications that have no server of their
 * own. It binds to 127.0.0.1 unless told otherwise, like every listener of this project.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEventReceiver, type EventReceiverOptions } from './receiver.js';

/** Options of {@link listenForEvents}: where to listen, and the receiver's options. */
export interface ListenForEventsOptions extends EventReceiverOptions {
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
  /** Port; 0 picks a free one. */
  port: number;
}

/** A running receiver server. */
export interface EventReceiverServer {
  /** The bound port (the chosen one when 0 was asked for). */
  readonly port: number;
  /** `http://<host>:<port>/`: what to put in the webhook's `url`. Any path is accepted. */
  readonly url: string;
  /** Stops accepting connections and resolves once requests in progress are answered. */
  close(): Promise<void>;
}

// A sender posts a ~1 KiB body at once; these only stop a stuck or hostile client holding a socket.
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** Starts an HTTP server that hands every POSTed event to `options.onEvent`. */
export async function listenForEvents(options: ListenForEventsOptions): Promise<EventReceiverServer> {
  const { host = '127.0.0.1', port, ...receiverOptions } = options;
  const server = createServer(
    { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
    createEventReceiver(receiverOptions),
  );
  await listen(server, port, host);
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    port: bound,
    url: `http://${shownHost}:${bound}/`,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive connections with no request in progress would otherwise delay close().
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
