/**
 * The part of block.io's API the webhook receiver needs to manage its own notification. The
 * block.io backend's client provides it; tests use the fake notification sender.
 */

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
