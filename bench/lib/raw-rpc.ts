/**
 * A bare JSON-RPC client on `fetch`, for baselines: what the node itself costs, with none of our
 * client's code (no lossless number parsing, no retries, no error classification).
 */

export interface RawRpcOptions {
  readonly url: string;
  readonly username: string;
  readonly password: string;
  readonly wallet?: string;
}

interface Answer {
  readonly id: number;
  readonly result?: unknown;
  readonly error?: { readonly message?: string } | null;
}

export class RawRpc {
  private readonly endpoint: string;
  private readonly authorization: string;

  constructor(options: RawRpcOptions) {
    const base = options.url.replace(/\/+$/, '');
    this.endpoint = options.wallet === undefined ? `${base}/` : `${base}/wallet/${encodeURIComponent(options.wallet)}`;
    this.authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
  }

  async call(method: string, params: unknown[] = []): Promise<unknown> {
    const answer = (await this.post({ jsonrpc: '1.0', id: 0, method, params })) as Answer;
    if (answer.error) throw new Error(`${method}: ${answer.error.message ?? 'error'}`);
    return answer.result;
  }

  /** Many calls in one HTTP request; throws if any item failed. */
  async batch(calls: readonly { readonly method: string; readonly params?: unknown[] }[]): Promise<unknown[]> {
    const answers = (await this.post(calls.map((c, id) => ({ jsonrpc: '1.0', id, method: c.method, params: c.params ?? [] })))) as Answer[];
    const results: unknown[] = new Array(calls.length);
    for (const answer of answers) {
      if (answer.error) throw new Error(`${calls[answer.id]?.method}: ${answer.error.message ?? 'error'}`);
      results[answer.id] = answer.result;
    }
    return results;
  }

  private async post(payload: unknown): Promise<unknown> {
    const response = await fetch(this.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: this.authorization },
      body: JSON.stringify(payload),
    });
    const text = await response.text();
    // The node answers RPC errors as HTTP 500 (404 for an unknown method) with a JSON body.
    if (!response.ok && response.status !== 500 && response.status !== 404)
      throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`);
    return JSON.parse(text);
  }
}
