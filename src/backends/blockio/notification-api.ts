/**
 * block.io's notification API (`create_notification`, `delete_notification`) for the account of
 * one API key. The webhook receiver with `manage: true` creates its notification through it at
 * start and deletes it at stop; the block.io backend offers it as `notificationApi()`.
 */
import { OUTCOME_UNKNOWN } from '../backend.js';
import { BackendError, type BackendErrorCode } from '../../domain/errors.js';
import type { BlockioClient } from './client.js';
import { garbage, type WalletView } from './wallet-view.js';

/** `create_notification` and `delete_notification` of block.io's API, for the coin's API key. */
export interface BlockioNotificationApi {
  /**
   * `create_notification` with `type=account` and `url`: block.io first posts `{"type":"ping"}` to
   * the URL and creates the notification only when that is answered with 2xx. Resolves to the
   * `notification_id`; rejects when block.io refuses.
   */
  createNotification(url: string): Promise<string>;
  /** `delete_notification`: block.io stops posting to the notification's URL. */
  deleteNotification(notificationId: string): Promise<void>;
}

/** The notification API over `client`; `view` checks that answers are for this coin's network. */
export function blockioNotificationApi(client: BlockioClient, view: WalletView): BlockioNotificationApi {
  return {
    async createNotification(url) {
      // Not repeated blindly: a lost answer may mean a notification exists, and a second one
      // would deliver everything twice. The receiver's start fails and says so instead.
      let data: { network?: unknown; notification_id?: unknown };
      try {
        data = await client.call('create_notification', { type: 'account', url }, { idempotent: false });
      } catch (error) {
        if (!(error instanceof BackendError)) throw error;
        // The URL's last segment is the webhook's only credential: never quoted back, should block.io echo it.
        const message = error.message.split(url).join('<public_url>/***');
        const unknown = error.code === OUTCOME_UNKNOWN;
        throw new BackendError(unknown ? `${message}; look for a stray notification with list_notifications` : message, {
          retryable: error.retryable,
          code: error.code as BackendErrorCode,
        });
      }
      view.checkNetwork(data.network, 'create_notification');
      const id = data.notification_id;
      if (typeof id !== 'string' || !/^[\w-]{1,100}$/.test(id)) throw garbage(`create_notification gave ${JSON.stringify(id)}`);
      return id;
    },
    async deleteNotification(notificationId) {
      const data = await client.call<{ network?: unknown }>('delete_notification', { notification_id: notificationId });
      view.checkNetwork(data.network, 'delete_notification');
    },
  };
}
