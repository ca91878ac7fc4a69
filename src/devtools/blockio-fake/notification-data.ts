/**
 * The body of a block.io transaction notification (webhook and WebSocket alike), as block.io's
 * notification documentation describes it. Amounts are decimal text with 8 decimals.
 */

/** What one notification says about a transaction of the account. */
export interface FakeTransaction {
  readonly txid: string;
  readonly network: string;
  readonly address?: string;
  /** Decimal text, e.g. "0.00070000". */
  readonly amountReceived?: string;
  readonly amountSent?: string;
  readonly confirmations?: number;
}

/** `data` of a notification of type `account` or `address`. */
export function notificationData(tx: FakeTransaction): Record<string, unknown> {
  const received = tx.amountReceived ?? '0.00000000';
  const sent = tx.amountSent ?? '0.00000000';
  return {
    network: tx.network,
    address: tx.address ?? null,
    balance_change: subtractDecimal8(received, sent),
    amount_sent: sent,
    amount_received: received,
    txid: tx.txid,
    confirmations: tx.confirmations ?? 0,
    is_green: false,
  };
}

/** a − b for non-negative decimal text with up to 8 decimals, as 8-decimal text (no floating point). */
function subtractDecimal8(a: string, b: string): string {
  const units = (text: string): bigint => {
    const [whole, fraction = ''] = text.split('.');
    return BigInt(whole!) * 100_000_000n + BigInt(fraction.padEnd(8, '0').slice(0, 8));
  };
  const difference = units(a) - units(b);
  const magnitude = difference < 0n ? -difference : difference;
  const text = `${magnitude / 100_000_000n}.${(magnitude % 100_000_000n).toString().padStart(8, '0')}`;
  return difference < 0n ? `-${text}` : text;
}
