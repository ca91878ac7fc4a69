/**
 * A fake block.io notification sender, in parts another fake (the block.io API server) can
 * compose: the webhook poster and the WebSocket server, speaking block.io's documented
 * notification protocol over real HTTP and WebSocket on 127.0.0.1.
 */
export { notificationData, type FakeTransaction } from './transaction.js';
export { deliveryBody, FakeWebhookPoster, type FakeNotification, type PostRecord, type WebhookPosterOptions } from './webhook-poster.js';
export { FakeBlockioSocketServer, type SocketServerOptions } from './websocket-server.js';
