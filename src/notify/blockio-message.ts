/**
 * What block.io's notification server sends, over webhooks and its WebSocket alike, reduced to
 * what the service needs: a transaction id to look at again. Amounts and addresses in the message
 * are ignored on purpose: the backend reads the truth, so a forged message can only cause a look-up.
 *
 * Shapes (block.io's notification documentation and its client code):
 * - `{"type": "ping"}`: sent first to a new webhook URL, and as a keep-alive on the WebSocket;
 * - `{"status": "success"}` / `{"status": "fail", "data": {"error_message": …}}`: the WebSocket's
 *   answer to a subscription;
 * - `{"notification_id", "delivery_attempt", "type": "address" | "account" | "new-transactions",
 *   "data": {"network", "txid", "confirmations", "amount_received", …}, "created_at"}`: a
 *   transaction of ours changed;
 * - `{"type": "new-blocks", …}` and other types: nothing for us.
 */
import { parseTxid, preview } from './txid.js';

/** Message types that carry a transaction of the subscribed wallet. */
const TRANSACTION_TYPES: ReadonlySet<string> = new Set(['address', 'account', 'new-transactions']);

/** One message from block.io, classified. */
export type BlockioMessage =
  | { readonly kind: 'ping' }
  | { readonly kind: 'subscribed' }
  | { readonly kind: 'refused'; readonly reason: string }
  | {
      readonly kind: 'transaction';
      readonly txid: string;
      /** The webhook's id and how often block.io has tried this delivery; null on the WebSocket. */
      readonly notificationId: string | null;
      readonly attempt: number | null;
      /** Confirmations block.io counted when it sent this; null when absent. */
      readonly confirmations: number | null;
    }
  | { readonly kind: 'ignored'; readonly type: string }
  | { readonly kind: 'invalid'; readonly reason: string };

/** Classify `text` (one webhook body or WebSocket message). Never throws. */
export function parseBlockioMessage(text: string): BlockioMessage {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return { kind: 'invalid', reason: 'not JSON' };
  }
  if (!isObject(message)) return { kind: 'invalid', reason: 'not a JSON object' };
  const { type, status } = message;
  if (status === 'success' && type === undefined) return { kind: 'subscribed' };
  if (status === 'fail') return { kind: 'refused', reason: failureReason(message.data) };
  if (typeof type !== 'string') return { kind: 'invalid', reason: 'no type' };
  if (type === 'ping') return { kind: 'ping' };
  if (!TRANSACTION_TYPES.has(type)) return { kind: 'ignored', type: type.slice(0, 40) };
  const data = message.data;
  const raw = isObject(data) ? data.txid : undefined;
  const txid = typeof raw === 'string' ? parseTxid(raw) : null;
  if (txid === null) return { kind: 'invalid', reason: `a ${type} notification without a valid data.txid` };
  const id = message.notification_id;
  return {
    kind: 'transaction',
    txid,
    notificationId: typeof id === 'string' ? id.slice(0, 100) : null,
    attempt: count(message.delivery_attempt),
    confirmations: count((data as Record<string, unknown>).confirmations),
  };
}

function count(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** block.io's `error_message`, shortened and quoted: it is text from the network. */
function failureReason(data: unknown): string {
  const message = isObject(data) ? data.error_message : undefined;
  return typeof message === 'string' ? preview(message, 200) : 'no error_message';
}
