/**
 * The part of block.io's API the webhook receiver needs to manage its own notification. The
 * block.io backend provides it (`notificationApi()`); tests may hand the service another.
 */
export type { BlockioNotificationApi } from '../backends/blockio/notification-api.js';
