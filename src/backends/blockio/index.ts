/** The block.io backend: API client, user key, checks of prepared withdrawals. */
export { BlockioBackend, LISTING_OVERLAP, type BlockioBackendOptions } from './blockio-backend.js';
export { BlockioClient, BlockioRefusal, type BlockioClientOptions } from './client.js';
export { blockioNetworkName } from './network.js';
export { blockioNotificationApi, type BlockioNotificationApi } from './notification-api.js';
