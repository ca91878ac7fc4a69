/**
 * An `RpcTransport` that counts what goes to the node — HTTP requests and the calls inside them —
 * and keeps the requests since the last `reset`, so that a baseline can send exactly them again.
 */
import type { CallOptions, RpcRequest, RpcResult, RpcTransport } from '../../src/backends/bitcoind/rpc-client.js';

export class CountingRpc implements RpcTransport {
  /** HTTP round trips (a batch is one). */
  requests = 0;
  /** Method calls (each item of a batch counts). */
  calls = 0;
  readonly byMethod = new Map<string, number>();
  /** The requests since the last reset, in order (a batch is one entry). */
  readonly sent: (readonly RpcRequest[])[] = [];

  constructor(private readonly inner: RpcTransport) {}

  get endpoint(): string {
    return this.inner.endpoint;
  }

  reset(): void {
    this.requests = 0;
    this.calls = 0;
    this.byMethod.clear();
    this.sent.length = 0;
  }

  call(method: string, params?: readonly unknown[], options?: CallOptions): Promise<unknown> {
    this.requests++;
    this.count(method);
    this.sent.push([{ method, params: params ?? [] }]);
    return this.inner.call(method, params, options);
  }

  batch(requests: readonly RpcRequest[], options?: CallOptions): Promise<RpcResult[]> {
    this.requests++;
    for (const request of requests) this.count(request.method);
    this.sent.push([...requests]);
    return this.inner.batch(requests, options);
  }

  /** e.g. `getblockcount×1 listsinceblock×1` */
  summary(): string {
    return [...this.byMethod].map(([method, n]) => `${method}×${n}`).join(' ');
  }

  private count(method: string): void {
    this.calls++;
    this.byMethod.set(method, (this.byMethod.get(method) ?? 0) + 1);
  }
}
