/**
 * The fake block.io notification sender (webhook poster, WebSocket server) lives in
 * src/devtools/blockio-fake, where the fake block.io API server composes it; tests import it from here.
 */
export { notificationData, type FakeTransaction } from '../../../src/devtools/blockio-fake/notification-data.js';
export {
  deliveryBody,
  FakeWebhookPoster,
  type FakeNotification,
  type PostRecord,
  type WebhookPosterOptions,
} from '../../../src/devtools/blockio-fake/webhook-poster.js';
export { FakeBlockioSocketServer, type SocketServerOptions } from '../../../src/devtools/blockio-fake/websocket-server.js';

/**
 * The raw `walletnotify` of a managed block.io webhook receiver on `port` with the path secret
 * from `${BLOCKIO_SECRET}`, which block.io reaches at `publicPort` (the receiver's own, unless a
 * test wants block.io's ping to miss it).
 */
export function managedWebhookNotify(port: number, publicPort = port): Record<string, unknown> {
  return { type: 'blockio-webhook', path_secret: '${BLOCKIO_SECRET}', port, manage: true, public_url: `http://127.0.0.1:${publicPort}` };
}
