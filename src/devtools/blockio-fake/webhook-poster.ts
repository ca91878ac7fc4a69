/**
 * The webhook side of a fake block.io notification server: what block.io does with a notification
 * created by `create_notification`. It posts `{"type":"ping"}` to the URL first and creates the
 * notification only when that is answered with 2xx; it then posts each delivery as JSON with
 * `notification_id` and `delivery_attempt`, and tries again while the answer is not 2xx.
 *
 * It implements the API part the receiver manages its notification with (`createNotification`,
 * `deleteNotification`), so a fake block.io API server can compose it, and offers duplicates and
 * out-of-order deliveries on demand.
 */
import { randomBytes } from 'node:crypto';
import type { BlockioNotificationApi } from '../../notify/blockio-api.js';
import { notificationData, type FakeTransaction } from './notification-data.js';

/** One notification created through the API. */
export interface FakeNotification {
  readonly id: string;
  readonly url: string;
  readonly type: 'account';
}

/** One POST the poster made and what it was answered. */
export interface PostRecord {
  readonly url: string;
  readonly body: Record<string, unknown>;
  readonly status: number;
}

export interface WebhookPosterOptions {
  /** Deliveries tried at most per notification (block.io: about a day of retries). Default 5. */
  readonly maxAttempts?: number;
  /** Pause between attempts, ms; tests keep it short. Default 10. */
  readonly retryDelayMs?: number;
}

export class FakeWebhookPoster implements BlockioNotificationApi {
  private readonly notifications = new Map<string, FakeNotification>();
  /** Every POST made, in order. */
  readonly posts: PostRecord[] = [];

  constructor(private readonly options: WebhookPosterOptions = {}) {}

  /** `create_notification type=account`: ping first, create only when the ping was answered 2xx. */
  async createNotification(url: string): Promise<string> {
    const status = await this.post(url, { type: 'ping' });
    if (status < 200 || status > 299) throw new Error(`Failed: the URL answered the ping with HTTP ${status}`);
    const id = randomBytes(12).toString('hex');
    this.notifications.set(id, { id, url, type: 'account' });
    return id;
  }

  async deleteNotification(notificationId: string): Promise<void> {
    if (!this.notifications.delete(notificationId)) throw new Error(`Failed: no notification ${notificationId}`);
  }

  /** `list_notifications`. */
  list(): FakeNotification[] {
    return [...this.notifications.values()];
  }

  /**
   * Deliver `tx` to every notification, trying again after non-2xx answers. Resolves to the
   * attempts each notification needed (block.io gives up after its last attempt, as here).
   */
  async deliver(tx: FakeTransaction): Promise<number[]> {
    return Promise.all(this.list().map((notification) => this.deliverTo(notification, tx)));
  }

  /** One delivery exactly as block.io would post attempt `attempt` of it; the HTTP status. */
  deliverAttempt(notification: FakeNotification, tx: FakeTransaction, attempt: number): Promise<number> {
    return this.post(notification.url, deliveryBody(notification, tx, attempt));
  }

  /**
   * POST any body to a URL; the HTTP status, or 0 when the request failed. Bad bodies, wrong paths
   * and repeated deliveries are sent with this.
   */
  async post(url: string, body: unknown, contentType = 'application/json'): Promise<number> {
    let status: number;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: typeof body === 'string' ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      await response.arrayBuffer();
      status = response.status;
    } catch {
      status = 0;
    }
    this.posts.push({ url, body: typeof body === 'string' ? { raw: body } : (body as Record<string, unknown>), status });
    return status;
  }

  private async deliverTo(notification: FakeNotification, tx: FakeTransaction): Promise<number> {
    const maxAttempts = this.options.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      const status = await this.deliverAttempt(notification, tx, attempt);
      if ((status >= 200 && status <= 299) || attempt >= maxAttempts) return attempt;
      await new Promise((resolve) => setTimeout(resolve, this.options.retryDelayMs ?? 10));
    }
  }
}

/** The JSON block.io posts for attempt `attempt` of a transaction notification. */
export function deliveryBody(notification: Pick<FakeNotification, 'id' | 'type'>, tx: FakeTransaction, attempt: number) {
  return {
    notification_id: notification.id,
    delivery_attempt: attempt,
    type: notification.type,
    data: notificationData(tx),
    created_at: Math.floor(Date.now() / 1000),
  };
}
